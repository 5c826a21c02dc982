package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

func put(key string, ver uint64) lsync.Record {
	return lsync.Record{Key: key, Value: []byte(fmt.Sprint(key, ver)), Version: ver}
}

func tomb(key string, ver uint64) lsync.Record {
	return lsync.Record{Key: key, Value: []byte("t"), Version: ver, Tombstone: true}
}

// change is a change of node p at generation gen, watermark at its last
// record (or max if it has none), horizon gc.
func change(gen, max, gc uint64, rs ...lsync.Record) lsync.PeerChange {
	if len(rs) > 0 {
		max = rs[len(rs)-1].Version
	}
	m := meta("p", gen, max)
	m.GCVersion = gc
	return lsync.PeerChange{Meta: m, Records: rs}
}

func dropping(c lsync.PeerChange, keys ...string) lsync.PeerChange {
	c.Drop = keys
	return c
}

// onDisk counts p's records on disk as Open counts a node stored without
// counts.
func onDisk(t *testing.T, s *Badger) lsync.Counts {
	t.Helper()
	var n lsync.Counts
	err := s.db.View(func(txn *badger.Txn) error {
		m, rl, found, err := getMetaRelabel(txn, "p")
		if err != nil || !found {
			return err
		}
		n, err = countRecords(txn, m, rl)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCountsFollowBatches: each batch's counts are what the store holds
// of the node afterwards, live keys and tombstones apart, as a count of
// its records finds them, and a reopened store has them without counting.
func TestCountsFollowBatches(t *testing.T) {
	cases := []struct {
		name    string
		batches []lsync.PeerChange
		want    lsync.Counts
	}{
		{"new keys", []lsync.PeerChange{change(1, 0, 0, put("a", 1), put("b", 2))}, lsync.Counts{Live: 2}},
		{"overwrite in a later batch", []lsync.PeerChange{
			change(1, 0, 0, put("a", 1), put("b", 2)), change(1, 0, 0, put("a", 3))}, lsync.Counts{Live: 2}},
		{"overwrite in the same batch", []lsync.PeerChange{
			change(1, 0, 0, put("a", 1), put("a", 2), put("a", 3))}, lsync.Counts{Live: 1}},
		{"delete of a key held", []lsync.PeerChange{
			change(1, 0, 0, put("a", 1), put("b", 2)), change(1, 0, 0, tomb("b", 3))}, lsync.Counts{Live: 1, Tombstones: 1}},
		{"delete of a key set in the same batch", []lsync.PeerChange{
			change(1, 0, 0, put("a", 1), tomb("a", 2))}, lsync.Counts{Tombstones: 1}},
		{"delete of a key never set", []lsync.PeerChange{
			change(1, 0, 0, put("a", 1)), change(1, 0, 0, tomb("x", 2))}, lsync.Counts{Live: 1, Tombstones: 1}},
		{"delete twice", []lsync.PeerChange{
			change(1, 0, 0, put("a", 1)), change(1, 0, 0, tomb("a", 2)), change(1, 0, 0, tomb("a", 3))}, lsync.Counts{Tombstones: 1}},
		{"set again after a delete", []lsync.PeerChange{
			change(1, 0, 0, put("a", 1)), change(1, 0, 0, tomb("a", 2)), change(1, 0, 0, put("a", 3))}, lsync.Counts{Live: 1}},
		{"tombstones collected", []lsync.PeerChange{
			change(1, 0, 0, put("a", 1), tomb("b", 2), tomb("c", 3)),
			dropping(change(1, 3, 2), "b")}, lsync.Counts{Live: 1, Tombstones: 1}},
		{"a tombstone written and collected in one batch", []lsync.PeerChange{
			change(1, 0, 0, put("a", 1)),
			dropping(change(1, 0, 3, put("b", 2), tomb("b", 3)), "b")}, lsync.Counts{Live: 1}},
		{"a horizon that lists nothing keeps its tombstones until the sweep", []lsync.PeerChange{
			change(1, 0, 0, put("a", 1), tomb("b", 2)), change(1, 2, 2)}, lsync.Counts{Live: 1, Tombstones: 1}},
		{"meta only", []lsync.PeerChange{
			change(1, 0, 0, put("a", 1)), change(1, 1, 0)}, lsync.Counts{Live: 1}},
		{"reset to a new generation", []lsync.PeerChange{
			change(1, 0, 0, put("a", 1), put("b", 2), tomb("c", 3)),
			{Meta: meta("p", 2, 1), Reset: true, Records: []lsync.Record{put("b", 1)}}}, lsync.Counts{Live: 1}},
		{"reset with nothing", []lsync.PeerChange{
			change(1, 0, 0, put("a", 1)), {Meta: meta("p", 2, 0), Reset: true}}, lsync.Counts{}},
		{"relabel keeps the records", []lsync.PeerChange{
			change(1, 0, 0, put("a", 1), tomb("b", 2)),
			{Meta: meta("p", 5, 4), Relabel: 1, Records: []lsync.Record{put("a", 3), put("c", 4)}}}, lsync.Counts{Live: 2, Tombstones: 1}},
		{"writes after a relabel", []lsync.PeerChange{
			change(1, 0, 0, put("a", 1), tomb("b", 2)),
			{Meta: meta("p", 5, 4), Relabel: 1, Records: []lsync.Record{put("a", 3), put("c", 4)}},
			change(5, 0, 0, put("d", 5)), change(5, 0, 0, put("b", 6))}, lsync.Counts{Live: 4}},
		{"writes after a reset", []lsync.PeerChange{
			change(1, 0, 0, put("a", 1), put("b", 2)),
			{Meta: meta("p", 2, 0), Reset: true},
			change(2, 0, 0, put("a", 1)), change(2, 0, 0, put("a", 2), put("c", 3))}, lsync.Counts{Live: 2}},
		{"records of an older generation do not count", []lsync.PeerChange{
			change(1, 0, 0, put("a", 1)),
			{Meta: meta("p", 2, 0), Reset: true},
			change(2, 0, 0, put("a", 1), put("b", 2))}, lsync.Counts{Live: 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openDir(t, dir)
			for i := range tc.batches {
				mustApply(t, s, &lsync.Batch{Changes: tc.batches[i : i+1]})
				// Each batch counts from what the last left (the cached
				// meta, the book's counts) as a count of the records does.
				if got, disk := s.Counts("p"), onDisk(t, s); got != disk {
					t.Fatalf("after batch %d: counts %+v, the records on disk %+v", i, got, disk)
				}
			}
			if got := s.Counts("p"); got != tc.want {
				t.Fatalf("counts %+v, want %+v", got, tc.want)
			}
			if got := onDisk(t, s); got != tc.want {
				t.Fatalf("the records on disk count %+v, the store %+v", got, tc.want)
			}
			mustClose(t, s)
			s = openDir(t, dir)
			defer mustClose(t, s)
			if got := s.Counts("p"); got != tc.want {
				t.Fatalf("counts after reopening %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestCountsOfRemovedNode: a removed node holds nothing.
func TestCountsOfRemovedNode(t *testing.T) {
	s := openMem(t)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{change(1, 0, 0, put("a", 1))}})
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 1, 1), Remove: true}}})
	if n := s.Counts("p"); n != (lsync.Counts{}) || countPrefix(t, s, []byte(countsPrefix)) != 0 {
		t.Fatalf("a removed node counts %+v, %d counts stored", n, countPrefix(t, s, []byte(countsPrefix)))
	}
}

// TestSweepCountsTombstonesDeleted: the tombstones a horizon passed count
// until the index sweep deletes them; the live keys never change.
func TestSweepCountsTombstonesDeleted(t *testing.T) {
	s := openMem(t)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{change(7, 0, 0, tomb("a", 1), put("b", 2), tomb("c", 3), tomb("d", 4))}})
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{change(7, 4, 3)}})
	if n := s.Counts("p"); n != (lsync.Counts{Live: 1, Tombstones: 3}) {
		t.Fatalf("before the sweep: %+v", n)
	}
	if _, err := s.SweepIndex(); err != nil {
		t.Fatal(err)
	}
	want := lsync.Counts{Live: 1, Tombstones: 1}
	if n := s.Counts("p"); n != want || onDisk(t, s) != want {
		t.Fatalf("after the sweep: %+v, on disk %+v; want %+v", n, onDisk(t, s), want)
	}
}

