package sim

import "time"

// kind says what an event does when it fires.
type kind uint8

const (
	evGossip  kind = iota + 1 // a node opens a gossip round
	evBeat                    // a node bumps its heartbeat
	evCheck                   // a node runs its failure detector
	evReduce                  // a node collects its old tombstones
	evDeliver                 // a message arrives at a node
	evFunc                    // a scripted action
	evProbe                   // a node runs its engine's pending probe
)

// event is one thing due at a simulated instant. Events are plain values
// rather than closures for the frequent kinds, so that a 1000-node run does
// not allocate one closure per message.
type event struct {
	at   time.Duration
	seq  uint64 // ties broken by scheduling order: determinism
	kind kind
	node int32  // the node it happens at
	from int32  // evDeliver: the sender
	inc  uint32 // node incarnation it was scheduled for; stale after a crash
	data []byte // evDeliver: the encoded message
	fn   func() // evFunc
}

// queue is a binary min-heap of events by (at, seq).
type queue struct {
	ev  []event
	seq uint64
}

func (q *queue) less(i, j int) bool {
	a, b := &q.ev[i], &q.ev[j]
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

func (q *queue) push(e event) {
	q.seq++
	e.seq = q.seq
	q.ev = append(q.ev, e)
	i := len(q.ev) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q.ev[i], q.ev[p] = q.ev[p], q.ev[i]
		i = p
	}
}

func (q *queue) len() int { return len(q.ev) }

// peek is the earliest event; the queue must not be empty.
func (q *queue) peek() *event { return &q.ev[0] }

func (q *queue) pop() event {
	top := q.ev[0]
	last := len(q.ev) - 1
	q.ev[0] = q.ev[last]
	q.ev[last] = event{} // release data and fn for the GC
	q.ev = q.ev[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && q.less(l, m) {
			m = l
		}
		if r < last && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q.ev[i], q.ev[m] = q.ev[m], q.ev[i]
		i = m
	}
	return top
}
