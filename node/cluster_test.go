package node

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/leviathan-gossip/leviathan/sync/transport"
)

// fastConfig makes a node gossip, beat and check every few milliseconds,
// so that tests converge quickly without sleeping.
func fastConfig(alias string) Config {
	return Config{
		Alias:              alias,
		Cluster:            "test",
		Addr:               "127.0.0.1",
		InMemory:           true,
		GossipVal:          20 * time.Millisecond,
		HeartbeatVal:       20 * time.Millisecond,
		HealthCheckVal:     20 * time.Millisecond,
		PhiInitialInterval: 50 * time.Millisecond,
		PhiMaxInterval:     time.Second,
		// Generous, so that a stalled -race run does not suspend a live peer.
		PhiThreshold: 20,
		DeadAfter:    5 * time.Second,
	}
}

// eventually polls cond until it returns nil or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		<-tick.C
	}
}

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

func startNode(t *testing.T, cfg Config, opts ...Option) *Node {
	t.Helper()
	n, err := New(cfg, append([]Option{WithLogger(testLogger(t))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// converged reports whether every node holds key of owner at version.
func converged(nodes []*Node, owner, key string, version uint64) error {
	for _, n := range nodes {
		if e, err := n.Get(context.Background(), owner, key); err != nil || e.Version != version {
			return fmt.Errorf("%s has %s/%s at version %d (%v), want %d", n.ID(), owner, key, e.Version, err, version)
		}
	}
	return nil
}

func TestMemClusterConverges(t *testing.T) {
	net := transport.NewMemNetwork(1)
	var nodes []*Node
	for i := 1; i <= 4; i++ {
		tr, err := net.Listen(fmt.Sprintf("mem-%d:1", i), 1400, 4<<20)
		if err != nil {
			t.Fatal(err)
		}
		cfg := fastConfig(fmt.Sprintf("n%d", i))
		cfg.Seeds = []string{"mem-1:1"}
		nodes = append(nodes, startNode(t, cfg, WithTransport(tr), WithRandSeed(int64(i))))
	}
	for i, n := range nodes {
		if _, err := n.Set(context.Background(), "k", []byte(fmt.Sprint("from ", i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, owner := range nodes {
		eventually(t, 10*time.Second, func() error { return converged(nodes, owner.ID(), "k", 1) })
	}
	if e, _ := nodes[3].Get(context.Background(), "n1", "k"); string(e.Value) != "from 0" {
		t.Fatalf("n4 sees n1/k = %q", e.Value)
	}
	eventually(t, 10*time.Second, func() error {
		for _, n := range nodes {
			if live := len(n.LivePeers()); live != 3 {
				return fmt.Errorf("%s sees %d live peers", n.ID(), live)
			}
		}
		return nil
	})
}

// TestDeleteReplicatesAndIsCollected: a delete reaches peers as a delete
// event, and once collected the tombstone is gone everywhere.
func TestDeleteReplicatesAndIsCollected(t *testing.T) {
	nodes := memCluster(t, 2, nil, func(c *Config) {
		c.TombstoneGrace = 50 * time.Millisecond
		c.ReduceVal = 20 * time.Millisecond
	})
	sub := nodes[1].Subscribe(256)
	defer sub.Close()
	v, _ := nodes[0].Set(context.Background(), "k", []byte("v"))
	eventually(t, 10*time.Second, func() error { return converged(nodes, "m0", "k", v) })
	if _, err := nodes[0].Delete(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for deleted := false; !deleted; {
		select {
		case ev := <-sub.C:
			deleted = ev.Type == EventDelete && len(ev.Deltas) == 1 && ev.Deltas[0].Key == "k" && ev.Deltas[0].Deleted
		case <-deadline:
			t.Fatal("no delete event")
		}
	}
	if _, err := nodes[1].Get(context.Background(), "m0", "k"); !errors.Is(err, ErrNotFound) {
		t.Fatal("deleted key still readable on the peer")
	}
	eventually(t, 10*time.Second, func() error {
		for _, n := range nodes {
			n.mu.Lock()
			_, held := n.eng.Get("m0", "k")
			n.mu.Unlock()
			if held {
				return fmt.Errorf("%s still holds the tombstone", n.ID())
			}
		}
		return nil
	})
}

// TestDeadPeerRemoved: a peer dead for longer than dead_grace is removed
// with its data and announced.
func TestDeadPeerRemoved(t *testing.T) {
	nodes := memCluster(t, 2, nil, func(c *Config) {
		c.DeadAfter = 100 * time.Millisecond
		c.DeadGrace = 100 * time.Millisecond
		c.SkipLeave = true
	})
	sub := nodes[0].Subscribe(256)
	defer sub.Close()
	v, _ := nodes[1].Set(context.Background(), "k", []byte("v"))
	eventually(t, 10*time.Second, func() error { return converged(nodes, "m1", "k", v) })
	nodes[1].Close()
	waitEvent(t, sub, EventRemove, "m1")
	if _, err := nodes[0].Keys(context.Background(), "m1"); len(nodes[0].Peers()) != 0 || !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("removed peer still known: %+v, keys: %v", nodes[0].Peers(), err)
	}
}
