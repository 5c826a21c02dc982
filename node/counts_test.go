package node

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// peerKeys is the number of keys n shows for the peer with id.
func peerKeys(n *Node, id string) (int, bool) {
	for _, p := range n.Peers() {
		if p.ID == id {
			return p.Keys, true
		}
	}
	return 0, false
}

// TestReceiverCountsOverwritesOnce: a key overwritten in separate
// exchanges counts once on the receiver, and still once as soon as the
// receiver is back from a restart, without reading its records again.
func TestReceiverCountsOverwritesOnce(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	nodes := udpCluster(t, 2, dirs)
	a, b := nodes[0], nodes[1]
	for i := 0; i < 3; i++ {
		v, err := a.Set(context.Background(), "k", []byte(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, func() error { return converged(nodes, a.ID(), "k", v) })
	}
	if keys, _ := peerKeys(b, a.ID()); keys != 1 {
		t.Fatalf("b counts %d keys of a, want 1", keys)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig("u1")
	cfg.Port, cfg.Seeds = 0, []string{a.Addr()}
	cfg.InMemory, cfg.DataDir = false, dirs[1]
	b = startNode(t, cfg)
	if keys, ok := peerKeys(b, a.ID()); !ok || keys != 1 {
		t.Fatalf("restarted b counts %d keys of a (known %v), want 1", keys, ok)
	}
}