// TestOpenCountsNodesStoredWithoutCounts: a store of an older build has no
// counts, and the estimates it saved at shutdown are wrong; Open counts
// such a node's records once, stores the counts and drops the estimates.
func TestOpenCountsNodesStoredWithoutCounts(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{change(1, 0, 0, put("a", 1), put("b", 2), tomb("a", 3), put("b", 4))}})
	err := s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(countsKey("p")); err != nil {
			return err
		}
		return txn.Set([]byte(legacyCountsPrefix+"p"), []byte("an estimate"))
	})
	if err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)
	s = openDir(t, dir)
	defer mustClose(t, s)
	want := lsync.Counts{Live: 1, Tombstones: 1}
	if n := s.Counts("p"); n != want {
		t.Fatalf("counts %+v, want %+v", n, want)
	}
	if countPrefix(t, s, []byte(countsPrefix)) != 1 || countPrefix(t, s, []byte(legacyCountsPrefix)) != 0 {
		t.Fatalf("%d counts stored, %d estimates left; want 1 and none",
			countPrefix(t, s, []byte(countsPrefix)), countPrefix(t, s, []byte(legacyCountsPrefix)))
	}
}

// TestBootAfterCrashCounts: after a crash the boot's cleanup deletes what
// no meta vouches for, and the counts are those of what is left, the
// tombstones it collected included.
func TestBootAfterCrashCounts(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	if _, err := s.Boot("me", 1); err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{change(1, 0, 0, put("a", 1), tomb("b", 2), put("c", 3))}})
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{change(1, 3, 2)}})
	if err := s.crash(); err != nil {
		t.Fatal(err)
	}
	s = openDir(t, dir)
	defer mustClose(t, s)
	self, err := s.Boot("me", 1)
	if err != nil || self.CleanShutdown {
		t.Fatalf("boot: %+v %v; want a crash", self, err)
	}
	if err := s.LoadMeta(func(lsync.PeerMeta) error { return nil }); err != nil {
		t.Fatal(err)
	}
	want := lsync.Counts{Live: 2}
	if n := s.Counts("p"); n != want || onDisk(t, s) != want {
		t.Fatalf("counts %+v, on disk %+v; want %+v", n, onDisk(t, s), want)
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
	self, err := s.Boot("me", 1)
	if err != nil || self.CleanShutdown {
		t.Fatalf("boot: %+v %v; a store whose write failed was closed as clean", self, err)
	}
}
