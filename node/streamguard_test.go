package node

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/sync/transport"
)

// TestStreamGuard: over UDP/TCP a node streams large messages only to its
// seeds and the members it knows, and the check never waits on n.mu, so
// that a send made while holding it cannot deadlock.
func TestStreamGuard(t *testing.T) {
	a := startNode(t, fastConfig("a"))
	cfg := fastConfig("b")
	cfg.Seeds = []string{a.Addr()}
	b := startNode(t, cfg)
	const stranger = "192.0.2.1:7000"

	// a knows b only through membership, b knows a as its seed.
	eventually(t, 5*time.Second, func() error {
		a.mu.Lock()
		defer a.mu.Unlock()
		if !slices.Contains(a.eng.Addresses(), b.Addr()) {
			return fmt.Errorf("a does not know b yet")
		}
		return nil
	})
	for _, tt := range []struct {
		n    *Node
		addr string
		want bool
	}{
		{b, a.Addr(), true},
		{a, b.Addr(), true},
		{a, stranger, false},
		{b, stranger, false},
	} {
		if got := newStreamGuard(tt.n).allow(tt.addr); got != tt.want {
			t.Errorf("%s: allow(%s) = %v, want %v", tt.n.ID(), tt.addr, got, tt.want)
		}
	}

	big := make([]byte, 10000)
	if err := b.transport.Send(stranger, big); !errors.Is(err, transport.ErrUnknownDestination) {
		t.Errorf("large Send to a stranger: %v, want ErrUnknownDestination", err)
	}
	if err := b.transport.Send(a.Addr(), big); err != nil {
		t.Errorf("large Send to the seed: %v", err)
	}

	g := newStreamGuard(b)
	if !g.allow(a.Addr()) {
		t.Fatal("seed refused")
	}
	done := make(chan [2]bool, 1)
	b.mu.Lock()
	go func() { done <- [2]bool{g.allow(a.Addr()), g.allow("192.0.2.2:7000")} }()
	select {
	case got := <-done:
		if got != [2]bool{true, false} {
			t.Errorf("with n.mu held: allow = %v, want [true false]", got)
		}
	case <-time.After(5 * time.Second):
		t.Error("allow waited on n.mu")
	}
	b.mu.Unlock()
}
