package node

import (
	"sync/atomic"
	"time"

	"github.com/leviathan-gossip/leviathan/internal/engine"
	lsync "github.com/leviathan-gossip/leviathan/sync"
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

// meet brings the snapshot up to date, with n.mu held by the caller, when
// a step answers a member list to an address the snapshot lacks. The
// joiner that asked became known in that step and its answer goes out at
// once, before a rebuild on a miss could happen (one per
// streamGuardMissEvery, and only while n.mu is free): at a cold start a
// seed would refuse the lists of the joiners that asked within one such
// window, and they would wait a round to ask again. Answering a request
// costs a pass over the members anyway, so a flood of forged requests
// costs no more than it did.
func (g *streamGuard) meet(out []engine.Outgoing) {
	if g == nil {
		return
	}
	s := g.snap.Load()
	for _, o := range out {
		if m, ok := o.Msg.(*lsync.Members); !ok || m.Request || len(m.Members) < 2 {
			continue // not a member list (a hello is one datagram)
		}
		if s != nil {
			if _, ok := s.set[o.To]; ok {
				continue
			}
		}
		g.rebuild()
		return
	}
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
	return g.store(seeds, peers)
}

// rebuild is refresh with n.mu held by the caller.
func (g *streamGuard) rebuild() {
	if n := g.n; n.eng != nil {
		g.store(n.eng.Seeds(), n.eng.Addresses())
	}
}

// store makes and keeps a snapshot of the addresses.
func (g *streamGuard) store(seeds, peers []string) *streamAddrs {
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
