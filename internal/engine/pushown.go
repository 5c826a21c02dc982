package engine

import (
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// A node that writes steadily would push each batch to PushFanout random
// peers, and nearly every peer it picked would have missed the batches
// before (pushed to others): the push would start above its watermark and
// wait, as a gap, for an exchange. So the node keeps its latest records
// (ownRecent) and, per peer, the last own version it pushed there; it
// pushes each batch to the next few live peers in turn (every peer every
// 1/streamEvery of a round), each push starting where that peer's last one
// ended. Every push applies, and each peer gets each write once, straight
// from its writer: such pushes go one hop, as relays would only add
// duplicates, and its probe waits for the writes to pause (probe.go). A
// peer's own digest saying it holds less than was pushed to it (a push
// lost or dropped) moves its start back. A write after a pause is pushed
// and passed on as any other: no later push of its writer would reach the
// peers it missed.

// ownRecent keeps this node's latest pushed records, and the last own
// version pushed to each peer.
type ownRecent struct {
	recs  []lsync.Record // ascending versions: every record in (floor, last]
	bytes int
	floor uint64
	gc    uint64            // the horizon the records were pushed under
	sent  map[string]uint64 // peer address -> own version last pushed to it
	claim map[string]uint64 // peer address -> own version it last said it holds
	last  time.Time         // the last own push
	gap   time.Duration     // the time between the last two own pushes
	turn  int               // where nextInTurn goes on in the live list
	// batch and size are the records of the last own batch and their
	// mean cost in bytes: how much each push adds per peer not sent to.
	batch, size int
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
			e.own.batch, e.own.size = len(ds[i].Records), 0
			for j := range ds[i].Records {
				e.own.size += recordCost(&ds[i].Records[j])
			}
			e.own.size /= max(1, e.own.batch)
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
		clear(o.sent) // what peers hold of the records before is not known
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

// heard takes a peer's own word (its digest) that it holds this node's
// records up to v: below what was pushed to it, a push was lost or
// dropped, and the next one starts from what it holds. A claim of records
// still on their way makes one push carry them again; a false one, at
// most one datagram more to its maker.
func (o *ownRecent) heard(addr string, v uint64) {
	if o.claim == nil {
		o.claim = make(map[string]uint64)
	}
	if _, ok := o.claim[addr]; ok || len(o.claim) < ownSentPeers {
		o.claim[addr] = v
	}
	if sent, ok := o.sent[addr]; ok && v < sent {
		o.sent[addr] = v
	}
}

// start is where a push to addr starts: after what was last pushed to it;
// if nothing was since the records kept began, after what it last said it
// holds, if that is among them; else where they begin — the writer's
// watermark when its writes resumed, which its earlier writes had time to
// reach everywhere.
func (o *ownRecent) start(addr string) uint64 {
	if v, ok := o.sent[addr]; ok {
		return v
	}
	if v, ok := o.claim[addr]; ok && v >= o.floor {
		return v
	}
	return o.floor
}

// streaming reports whether this node writes steadily: its last push was
// within a quarter round. Then its pushes go to its live peers in turn,
// as many per batch as it takes to come round to each within a fortieth
// of a round (all of them, for batches a quarter round apart), so a push
// need not be passed on. The test is on the last gap alone, not on the
// pushes' reach: a node slowed down (its batches further apart, and
// bigger) must not fall back to relays, which cost each receiver about
// PushFanout copies, when it can least afford them.
func (e *Engine) streaming(now time.Time) bool {
	o := &e.own
	if o.last.IsZero() || e.cfg.PushFanout <= 0 {
		return false
	}
	return now.Sub(o.last) <= e.cfg.Gossip/4
}

// widen returns the push for addr: m with this node's delta (at own in
// m.Deltas) starting at what addr last got from it, cut to what fits one
// datagram; and the own version addr has once it arrives.
func (e *Engine) widen(m *lsync.Push, own int, addr string) (*lsync.Push, uint64) {
	d := &m.Deltas[own]
	nd, ok := e.own.since(e.own.start(addr), d)
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

// streamEvery is how often, in gossip intervals, a steady writer's pushes
// reach each live peer: a fortieth of a round (25 ms at 1 s), so that each
// push carries a few records, well within a datagram.
const streamEvery = 40

// streamFanout is how many peers a steady writer pushes each batch to:
// enough that each live peer gets a push every 1/streamEvery of a round
// at the pace of its last batches (up to every live peer). A faster
// writer pushes to fewer peers per batch, each push carrying more
// records, so that a receiver's pushes (and their store batches) do not
// grow with the writers' rates. Each push must also hold what its peer
// missed since its last one within half a datagram: bigger batches
// (writes joined by the group commit) go to more peers.
func (e *Engine) streamFanout() int {
	live := len(e.ts.live)
	k := e.cfg.PushFanout
	if every := e.cfg.Gossip / streamEvery; every > 0 {
		gap := max(e.own.gap, time.Microsecond)
		k = int((time.Duration(live)*gap + every - 1) / every)
	}
	if perPush := e.cfg.PacketBudget / 2 / max(1, e.own.size); perPush > 0 {
		k = max(k, (live*e.own.batch+perPush-1)/perPush)
	}
	return min(max(k, 1), live)
}

// nextInTurn returns the next n live peers not skipped, in turn: each is
// pushed to every len(live)/n batches, none waits longer.
func (e *Engine) nextInTurn(n int, skip func(string) bool) []string {
	live := e.ts.live
	var out []string
	for tries := 0; len(out) < n && tries < len(live); tries++ {
		e.own.turn = (e.own.turn + 1) % len(live)
		if a := live[e.own.turn]; !skip(a) {
			out = append(out, a)
		}
	}
	return out
}
