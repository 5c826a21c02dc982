package node

import (
	"sync/atomic"
	"time"
)

// streamGuard is the transport's AllowStream: messages too large for a
// datagram go only to the cluster's members and seeds. Requests arrive as
// datagrams, whose source address anyone can forge; without it a few
// forged requests could make this node stream megabytes to any host.
//
// The transport asks from Send, and the node sends after releasing n.mu,
// but the guard must never wait on n.mu: a send under it would deadlock.
// So it answers from a snapshot of the addresses, and rebuilds it only
// when it takes n.mu without waiting (TryLock). A member missing from an
// old snapshot (a node that has just joined) costs one refused reply,
// which the next round repeats; a former member kept a little longer
// costs nothing, as it was a member.
type streamGuard struct {
	n    *Node
	snap atomic.Pointer[streamAddrs]
}

type streamAddrs struct {
	set map[string]struct{}
	at  time.Time // monotonic, not the node's Clock: only ages are compared
}

const (
	// streamGuardMaxAge is how long a snapshot is trusted to allow an
	// address; after that a hit also tries to rebuild it.
	streamGuardMaxAge = time.Second
	// streamGuardMissEvery spaces out the rebuilds that unknown addresses
	// cause, so that a flood of forged requests cannot keep n.mu busy.
	streamGuardMissEvery = 10 * time.Millisecond
)

func newStreamGuard(n *Node) *streamGuard { return &streamGuard{n: n} }

func (g *streamGuard) allow(addr string) bool {
	s := g.snap.Load()
	if s != nil {
		_, ok := s.set[addr]
		age := time.Since(s.at)
		if ok && age < streamGuardMaxAge || !ok && age < streamGuardMissEvery {
			return ok
		}
	}
	if fresh := g.refresh(); fresh != nil {
		s = fresh
	}
	if s == nil {
		return false
	}
	_, ok := s.set[addr]
	return ok
}

// refresh rebuilds the snapshot, or returns nil if n.mu is held.
func (g *streamGuard) refresh() *streamAddrs {
	n := g.n
	if !n.mu.TryLock() {
		return nil
	}
	if n.eng == nil { // not loaded yet
		n.mu.Unlock()
		return nil
	}
	seeds, peers := n.eng.Seeds(), n.eng.Addresses()
	n.mu.Unlock()
	s := &streamAddrs{set: make(map[string]struct{}, len(seeds)+len(peers)), at: time.Now()}
	for _, a := range seeds {
		s.set[a] = struct{}{}
	}
	for _, a := range peers {
		s.set[a] = struct{}{}
	}
	g.snap.Store(s)
	return s
}
