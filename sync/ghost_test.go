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

// TestGhostConfirmedOnlyByCommit: a node that speaks for itself becomes a
// member persisted with its address, but only through a committed batch.
// A driver that drops the batch (its engine busy with another) leaves it
// a ghost, so the next word of it asks again to persist it; otherwise it
// would stay a member that a restart has forgotten.
func TestGhostConfirmedOnlyByCommit(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	s := newTestState(t, "me", 1)
	hello := func(hb uint64) *Batch {
		return s.HandleFrom(&Syn{Cluster: "test", From: "p", Digest: []DigestEntry{
			{ID: "p", Addr: "p:1", Generation: 5, Heartbeat: hb}}}, "p:1", rng).Batch
	}
	metaOf := func(b *Batch) bool {
		for _, c := range b.Changes {
			if c.Meta.ID == "p" && c.Meta.Addr == "p:1" {
				return true
			}
		}
		return false
	}
	if b := hello(1); b == nil || !metaOf(b) {
		t.Fatalf("first word of p: batch %+v, want its meta", b)
	}
	b := hello(2) // the first batch was dropped
	if b == nil || !metaOf(b) {
		t.Fatalf("after a dropped batch: %+v, want p's meta again", b)
	}
	commitTo(s, b)
	if b := hello(3); b != nil && metaOf(b) {
		t.Fatalf("p persisted already, yet its meta is written again: %+v", b)
	}
}
