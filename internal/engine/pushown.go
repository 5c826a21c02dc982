package engine

import (
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// A node that writes steadily pushes each batch to PushFanout random
// peers. A peer it picks has usually missed some of the batches before
// (pushed to others), and a push that starts above the receiver's
// watermark cannot be applied: it waits for an exchange. So the node keeps
// its latest records (ownRecent), and what it last pushed to each peer;
// its push to a peer carries every record since that peer's last push,
// and the peer applies it. Each peer is picked every (peers/PushFanout)
// batches on average, so every peer gets every write straight from its
// writer within a few batches, once, without relays: a steady writer's
// pushes are not passed on (streaming, below), which saves the relays'
// duplicates. A write after a pause is passed on as before, since no
// later batch would bring it to the peers its push missed.

// ownRecent keeps this node's latest pushed records, and the last own
// version pushed to each peer.
type ownRecent struct {
	recs  []lsync.Record // ascending versions: every record in (floor, last]
	bytes int
	floor uint64
	gc    uint64            // the horizon the records were pushed under
	sent  map[string]uint64 // peer address -> own version last pushed to it
	last  time.Time         // the last own push
	gap   time.Duration     // the time between the last two own pushes
}

const (
	// ownRecentRecords and ownRecentBytes bound the records kept: a peer
	// not picked for longer gets a plain push, and the rounds.
	ownRecentRecords = 4096
	ownRecentBytes   = 1 << 20
	// ownSentPeers bounds the peers whose last push is remembered.
	ownSentPeers = 4096
)

// keepOwn keeps this node's records among ds, a batch of its own writes
// about to be pushed (or throttled: the next push then carries them), and
// the pace of its pushes.
func (e *Engine) keepOwn(ds []lsync.NodeDelta, now time.Time) {
	for i := range ds {
		if ds[i].ID == e.cfg.Self.ID {
			e.own.keep(&ds[i])
		}
	}
	if !e.own.last.IsZero() {
		e.own.gap = now.Sub(e.own.last)
	}
	e.own.last = now
}

// keep adds the records of d, this node's delta just pushed. A delta that
// does not continue what is kept (a batch that was not pushed came
// between, or tombstones were collected) starts it over.
func (o *ownRecent) keep(d *lsync.NodeDelta) {
	if d.GCVersion != o.gc || d.From != o.top() {
		o.recs, o.bytes, o.floor, o.gc = o.recs[:0], 0, d.From, d.GCVersion
	}
	for i := range d.Records {
		o.recs = append(o.recs, d.Records[i])
		o.bytes += recordCost(&d.Records[i])
	}
	drop := 0
	for drop < len(o.recs) && (len(o.recs)-drop > ownRecentRecords || o.bytes > ownRecentBytes) {
		o.bytes -= recordCost(&o.recs[drop])
		o.floor = o.recs[drop].Version
		drop++
	}
	if drop > 0 {
		o.recs = append(o.recs[:0], o.recs[drop:]...)
	}
}

func recordCost(r *lsync.Record) int { return len(r.Key) + len(r.Value) + 16 }

// top is the highest version kept (floor when none).
func (o *ownRecent) top() uint64 {
	if len(o.recs) == 0 {
		return o.floor
	}
	return o.recs[len(o.recs)-1].Version
}

// since returns d widened to start at from, the last own version pushed
// to a peer, if the records kept reach back to it.
func (o *ownRecent) since(from uint64, d *lsync.NodeDelta) (lsync.NodeDelta, bool) {
	if from >= d.From || from < o.floor || d.To != o.top() {
		return lsync.NodeDelta{}, false
	}
	i := 0
	for i < len(o.recs) && o.recs[i].Version <= from {
		i++
	}
	out := *d
	out.From = from
	out.Records = lsync.LastPerKey(o.recs[i:])
	return out, true
}

// note remembers that to got own records up to v.
func (o *ownRecent) note(to string, v uint64) {
	if o.sent == nil {
		o.sent = make(map[string]uint64)
	}
	if _, ok := o.sent[to]; ok || len(o.sent) < ownSentPeers {
		o.sent[to] = v
	}
}

// forget drops what was pushed to a peer's address (it left or moved).
func (o *ownRecent) forget(addr string) { delete(o.sent, addr) }

// streaming reports whether this node writes so steadily that its next
// pushes reach every live peer soon (within a quarter round, at the pace
// of its last two): then a push need not be passed on.
func (e *Engine) streaming(now time.Time) bool {
	o := &e.own
	if o.last.IsZero() || e.cfg.PushFanout <= 0 {
		return false
	}
	gap := now.Sub(o.last)
	if o.gap > gap {
		gap = o.gap
	}
	picks := (len(e.ts.live) + e.cfg.PushFanout - 1) / e.cfg.PushFanout
	return gap*time.Duration(max(picks, 1)) <= e.cfg.Gossip/4
}

// widen returns the push for addr: m with this node's delta (at own in
// m.Deltas) starting at what addr last got from it, cut to what fits one
// datagram; and the own version addr has once it arrives.
func (e *Engine) widen(m *lsync.Push, own int, addr string) (*lsync.Push, uint64) {
	d := &m.Deltas[own]
	from, ok := e.own.sent[addr]
	if !ok {
		return m, d.To
	}
	nd, ok := e.own.since(from, d)
	if !ok {
		return m, d.To
	}
	ds := append([]lsync.NodeDelta(nil), m.Deltas...)
	for k := len(nd.Records); k > 0; k /= 2 {
		cut := nd
		cut.Records = nd.Records[:k]
		if k < len(nd.Records) {
			cut.To = nd.Records[k-1].Version
		}
		ds[own] = cut
		if w, _ := e.state.MakePush(m.Hops, ds); w != nil && len(w.Deltas) == len(ds) {
			return w, cut.To
		}
	}
	return m, d.To
}
