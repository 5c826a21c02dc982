package node

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/transport"
	"github.com/leviathan-gossip/leviathan/sync/wire"
)

// aheadClock is the system clock shifted by a fixed offset.
type aheadClock struct{ by time.Duration }

func (c aheadClock) Now() time.Time                   { return time.Now().Add(c.by) }
func (c aheadClock) NewTicker(d time.Duration) Ticker { return systemClock{}.NewTicker(d) }

// TestWipedNodeWithClockBehindRefutes: a's first life ran with its clock an
// hour ahead, so peers hold it at a generation from the future. Wiped and
// restarted with a correct clock, its new generation is older than what
// peers hold: before the fix they ignored it for ever. Now it sees its own
// id at a newer generation, takes one above it, and peers drop its old
// data and take the new. The generation survives a restart of a.
func TestWipedNodeWithClockBehindRefutes(t *testing.T) {
	net := transport.NewMemNetwork(5)
	trA, _ := net.Listen("a:1", 1400, 4<<20)
	trB, _ := net.Listen("b:1", 1400, 4<<20)
	cfgA, cfgB := fastConfig("a"), fastConfig("b")
	cfgA.Seeds, cfgB.Seeds = []string{"b:1"}, []string{"a:1"}
	a := startNode(t, cfgA, WithTransport(trA), WithClock(aheadClock{time.Hour}))
	b := startNode(t, cfgB, WithTransport(trB))
	old := a.Status().Generation
	v, err := a.Set(context.Background(), "old", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error { return converged([]*Node{b}, "a", "old", v) })
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	disk := &diskModel{} // wiped: a new, empty store
	tr, _ := net.Listen("a:1", 1400, 4<<20)
	// A fresh store takes its generation from the clock, an hour behind
	// the old one. (Reading it back from the node would race the
	// refutation, which b can cause within milliseconds.)
	if now := uint64(time.Now().UnixMilli()); now >= old {
		t.Fatalf("clock %d not behind the old generation %d: the test proves nothing", now, old)
	}
	back := startNode(t, cfgA, WithTransport(tr), WithStore(disk.open()))
	v2 := setWhenWritable(t, back, "new", "2")
	eventually(t, 10*time.Second, func() error {
		if got, _ := b.Get(context.Background(), "a", "new"); string(got.Value) != "2" {
			return fmt.Errorf("b sees a/new = %q", got.Value)
		}
		if _, err := b.Get(context.Background(), "a", "old"); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("b still has a/old of the wiped generation")
		}
		return nil
	})
	gen := back.Status().Generation
	if gen <= old {
		t.Fatalf("generation %d after refutation, not above the old %d", gen, old)
	}
	if err := back.Close(); err != nil {
		t.Fatal(err)
	}
	tr, _ = net.Listen("a:1", 1400, 4<<20)
	again, err := New(cfgA, WithTransport(tr), WithStore(disk.open()), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if g := again.Status().Generation; g != gen {
		t.Fatalf("generation %d after a restart, want %d", g, gen)
	}
	if got, err := again.Get(context.Background(), "", "new"); err != nil || got.Version != v2 {
		t.Fatalf("a/new at %d (%v) after a restart, want %d", got.Version, err, v2)
	}
}

