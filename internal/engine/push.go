package engine

import (
	"math/bits"
	"slices"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Eager push (docs/design.md, "Eager push"): a committed write goes at
// once to PushFanout live peers, each of which persists it, commits it
// and passes it on with one hop less, but only if it was news to it. The
// rounds' digests stay the repair for whatever a push misses.

// DefaultPushRate is the push's token bucket refill, in records per
// second, when Config.PushRate is 0.
const DefaultPushRate = 512

// PushStats counts what the eager push did.
type PushStats struct {
	Sent      uint64 // pushes sent (one per target)
	Records   uint64 // records in them
	Started   uint64 // batches pushed as their origin or first holder
	Forwarded uint64 // received pushes passed on
	// Throttled counts batches left to rounds because the token bucket was
	// empty; TooLarge those whose deltas did not fit one datagram.
	Throttled uint64
	TooLarge  uint64
	// Probes counts the probes sent after pushes (probe.go).
	Probes uint64
}

// PushStats returns the push counters.
func (e *Engine) PushStats() PushStats { return e.pushStats }

// hopLimit is how many times a write is passed on at most: log2 of the
// cluster, the depth at which a push of fanout 2 or more has reached
// everyone, plus 2 for the peers that picked targets already reached.
func (e *Engine) hopLimit() uint8 {
	return uint8(min(bits.Len(uint(len(e.ts.live)+1))+2, 255))
}

// notePush marks rd for pushing with hops hops left once its batch is
// committed; the hops of a received push are capped by this node's own
// limit, so that a sender cannot make a push travel for ever.
func (e *Engine) notePush(rd *Ready, hops uint8, from string, now time.Time) {
	if e.cfg.PushFanout <= 0 || rd.Batch.Empty() {
		return
	}
	rd.pushHops, rd.pushFrom, rd.now = min(hops, e.hopLimit()), from, now
}

// take spends the push's tokens for n records, refilled at PushRate with
// a burst of one second's worth; time comes from the inputs, so that the
// simulator replays it.
func (e *Engine) take(n int, now time.Time) bool {
	rate := float64(e.cfg.PushRate)
	if e.pushAt.IsZero() {
		e.pushTokens = rate
	} else if dt := now.Sub(e.pushAt).Seconds(); dt > 0 {
		e.pushTokens = min(rate, e.pushTokens+dt*rate)
	}
	if now.After(e.pushAt) {
		e.pushAt = now
	}
	if e.pushTokens < float64(n) {
		return false
	}
	e.pushTokens -= float64(n)
	return true
}

// push adds to rd.Send the push of ds, already committed, to PushFanout
// live peers other than the one it came from and the nodes it is about.
func (e *Engine) push(rd *Ready, ds []lsync.NodeDelta) {
	if len(ds) == 0 || e.leaving {
		return
	}
	if rd.pushFrom == "" {
		e.keepOwn(ds, rd.now)
	}
	m, _ := e.state.MakePush(rd.pushHops, ds)
	if m == nil {
		e.pushStats.TooLarge++
		return
	}
	recs := 0
	for i := range m.Deltas {
		recs += len(m.Deltas[i].Records)
	}
	if !e.take(recs, rd.now) {
		e.pushStats.Throttled++
		return
	}
	skip := func(addr string) bool {
		if addr == rd.pushFrom || addr == e.cfg.Self.Addr {
			return true
		}
		for i := range m.Deltas {
			if v, ok := e.state.View(m.Deltas[i].ID); ok && v.Addr == addr {
				return true
			}
		}
		return false
	}
	var to []string
	if rd.pushFrom == "" && rd.pushHops == 1 {
		to = e.nextInTurn(e.streamFanout(), skip)
	} else {
		to = e.pickLive(e.cfg.PushFanout, skip)
	}
	if len(to) == 0 {
		return
	}
	if rd.pushFrom == "" {
		e.pushStats.Started++
	} else {
		e.pushStats.Forwarded++
	}
	own := -1
	if rd.pushFrom == "" && rd.pushHops == 1 {
		// Only a steady writer's pushes are widened: a write after a
		// pause goes as it is, so that no push of it is cut to older
		// records, and its relays pass on the write itself.
		own = slices.IndexFunc(m.Deltas, func(d lsync.NodeDelta) bool { return d.ID == e.cfg.Self.ID })
	}
	for _, addr := range to {
		msg := m
		if own >= 0 {
			var upTo uint64
			msg, upTo = e.widen(m, own, addr)
			e.own.note(addr, upTo)
		}
		rd.Send = append(rd.Send, Outgoing{To: addr, Msg: msg})
		for i := range msg.Deltas {
			e.pushStats.Records += uint64(len(msg.Deltas[i].Records))
		}
	}
	e.armProbe(rd)
	e.pushStats.Sent += uint64(len(to))
}

// pickLive draws up to n distinct live peers' addresses not skipped,
// without copying the live list: a push is made per committed batch.
func (e *Engine) pickLive(n int, skip func(string) bool) []string {
	live := e.ts.live
	var out []string
	for tries := 0; len(out) < n && tries < 4*n+8; tries++ {
		if len(live) == 0 {
			break
		}
		a := live[e.rng.Intn(len(live))]
		if skip(a) || slices.Contains(out, a) {
			continue
		}
		out = append(out, a)
	}
	return out
}
