package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/sync/identity"
)

// ownChain is the heartbeat chain n's record commits to.
func ownChain(t *testing.T, n *Node) identity.BeatCommitment {
	t.Helper()
	r := ownRecord(t, n)
	com, err := identity.ParseBeatCommitment(r.ID, r.Generation, r.BeatChain)
	if err != nil {
		t.Fatal(err)
	}
	return com
}

// newSignedPair makes ca and cb, signed, beating every beat, cb seeded
// with ca, and starts ca; before starts cb once made, for the test to
// set it up first.
func newSignedPair(t *testing.T, beat time.Duration, before func(*Node)) (a, b *Node) {
	t.Helper()
	sc := newSignedCluster(t, "ca", "cb")
	keys := []string{testKeyB64(32)}
	acfg := sc.config("ca", true, keys)
	acfg.HeartbeatVal = beat
	a = startNode(t, acfg)
	cfg := sc.config("cb", true, keys)
	cfg.HeartbeatVal = beat
	cfg.Seeds = []string{a.Addr()}
	b, err := New(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	before(b)
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// TestSignedChainStartsShortThenFull: a signed node starts with a short
// heartbeat chain and prepares the full-length one, based at the
// heartbeat at which the engine asks for it, as a chain set up then
// would be; it signs its record again only when the short chain runs
// low, and takes the prepared chain then. Its peer holds it alive and refuses
// none of its heartbeats.
func TestSignedChainStartsShortThenFull(t *testing.T) {
	old := firstBeatChainLength
	firstBeatChainLength = 256 // 5 s at the fast configs' 20 ms
	t.Cleanup(func() { firstBeatChainLength = old })
	var first identity.BeatCommitment
	a, b := newSignedPair(t, 20*time.Millisecond, func(b *Node) { first = ownChain(t, b) })
	if first.Length != shortChain() || shortChain() >= beatChainLength {
		t.Fatalf("started with a chain of %d beats, want %d, shorter than %d", first.Length, shortChain(), beatChainLength)
	}
	eventually(t, 10*time.Second, func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.ident.next == nil {
			return fmt.Errorf("no full-length chain prepared")
		}
		return nil
	})
	if com := ownChain(t, b); com != first {
		t.Errorf("record commits to %+v while the first chain lasts, want %+v", com, first)
	}
	asked := first.Last() - first.Length/8
	eventually(t, 20*time.Second, func() error {
		if com := ownChain(t, b); com.Length != beatChainLength || com.Base != asked {
			return fmt.Errorf("chain of %d beats from %d, want %d from %d", com.Length, com.Base-first.Base, beatChainLength, asked-first.Base)
		}
		return nil
	})
	if hb := ownHeartbeat(b); hb+first.Length/8 < first.Last() {
		t.Errorf("full-length chain taken at heartbeat %d, before the first chain (to %d) ran low", hb-first.Base, first.Length)
	}
	eventually(t, 10*time.Second, func() error { return allAlive([]*Node{a, b}, "cb") })
	for _, n := range []*Node{a, b} {
		if r := rejectedCount(t, n, "bad_beat_proof"); r != 0 {
			t.Errorf("%s refused %v heartbeats", n.ID(), r)
		}
	}
}

// TestSignedShortChainsWhileFullIsLate: while a node's full-length chain
// is not built, each short chain running low is followed by another at
// once: its peer holds it alive, its heartbeat rising there past several
// short chains' ends, and refuses none of its heartbeats, at the fastest
// heartbeat_val. Once the full chain can be built, it follows.
func TestSignedShortChainsWhileFullIsLate(t *testing.T) {
	old := firstBeatChainLength
	firstBeatChainLength = 256 // 2.6 s at 10 ms
	t.Cleanup(func() { firstBeatChainLength = old })
	var first identity.BeatCommitment
	a, b := newSignedPair(t, 10*time.Millisecond, func(b *Node) {
		first = ownChain(t, b)
		b.ident.long.Store(true) // a full-length build under way, not finishing
	})
	eventually(t, 10*time.Second, func() error { return allAlive([]*Node{a, b}, "cb") })
	eventually(t, 20*time.Second, func() error {
		if err := allAlive([]*Node{a, b}, "cb"); err != nil {
			t.Fatal(err)
		}
		if hb := heldBeat(a, "cb"); hb <= first.Base+3*first.Length {
			return fmt.Errorf("cb at heartbeat %d at ca, want past %d", hb-first.Base, 3*first.Length)
		}
		return nil
	})
	if last := ownChain(t, b); last.Length != first.Length || last.Base <= first.Base {
		t.Errorf("chain of %d beats from %d, want a later short one than %d from %d", last.Length, last.Base, first.Length, first.Base)
	}
	if n := rejectedCount(t, a, "bad_beat_proof"); n != 0 {
		t.Errorf("%v heartbeats of cb refused", n)
	}
	b.ident.long.Store(false)
	eventually(t, 20*time.Second, func() error {
		if com := ownChain(t, b); com.Length != beatChainLength {
			return fmt.Errorf("chain of %d beats, want %d", com.Length, beatChainLength)
		}
		return nil
	})
	for _, n := range []*Node{a, b} {
		if r := rejectedCount(t, n, "bad_beat_proof"); r != 0 {
			t.Errorf("%s refused %v heartbeats", n.ID(), r)
		}
	}
}

// heldBeat is the heartbeat of id n holds.
func heldBeat(n *Node, id string) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, hb, _, _ := n.eng.State().HeldBeat(id)
	return hb
}

// BenchmarkSignedNodeNew is what New costs a signed node with the
// default chain length, starting with a short chain, and (full) with the
// full-length one as the first chain; unsigned for comparison.
func BenchmarkSignedNodeNew(b *testing.B) {
	for _, first := range []string{"unsigned", "short", "full"} {
		b.Run(first, func(b *testing.B) {
			oldLen, oldFirst := beatChainLength, firstBeatChainLength
			beatChainLength = identity.DefaultBeatChainLength
			if first == "full" {
				firstBeatChainLength = beatChainLength
			}
			defer func() { beatChainLength, firstBeatChainLength = oldLen, oldFirst }()
			sc := newSignedCluster(b, "ca")
			cfg := sc.config("ca", first != "unsigned", nil)
			for b.Loop() {
				n, err := New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				_ = n.Close()
				b.StartTimer()
			}
		})
	}
}
