package store

import (
	"testing"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

type removedAt struct{ gen, heartbeat uint64 }

func loadRemoved(t *testing.T, s *Badger) map[string]removedAt {
	t.Helper()
	out := map[string]removedAt{}
	if err := s.LoadRemoved(func(id string, gen, hb uint64) error {
		out[id] = removedAt{gen, hb}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRemovalPersisted: a removed peer's marker survives a reopen with the
// generation and heartbeat it was removed at; once the peer is known again
// (it has a meta) the marker is dropped.
func TestRemovalPersisted(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{
		{Meta: lsync.PeerMeta{ID: "gone", Generation: 7, MaxVersion: 1}, Records: []lsync.Record{{Key: "k", Version: 1}}},
		{Meta: lsync.PeerMeta{ID: "back", Generation: 3}},
	}})
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{
		{Meta: lsync.PeerMeta{ID: "gone", Generation: 7, MaxVersion: 1}, Remove: true, Heartbeat: 42},
		{Meta: lsync.PeerMeta{ID: "back", Generation: 3}, Remove: true, Heartbeat: 5},
	}})
	// "back" returns with a newer generation.
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: lsync.PeerMeta{ID: "back", Generation: 4}}}})
	mustClose(t, s)

	s = openDir(t, dir)
	defer mustClose(t, s)
	if _, ok := loadAll(t, s)["gone"]; ok {
		t.Fatal("removed peer still loaded")
	}
	got := loadRemoved(t, s)
	if len(got) != 1 || got["gone"] != (removedAt{7, 42}) {
		t.Fatalf("removed markers %v, want gone at generation 7, heartbeat 42", got)
	}
	if got := loadRemoved(t, s); len(got) != 1 {
		t.Fatalf("second load: %v", got)
	}
}
