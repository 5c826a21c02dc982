package node

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// TestFullDiskStopsTheNode: a node whose store fails with ENOSPC answers
// writes with ErrStoreFailed, reports failed, stops beating (its peer
// suspends it instead of sending it data it would drop), and loses no
// write it acknowledged before.
func TestFullDiskStopsTheNode(t *testing.T) {
	disk := &diskModel{}
	st := disk.open()
	cfg := fastConfig("full")
	cfg.Port = 0
	a := startNode(t, cfg, WithStore(st))
	cfg = fastConfig("peer")
	cfg.Port = 0
	cfg.Seeds = []string{a.Addr()}
	b := startNode(t, cfg)
	acked, err := a.Set(context.Background(), "before", []byte("kept"))
	if err != nil {
		t.Fatal(err)
	}
	nodes := []*Node{a, b}
	eventually(t, 10*time.Second, func() error { return converged(nodes, a.ID(), "before", acked) })

	st.mu.Lock()
	st.fail = fmt.Errorf("badger: write: %w", syscall.ENOSPC)
	st.mu.Unlock()
	if _, err := a.Set(context.Background(), "after", []byte("refused")); !errors.Is(err, ErrStoreFailed) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a write on a full disk returned %v, want ErrStoreFailed wrapping ENOSPC", err)
	}
	if s := a.Status(); s.Failed == "" {
		t.Fatal("status does not report the failed store")
	}
	eventually(t, 10*time.Second, func() error {
		if p, ok := peerOf(b, a.ID()); !ok || p.State == StateAlive {
			return fmt.Errorf("%s still holds the failed node %v", b.ID(), p.State)
		}
		return nil
	})
	if !disk.holds(a.ID()) || !st.durable(a.ID(), "before", acked) {
		t.Fatal("a write acknowledged before the disk filled is not durable")
	}
}

// TestDiskReserveRefusesData: below min_free_disk a node refuses local
// writes with ErrDiskFull and takes none of its peers' data, while it
// keeps gossiping: its peers still hold it alive, and it them.
func TestDiskReserveRefusesData(t *testing.T) {
	cfg := fastConfig("tight")
	cfg.Port = 0
	cfg.InMemory, cfg.DataDir = false, t.TempDir()
	cfg.MinFreeDisk = 1 << 60 // more than any disk has
	a := startNode(t, cfg)
	cfg = fastConfig("roomy")
	cfg.Port = 0
	cfg.Seeds = []string{a.Addr()}
	b := startNode(t, cfg)
	if _, err := a.Set(context.Background(), "k", []byte("v")); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("a write below the reserve returned %v, want ErrDiskFull", err)
	}
	if _, err := b.Set(context.Background(), "theirs", []byte("v")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		pa, okA := peerOf(b, a.ID())
		pb, okB := peerOf(a, b.ID())
		if !okA || !okB || pa.State != StateAlive || pb.State != StateAlive {
			return fmt.Errorf("not alive to each other: %v %v", pa.State, pb.State)
		}
		return nil
	})
	// Twenty more messages from b: exchanges enough to have brought the
	// write, had a taken it.
	seen := a.Status().Stats.MessagesIn
	eventually(t, 10*time.Second, func() error {
		if got := a.Status().Stats.MessagesIn; got < seen+20 {
			return fmt.Errorf("%d messages since", got-seen)
		}
		return nil
	})
	if _, err := a.Get(context.Background(), b.ID(), "theirs"); err == nil {
		t.Fatal("a took a peer's data below its disk reserve")
	}
}
