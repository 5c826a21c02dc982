package node

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/transport"
)

// powerLossPair starts a (on a modelled disk) and b on an in-memory
// network, writes ten keys on a and waits until b holds them.
func powerLossPair(t *testing.T) (net *transport.MemNetwork, disk *diskModel, a, b *Node, versions []uint64) {
	t.Helper()
	net = transport.NewMemNetwork(7)
	disk = &diskModel{}
	trA, _ := net.Listen("a:1", 1400, 4<<20)
	trB, _ := net.Listen("b:1", 1400, 4<<20)
	cfgA, cfgB := fastConfig("a"), fastConfig("b")
	cfgA.Seeds, cfgB.Seeds = []string{"b:1"}, []string{"a:1"}
	a = startNode(t, cfgA, WithTransport(trA), WithStore(disk.open()), WithRandSeed(1))
	b = startNode(t, cfgB, WithTransport(trB), WithRandSeed(2))
	// a has persisted b's meta before its own writes, so that the last
	// batches on a's disk are its writes.
	eventually(t, 10*time.Second, func() error {
		if len(a.Peers()) != 1 || len(b.Peers()) != 1 || !disk.holds("b") {
			return fmt.Errorf("not introduced yet")
		}
		return nil
	})
	for i := 0; i < 10; i++ {
		v, err := a.Set(context.Background(), fmt.Sprintf("k%d", i), []byte(fmt.Sprintf("v%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	eventually(t, 10*time.Second, func() error { return converged([]*Node{b}, "a", "k9", versions[9]) })
	return net, disk, a, b, versions
}

// restartAfterPowerLoss crashes a, drops the last lost batches of its
// disk, and starts it again on the same address.
func restartAfterPowerLoss(t *testing.T, net *transport.MemNetwork, disk *diskModel, a *Node, lost int) *Node {
	t.Helper()
	a.cfg.SkipLeave = true // a crash, not a leave
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	disk.powerLoss(lost)
	tr, err := net.Listen("a:1", 1400, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig("a")
	cfg.Seeds = []string{"b:1"}
	back, err := New(cfg, WithTransport(tr), WithStore(disk.open()), WithRandSeed(3), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Close() })
	return back
}

// setWhenWritable retries a Set refused while the node recovers its tail.
func setWhenWritable(t *testing.T, n *Node, key, value string) uint64 {
	t.Helper()
	var v uint64
	eventually(t, 10*time.Second, func() error {
		var err error
		v, err = n.Set(context.Background(), key, []byte(value))
		if errors.Is(err, ErrRecovering) {
			return err
		}
		if err != nil {
			t.Fatal(err)
		}
		return nil
	})
	return v
}

// TestPowerLossTailTakenBack: with sync_writes off, a power cut loses the
// newest five writes of a's store while b holds them. Restarted, a takes
// them back from b, and its next write gets a version above every one b
// holds, so b takes it. Before the fix a re-issued version 6, which b
// ignored for ever (and b's offers of a's own records were rejected).
func TestPowerLossTailTakenBack(t *testing.T) {
	net, disk, a, b, versions := powerLossPair(t)
	a = restartAfterPowerLoss(t, net, disk, a, 5)
	if _, err := a.Get(context.Background(), "", "k5"); !errors.Is(err, ErrNotFound) {
		t.Fatal("the power loss did not drop the tail: the test proves nothing")
	}
	if got := a.Status().MaxVersion; got != versions[4] {
		t.Fatalf("after the loss a's watermark is %d, want %d", got, versions[4])
	}
	// Not started, a has heard from no peer: its writes wait, with an
	// error a caller can test through either package.
	if _, err := a.Set(context.Background(), "early", nil); !errors.Is(err, ErrRecovering) || !errors.Is(err, lsync.ErrRecovering) {
		t.Fatalf("write before any peer answered: %v, want ErrRecovering", err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	v := setWhenWritable(t, a, "new", "after")
	if v <= versions[9] {
		t.Fatalf("write after the loss got version %d, at or below %d that b holds", v, versions[9])
	}
	eventually(t, 10*time.Second, func() error { return converged([]*Node{a, b}, "a", "new", v) })
	for i, want := range versions {
		k := fmt.Sprintf("k%d", i)
		got, err := a.Get(context.Background(), "", k)
		if err != nil || got.Version != want {
			t.Fatalf("a/%s at version %d (%v) after the loss, want %d taken back", k, got.Version, err, want)
		}
		if string(got.Value) != fmt.Sprintf("v%d", i) {
			t.Fatalf("a/%s = %q", k, got.Value)
		}
	}
	if st := b.Status().Stats; st.RejectedDeltas != 0 {
		t.Fatalf("b rejected %d deltas", st.RejectedDeltas)
	}
}

// TestCleanRestartWritesAtOnce: a node whose previous run closed its store
// (which flushes it) cannot have lost a tail, so its writes do not wait for
// a peer's word after the restart, even before it starts gossiping.
func TestCleanRestartWritesAtOnce(t *testing.T) {
	net := transport.NewMemNetwork(13)
	dir := t.TempDir()
	trA, _ := net.Listen("a:1", 1400, 4<<20)
	trB, _ := net.Listen("b:1", 1400, 4<<20)
	cfgA, cfgB := fastConfig("a"), fastConfig("b")
	cfgA.Seeds, cfgB.Seeds = []string{"b:1"}, []string{"a:1"}
	cfgA.InMemory, cfgA.DataDir = false, dir
	a := startNode(t, cfgA, WithTransport(trA))
	b := startNode(t, cfgB, WithTransport(trB))
	v, err := a.Set(context.Background(), "k", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error { return converged([]*Node{b}, "a", "k", v) })
	eventually(t, 10*time.Second, func() error { // b's heartbeat rose on a: b is persisted there
		if len(a.LivePeers()) != 1 {
			return fmt.Errorf("a sees %v live", a.LivePeers())
		}
		return nil
	})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	tr, _ := net.Listen("a:1", 1400, 4<<20)
	back, err := New(cfgA, WithTransport(tr), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if len(back.Peers()) == 0 {
		t.Fatal("b not restored: the test proves nothing")
	}
	v2, err := back.Set(context.Background(), "k", []byte("again"))
	if err != nil || v2 <= v {
		t.Fatalf("write after a clean restart: version %d, %v", v2, err)
	}
}
