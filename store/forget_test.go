package store

import (
	"testing"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// TestResetSameGeneration: a refill within one generation (after the
// node's tombstones were collected) must not let an old record come back,
// even though its version is below the new watermark.
func TestResetSameGeneration(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	meta := lsync.PeerMeta{ID: "x", Generation: 7, MaxVersion: 10}
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta, Records: recs("old", 0, 10, 8)}}})
	meta.MaxVersion, meta.GCVersion = 40, 30
	fresh := []lsync.Record{{Key: "new", Value: []byte("v"), Version: 35}}
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta, Reset: true, Records: fresh}}})
	mustClose(t, s)

	s = openDir(t, dir)
	defer mustClose(t, s)
	got := loadAll(t, s)["x"]
	if len(got.recs) != 1 || got.recs[0].Key != "new" || got.meta.GCVersion != 30 || got.meta.MaxVersion != 40 {
		t.Fatalf("after reset: %+v", got)
	}
	if n := rawRecordCount(t, s, "x"); n != 1 {
		t.Fatalf("%d records on disk, want 1", n)
	}
}

func TestRemovePeer(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{
		{Meta: lsync.PeerMeta{ID: "gone", Generation: 1, MaxVersion: 5}, Records: recs("k", 0, 5, 4)},
		{Meta: lsync.PeerMeta{ID: "kept", Generation: 1, MaxVersion: 5}, Records: recs("k", 0, 5, 4)},
	}})
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: lsync.PeerMeta{ID: "gone"}, Remove: true}}})
	mustClose(t, s)
	s = openDir(t, dir)
	defer mustClose(t, s)
	all := loadAll(t, s)
	if _, ok := all["gone"]; ok || len(all["kept"].recs) != 5 {
		t.Fatalf("after remove: %v", all)
	}
	if n := rawRecordCount(t, s, "gone"); n != 0 {
		t.Fatalf("%d records of a removed peer on disk", n)
	}
}

// TestCollectedTombstones: dropped keys go, and a tombstone at or below
// the horizon is never served even if its deletion did not happen.
func TestCollectedTombstones(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	meta := lsync.PeerMeta{ID: "x", Generation: 1, MaxVersion: 4}
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta, Records: []lsync.Record{
		{Key: "a", Version: 1, Tombstone: true},
		{Key: "b", Version: 2, Tombstone: true},
		{Key: "c", Value: []byte("live"), Version: 3},
		{Key: "d", Version: 4, Tombstone: true},
	}}}})
	meta.GCVersion = 2
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta, Drop: []string{"a"}}}}) // b's deletion "lost"
	mustClose(t, s)
	s = openDir(t, dir)
	defer mustClose(t, s)
	var keys []string
	for _, r := range loadAll(t, s)["x"].recs {
		keys = append(keys, r.Key)
	}
	if len(keys) != 2 || keys[0] != "c" || keys[1] != "d" {
		t.Fatalf("loaded keys %v, want [c d]", keys)
	}
}
