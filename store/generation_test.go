package store

import (
	"errors"
	"testing"

	"github.com/dgraph-io/badger/v4"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// TestBootKeepsRefutedGeneration: a node that raised its generation at
// runtime (its own meta written at the new one) boots at that generation,
// not at the one its store was created with; a peer's meta changes nothing.
func TestBootKeepsRefutedGeneration(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	if _, err := s.Boot("me", 100); err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{
		{Meta: lsync.PeerMeta{ID: "me", Generation: 500, MaxVersion: 1}, Reset: true,
			Records: []lsync.Record{{Key: "k", Value: []byte("v"), Version: 1}}},
		{Meta: lsync.PeerMeta{ID: "other", Generation: 900}},
	}})
	mustClose(t, s)
	s = openDir(t, dir)
	defer mustClose(t, s)
	info, err := s.Boot("me", 50)
	if err != nil {
		t.Fatal(err)
	}
	if info.Generation != 500 || info.Fresh {
		t.Fatalf("boot %+v, want generation 500, not fresh", info)
	}
	if got := loadAll(t, s)["me"]; got.meta.Generation != 500 || len(got.recs) != 1 {
		t.Fatalf("own data after boot: %+v", got)
	}
}

// TestBootReportsCleanShutdown: Boot says whether the previous run closed
// the store (flushed: no unsynced tail lost), and clears the mark so that a
// crash of this run is not taken for a clean stop.
func TestBootReportsCleanShutdown(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	if info, err := s.Boot("me", 1); err != nil || info.CleanShutdown {
		t.Fatalf("fresh store: %+v, %v", info, err)
	}
	mustClose(t, s)
	s = openDir(t, dir)
	defer mustClose(t, s)
	if info, err := s.Boot("me", 1); err != nil || !info.CleanShutdown {
		t.Fatalf("after a clean close: %+v, %v", info, err)
	}
	err := s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get([]byte(cleanKey))
		return err
	})
	if !errors.Is(err, badger.ErrKeyNotFound) {
		t.Fatalf("the clean mark survives Boot (%v): a crash of this run would pass for a clean stop", err)
	}
}
