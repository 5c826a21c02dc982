package sync

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"
)

// TestGhostPeersBoundedAndForgotten: ids that only ever appear in digests
// (never a rising heartbeat, never data) are ghosts, possibly forged: at
// most maxGhosts are held, none is persisted, and each is forgotten
// ghostTTL after it appeared. One whose heartbeat rises is a peer: kept and
// persisted.
func TestGhostPeersBoundedAndForgotten(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	s := newTestState(t, "me", 1)
	s.SetTime(1000)
	syn := func(id string, hb uint64) Step {
		st := s.Handle(&Syn{Cluster: "test", From: "x", Digest: []DigestEntry{{ID: id, Addr: id + ":1", Generation: 1, Heartbeat: hb}}}, rng)
		commitTo(s, st.Batch)
		return st
	}
	for i := 0; i < 3*maxGhosts; i++ {
		if st := syn(fmt.Sprintf("ghost-%d", i), 1); st.Batch != nil {
			t.Fatalf("a ghost was persisted: %+v", st.Batch.Changes)
		}
	}
	if n := len(s.Peers()); n != maxGhosts {
		t.Fatalf("%d peers held after a flood of made-up ids, want the bound %d", n, maxGhosts)
	}
	// ghost-0 turns out to be alive: its heartbeat rises.
	if st := syn("ghost-0", 2); st.Batch.Empty() || st.Batch.Changes[0].Meta.ID != "ghost-0" {
		t.Fatalf("a confirmed peer is not persisted: %+v", st.Batch)
	}
	s.SetTime(1000 + ghostTTL + 1)
	st := syn("late", 1)
	if len(st.Forgotten) != maxGhosts-1 || slices.Contains(st.Forgotten, "ghost-0") {
		t.Fatalf("%d ghosts forgotten (ghost-0 among them: %v), want %d", len(st.Forgotten), slices.Contains(st.Forgotten, "ghost-0"), maxGhosts-1)
	}
	var ids []string
	for _, p := range s.Peers() {
		ids = append(ids, p.ID)
	}
	if !slices.Equal(ids, []string{"ghost-0", "late"}) {
		t.Fatalf("peers after the sweep: %v, want the confirmed ghost-0 and the new ghost late", ids)
	}
}
