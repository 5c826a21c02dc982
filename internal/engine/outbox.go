package engine

import (
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Pushes wait a moment in an outbox, one push per target, before they
// are sent. A node busy with writes commits a batch every few
// milliseconds, often of one record; pushed one by one, every hop of the
// tree costs a datagram and, at the receiver, a store write per record,
// and a cluster of busy writers spends its time on those. Batches that
// commit within pushDelay of each other travel as one push (their deltas
// of one node merged), up to a datagram; a push that is full goes at
// once. The delay adds a few milliseconds a hop, against a round of
// about a second that a push saves.

// pushDelay is how long the first push queued for a target waits for
// others, in gossip intervals: 5 ms at 1 s rounds.
const pushDelay = 200 // 1/200 of the interval

// outbox holds the pushes waiting, by target; the targets are the eager
// peers, so it holds at most treeMax pushes, each within a datagram.
type outbox struct {
	by    map[string]*lsync.Push
	order []string // targets in the order first queued, sent in that order
	due   time.Time
}

// queuePush adds m to what waits for addr. What does not fit with it is
// sent now, and m waits in its place.
func (e *Engine) queuePush(rd *Ready, addr string, m *lsync.Push) {
	o := &e.out
	if q := o.by[addr]; q != nil {
		if joined, ok := e.state.JoinPush(q, m.Hops, m.Deltas); ok {
			o.by[addr] = joined
			return
		}
		rd.Send = append(rd.Send, Outgoing{To: addr, Msg: q})
		o.by[addr] = m
		return
	}
	if o.by == nil {
		o.by = make(map[string]*lsync.Push)
	}
	o.by[addr] = m
	o.order = append(o.order, addr)
	if o.due.IsZero() {
		o.due = rd.now.Add(e.cfg.Gossip / pushDelay)
	}
}

// flushPushes sends what waits in the outbox once it is due.
func (e *Engine) flushPushes(now time.Time, rd *Ready) {
	o := &e.out
	if o.due.IsZero() || now.Before(o.due) {
		return
	}
	for _, addr := range o.order {
		rd.Send = append(rd.Send, Outgoing{To: addr, Msg: o.by[addr]})
		delete(o.by, addr)
	}
	o.order, o.due = o.order[:0], time.Time{}
}

// wakeAt is when the driver should next call Probe: the outbox's due
// time or the pending probe's, whichever comes first (zero: neither).
func (e *Engine) wakeAt() time.Time {
	switch {
	case e.out.due.IsZero():
		return e.probeAt
	case e.probeAt.IsZero() || e.out.due.Before(e.probeAt):
		return e.out.due
	}
	return e.probeAt
}
