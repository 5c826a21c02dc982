package node

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/store"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// slowStore is an in-memory Badger whose next Apply and next GC, once
// armed, stall for delay first: a disk busy with compaction or a value-log
// collection.
type slowStore struct {
	*store.Badger
	delay      time.Duration
	applyArmed atomic.Bool
	gcArmed    atomic.Bool
	stalled    atomic.Int32 // stalls finished
}

func (s *slowStore) stall(armed *atomic.Bool) {
	if armed.CompareAndSwap(true, false) {
		time.Sleep(s.delay) // the disk is slow; not a wait for convergence
		s.stalled.Add(1)
	}
}

func (s *slowStore) Apply(b *lsync.Batch) error {
	s.stall(&s.applyArmed)
	return s.Badger.Apply(b)
}

func (s *slowStore) GC() error {
	s.stall(&s.gcArmed)
	return s.Badger.GC()
}

// TestSlowStoreDoesNotLookDead stalls one node's store for 3 s in a write
// and 3 s in a garbage collection. Its heartbeats, rounds and reads do not
// wait for the disk and it keeps taking in its peers' heartbeats, so no
// node suspects another, and the write still reaches the peers once
// durable.
func TestSlowStoreDoesNotLookDead(t *testing.T) {
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	slow := &slowStore{Badger: db, delay: 3 * time.Second}
	nodes := memCluster(t, 3, func(i int) []Option {
		if i == 0 {
			return []Option{WithStore(slow)}
		}
		return nil
	}, func(c *Config) { c.ReduceVal = 50 * time.Millisecond })
	eventually(t, 10*time.Second, func() error {
		for _, n := range nodes {
			if live := len(n.LivePeers()); live != 2 {
				return fmt.Errorf("%s sees %d live peers", n.ID(), live)
			}
		}
		return nil
	})
	var subs []*Subscription
	for _, n := range nodes {
		sub := n.Subscribe(1024)
		defer sub.Close()
		subs = append(subs, sub)
	}

	slow.gcArmed.Store(true)
	slow.applyArmed.Store(true)
	wrote := make(chan error, 1)
	var version atomic.Uint64
	go func() {
		v, err := nodes[0].Set(context.Background(), "k", []byte("v"))
		version.Store(v)
		wrote <- err
	}()
	// While the store is stalled, reads on the slow node answer at once.
	eventually(t, 2*time.Second, func() error {
		if slow.applyArmed.Load() {
			return fmt.Errorf("stall not begun")
		}
		return nil
	})
	start := time.Now()
	_ = nodes[0].Status()
	_ = nodes[0].Peers()
	_, _ = nodes[0].Get(context.Background(), "m1", "k")
	if took := time.Since(start); took > time.Second {
		t.Fatalf("reads on the node with a stalled store took %v", took)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if s := slow.stalled.Load(); s != 2 {
			return fmt.Errorf("%d of 2 stalls finished", s)
		}
		return converged(nodes, "m0", "k", version.Load())
	})
	for i, sub := range subs {
		for drained := false; !drained; {
			select {
			case ev := <-sub.C:
				if ev.Type == EventSuspend || ev.Type == EventDead {
					// Peers must not suspect the slow node, nor the slow
					// node its peers: it keeps taking in heartbeats.
					t.Errorf("%s: %v of %v", nodes[i].ID(), ev.Type, ev.Peers)
				}
			default:
				drained = true
			}
		}
	}
	for _, n := range nodes[1:] {
		for _, p := range n.Peers() {
			if p.ID == "m0" && p.State != StateAlive {
				t.Errorf("%s sees the node with the slow store as %s", n.ID(), p.State)
			}
		}
	}
}