// TestForgedGenerationDoesNotWipePeer: one forged Syn (no keys) claims that
// b was wiped a day from now. Before the fix a dropped b's data at once,
// durably, and gossiped the forged generation on, so every node did. Now a
// generation change needs evidence from b itself (its own entry, from its
// own address, with rising heartbeats), so b's data stays put everywhere
// and b's new writes still replicate.
func TestForgedGenerationDoesNotWipePeer(t *testing.T) {
	net := transport.NewMemNetwork(11)
	var nodes []*Node
	for _, id := range []string{"a", "b", "c"} {
		tr, err := net.Listen(id+":1", 1400, 4<<20)
		if err != nil {
			t.Fatal(err)
		}
		cfg := fastConfig(id)
		cfg.Seeds = []string{"a:1"}
		nodes = append(nodes, startNode(t, cfg, WithTransport(tr)))
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	v, err := b.Set(context.Background(), "k", []byte("precious"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error { return converged(nodes, "b", "k", v) })

	x, err := net.Listen("forger:1", 1400, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	gen := b.Status().Generation
	forged, err := wire.Encode(&lsync.Syn{Cluster: "test", From: "forger", Digest: []lsync.DigestEntry{
		{ID: "b", Addr: b.Addr(), Generation: gen + uint64(24*time.Hour/time.Millisecond), Heartbeat: 1 << 40}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Send(a.Addr(), forged); err != nil {
		t.Fatal(err)
	}
	select { // a answers once it has handled (and persisted) the Syn
	case <-x.Recv():
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to the forged Syn")
	}
	v2, err := b.Set(context.Background(), "after", []byte("forgery"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error { return converged(nodes, "b", "after", v2) })
	for _, n := range []*Node{a, c} {
		if got, _ := n.Get(context.Background(), "b", "k"); string(got.Value) != "precious" {
			t.Fatalf("%s lost b's data to a forged generation: b/k = %q", n.ID(), got.Value)
		}
		for _, p := range n.Peers() {
			if p.ID == "b" && p.Generation != gen {
				t.Fatalf("%s holds b at generation %d, b runs %d", n.ID(), p.Generation, gen)
			}
		}
	}
}

// shiftClock is the system clock plus an offset a test may move.
type shiftClock struct{ by atomic.Int64 }

func (c *shiftClock) Now() time.Time                   { return time.Now().Add(time.Duration(c.by.Load())) }
func (c *shiftClock) NewTicker(d time.Duration) Ticker { return systemClock{}.NewTicker(d) }

// TestGhostPeersForgotten: a forged digest listing made-up ids leaves a
// with ghosts that are not persisted, and that a forgets, failure detector
// included, once they have shown no life for the ghost TTL.
func TestGhostPeersForgotten(t *testing.T) {
	net := transport.NewMemNetwork(17)
	clock := &shiftClock{}
	trA, _ := net.Listen("a:1", 1400, 4<<20)
	disk := &diskModel{}
	a := startNode(t, fastConfig("a"), WithTransport(trA), WithClock(clock), WithStore(disk.open()))
	x, _ := net.Listen("forger:1", 1400, 4<<20)
	defer x.Close()
	send := func(d []lsync.DigestEntry) {
		t.Helper()
		b, err := wire.Encode(&lsync.Syn{Cluster: "test", From: "forger", Digest: d})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Send(a.Addr(), b); err != nil {
			t.Fatal(err)
		}
		select { // answered once handled
		case <-x.Recv():
		case <-time.After(10 * time.Second):
			t.Fatal("no answer")
		}
	}
	var d []lsync.DigestEntry
	for i := 0; i < 20; i++ {
		d = append(d, lsync.DigestEntry{ID: fmt.Sprintf("ghost-%d", i), Addr: fmt.Sprintf("g%d:1", i), Generation: 1, Heartbeat: 1})
	}
	send(d)
	if n := len(a.Peers()); n != 20 {
		t.Fatalf("a knows %d peers, want the 20 ghosts", n)
	}
	if disk.holds("ghost-0") {
		t.Fatal("a ghost was persisted")
	}
	clock.by.Store(int64(11 * time.Minute))
	send([]lsync.DigestEntry{{ID: "forger", Addr: "forger:1", Generation: 1, Heartbeat: 1}})
	a.mu.Lock()
	tracked := a.eng.Liveness("ghost-0", a.clock.Now()).Tracked
	a.mu.Unlock()
	if n := len(a.Peers()); n != 1 || tracked {
		t.Fatalf("after the TTL a knows %d peers (want only the new ghost), ghost-0 tracked: %v", n, tracked)
	}
}
