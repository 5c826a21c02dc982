package store

import (
	"context"
	"errors"
	"testing"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// loadCounts boots s as node "me" and returns what LoadMeta gives for p.
func loadCounts(t *testing.T, s *Badger) (lsync.PeerMeta, lsync.Counts, SelfInfo) {
	t.Helper()
	self, err := s.Boot("me", 1)
	if err != nil {
		t.Fatal(err)
	}
	var view lsync.PeerMeta
	var n lsync.Counts
	if err := s.LoadMeta(func(m lsync.PeerMeta, c lsync.Counts) error {
		if m.ID == "p" {
			view, n = m, c
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return view, n, self
}

// TestBootAfterCleanShutdownReadsSavedCounts: after a clean shutdown the
// boot takes the counts saved at shutdown (it reads no record: the saved
// ones are deliberately wrong here, and are what it returns); after a
// crash it counts the records; Count always counts them.
func TestBootAfterCleanShutdownReadsSavedCounts(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	if _, err := s.Boot("me", 1); err != nil {
		t.Fatal(err)
	}
	m := meta("p", 1, 3)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m, Records: []lsync.Record{
		{Key: "a", Value: []byte("1"), Version: 1},
		{Key: "b", Value: []byte("t"), Version: 2, Tombstone: true},
		{Key: "a", Value: []byte("2"), Version: 3},
	}}}})
	saved := lsync.Counts{Records: 99, Tombstones: 7}
	if err := s.SaveCounts([]PeerCounts{{Meta: m, Counts: saved}}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)

	s = openDir(t, dir)
	view, n, self := loadCounts(t, s)
	if !self.CleanShutdown || n != saved {
		t.Fatalf("clean boot: clean %v, counts %+v; want the saved %+v", self.CleanShutdown, n, saved)
	}
	got, err := s.Count(context.Background(), view)
	if want := (lsync.Counts{Records: 2, Tombstones: 1}); err != nil || got != want {
		t.Fatalf("Count: %+v (%v), want %+v", got, err, want)
	}
	// Saved counts of another watermark are not taken.
	m.MaxVersion = 4
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m, Records: []lsync.Record{{Key: "c", Value: []byte("x"), Version: 4}}}}})
	mustClose(t, s)
	s = openDir(t, dir)
	if _, n, _ := loadCounts(t, s); n != (lsync.Counts{}) {
		t.Fatalf("counts saved at watermark 3 taken at 4: %+v", n)
	}
	// A crash (no Close): the boot counts the records.
	if err := s.crash(); err != nil {
		t.Fatal(err)
	}
	s = openDir(t, dir)
	defer mustClose(t, s)
	if _, n, self := loadCounts(t, s); self.CleanShutdown || n != (lsync.Counts{Records: 3, Tombstones: 1}) {
		t.Fatalf("boot after a crash: clean %v, counts %+v; want 3 records, 1 tombstone", self.CleanShutdown, n)
	}
}

// TestFailedWriteLeavesShutdownUnclean: a store whose write failed may hold
// half a batch; its Close must not mark the shutdown clean, so that the
// next boot does the crash cleanup instead of reading metadata only.
func TestFailedWriteLeavesShutdownUnclean(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	if _, err := s.Boot("me", 1); err != nil {
		t.Fatal(err)
	}
	big := recs("k", 0, 30_000, 100)
	batch := &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 1, uint64(len(big))), Records: big}}}
	s.afterRun = func() error { return errors.New("disk gone") }
	if err := s.Apply(batch); err == nil {
		t.Fatal("the batch was not cut")
	}
	mustClose(t, s)
	s = openDir(t, dir)
	defer mustClose(t, s)
	if _, _, self := loadCounts(t, s); self.CleanShutdown {
		t.Fatal("a store whose write failed was closed as clean")
	}
}
