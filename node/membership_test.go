package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/sync/transport"
)

// TestJoinAtRunTime: a node started without seeds joins a running
// cluster through Join; a malformed seed is reported, the good one used.
func TestJoinAtRunTime(t *testing.T) {
	network := transport.NewMemNetwork(1)
	listen := func(addr string) transport.Transport {
		tr, err := network.Listen(addr, 1400, 4<<20)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	a := startNode(t, fastConfig("a"), WithTransport(listen("a:1")))
	b := startNode(t, fastConfig("b"), WithTransport(listen("b:1")))
	// Alone, b never finds a.
	if got := len(b.Peers()); got != 0 {
		t.Fatalf("b knows %d peers before joining", got)
	}
	err := b.Join(context.Background(), "a:1", "no-port")
	if err == nil || !strings.Contains(err.Error(), `"no-port"`) {
		t.Fatalf("Join error %v, want one naming the malformed seed", err)
	}
	eventually(t, 10*time.Second, func() error {
		if len(a.LivePeers()) != 1 || len(b.LivePeers()) != 1 {
			return fmt.Errorf("a sees %d live, b %d", len(a.LivePeers()), len(b.LivePeers()))
		}
		return nil
	})
}

// TestLeaveWithoutClosing: after Leave, peers show the node left (and keep
// it so, not suspended), while it still answers reads; writes and Join are
// refused with ErrLeft.
func TestLeaveWithoutClosing(t *testing.T) {
	nodes := memCluster(t, 3, nil)
	if _, err := nodes[2].Set(context.Background(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		for _, n := range nodes {
			if len(n.LivePeers()) != 2 {
				return fmt.Errorf("%s sees %d live", n.ID(), len(n.LivePeers()))
			}
		}
		if _, err := nodes[0].Get(context.Background(), "m2", "k"); err != nil {
			return fmt.Errorf("m2/k not at m0 yet")
		}
		return nil
	})
	if err := nodes[2].Leave(); err != nil {
		t.Fatal(err)
	}
	stateAt := func(n *Node, id string) PeerState {
		for _, p := range n.Peers() {
			if p.ID == id {
				return p.State
			}
		}
		return ""
	}
	eventually(t, 10*time.Second, func() error {
		for _, n := range nodes[:2] {
			if st := stateAt(n, "m2"); st != StateLeft {
				return fmt.Errorf("%s shows m2 %s", n.ID(), st)
			}
		}
		return nil
	})
	// Well past the suspicion threshold (about 20 heartbeat intervals of
	// 20 ms): still left, never suspended or back.
	rounds := nodes[0].Status().Stats.Rounds
	eventually(t, 10*time.Second, func() error {
		if r := nodes[0].Status().Stats.Rounds; r < rounds+50 {
			return fmt.Errorf("%d rounds since the leave", r-rounds)
		}
		return nil
	})
	for _, n := range nodes[:2] {
		if st := stateAt(n, "m2"); st != StateLeft {
			t.Errorf("%s shows m2 %s 50 rounds after its leave", n.ID(), st)
		}
	}
	if e, err := nodes[2].Get(context.Background(), "", "k"); err != nil || string(e.Value) != "v" {
		t.Errorf("read after Leave: %q, %v", e.Value, err)
	}
	if _, err := nodes[2].Set(context.Background(), "k2", []byte("v")); !errors.Is(err, ErrLeft) {
		t.Errorf("Set after Leave: %v, want ErrLeft", err)
	}
	if err := nodes[2].Join(context.Background(), "mem-0:1"); !errors.Is(err, ErrLeft) {
		t.Errorf("Join after Leave: %v, want ErrLeft", err)
	}
	if err := nodes[2].Leave(); err != nil {
		t.Errorf("second Leave: %v", err)
	}
}
