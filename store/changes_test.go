package store

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// readAll pages through a peer's changefeed from cur and returns the
// records, by key, and the final cursor.
func readAll(t testing.TB, s *Badger, peer string, cur Cursor, limit int) (map[string]lsync.Record, Cursor) {
	t.Helper()
	got := map[string]lsync.Record{}
	for range 100_000 {
		p, err := s.Changes(peer, cur, limit)
		if err != nil {
			t.Fatalf("Changes(%q, %+v): %v", peer, cur, err)
		}
		last := cur.Version
		for _, r := range p.Records {
			if r.Version <= last {
				t.Fatalf("version %d after %d: not ascending", r.Version, last)
			}
			last = r.Version
			got[r.Key] = r
		}
		cur = p.Next
		if !p.More {
			return got, cur
		}
	}
	t.Fatal("changefeed never ended")
	return nil, cur
}

// indexCount counts the version index entries of peer, over all its runs,
// and checks that the runs are disjoint and ascending within.
func indexCount(t testing.TB, s *Badger, peer string) int {
	t.Helper()
	n := 0
	prefix := indexPeerPrefix(peer)
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		var prevLast uint64
		for it.Rewind(); it.Valid(); it.Next() {
			last, first, err := splitRunKey(it.Item().Key(), len(prefix))
			if err != nil {
				return err
			}
			if prevLast != 0 && first <= prevLast {
				return fmt.Errorf("run [%d, %d] overlaps the one ending at %d", first, last, prevLast)
			}
			prevLast = last
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			var prev uint64
			var bad error
			err = forEachRunEntry(v, first, func(ver uint64, _ []byte) {
				if (prev != 0 && ver <= prev) || ver < first || ver > last {
					bad = fmt.Errorf("run [%d, %d]: entry %d after %d", first, last, ver, prev)
				}
				prev = ver
				n++
			})
			if err != nil {
				return err
			}
			if bad != nil {
				return bad
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestChangesFollowWrites(t *testing.T) {
	s := openMem(t)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 7, 10), Records: recs("k", 0, 10, 5)}}})

	// From the start, in pages of 3: all ten, ascending.
	got, cur := readAll(t, s, "p", Cursor{}, 3)
	if len(got) != 10 || cur != (Cursor{Generation: 7, Version: 10}) {
		t.Fatalf("read %d records, cursor %+v", len(got), cur)
	}

	// Overwrite k0000002 and delete k0000004: the feed from the cursor
	// lists just those, at their new versions.
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 7, 12), Records: []lsync.Record{
		{Key: "k0000002", Value: []byte("new"), Version: 11},
		{Key: "k0000004", Value: []byte("t"), Version: 12, Tombstone: true},
	}}}})
	p, err := s.Changes("p", cur, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []lsync.Record{
		{Key: "k0000002", Value: []byte("new"), Version: 11},
		{Key: "k0000004", Value: []byte("t"), Version: 12, Tombstone: true},
	}
	if !reflect.DeepEqual(p.Records, want) || p.More || p.Next.Version != 12 {
		t.Fatalf("page %+v", p)
	}
	// The overwritten versions' entries stay until a sweep, which finds
	// exactly those two.
	if n := indexCount(t, s, "p"); n != 12 {
		t.Fatalf("%d index entries before the sweep, want 12", n)
	}
	if n, err := s.SweepIndex(); err != nil || n != 2 {
		t.Fatalf("sweep deleted %d (%v), want 2", n, err)
	}
	if n := indexCount(t, s, "p"); n != 10 {
		t.Fatalf("%d index entries for 10 keys after the sweep", n)
	}
	// From the start again: each key once, at its latest version.
	got, _ = readAll(t, s, "p", Cursor{}, 4)
	if len(got) != 10 || got["k0000002"].Version != 11 || !got["k0000004"].Tombstone {
		t.Fatalf("full read %v", got)
	}
}

func TestChangesCursorErrors(t *testing.T) {
	s := openMem(t)
	m := meta("p", 7, 10)
	m.GCVersion = 5
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m, Records: recs("k", 5, 5, 5)}}})
	for _, tc := range []struct {
		peer string
		cur  Cursor
		want error
	}{
		{"nobody", Cursor{}, ErrUnknownPeer},
		{"p", Cursor{Generation: 6, Version: 8}, ErrGenerationChanged},
		{"p", Cursor{Generation: 7, Version: 11}, nil}, // the store is behind the reader
		{"p", Cursor{Generation: 7, Version: 3}, ErrCompacted},
		{"p", Cursor{Generation: 7, Version: 5}, nil},
		{"p", Cursor{}, nil},
	} {
		t.Run(fmt.Sprintf("%s/%+v", tc.peer, tc.cur), func(t *testing.T) {
			_, err := s.Changes(tc.peer, tc.cur, 0)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

// A reset drops the old generation's index with its records; a removal
// drops everything.
func TestChangesResetAndRemove(t *testing.T) {
	s := openMem(t)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 1, 10), Records: recs("old", 0, 10, 5)}}})
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 2, 3), Reset: true, Records: recs("new", 0, 3, 5)}}})
	if _, err := s.Changes("p", Cursor{Generation: 1, Version: 4}, 0); !errors.Is(err, ErrGenerationChanged) {
		t.Fatalf("old cursor after reset: %v", err)
	}
	got, cur := readAll(t, s, "p", Cursor{}, 0)
	if len(got) != 3 || got["new0000000"].Version != 1 || cur != (Cursor{Generation: 2, Version: 3}) {
		t.Fatalf("after reset %v %+v", got, cur)
	}
	if n := indexCount(t, s, "p"); n != 3 {
		t.Fatalf("%d index entries after reset, want 3", n)
	}
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 2, 3), Remove: true}}})
	if _, err := s.Changes("p", Cursor{}, 0); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("after remove: %v", err)
	}
	if n := indexCount(t, s, "p"); n != 0 {
		t.Fatalf("%d index entries after remove", n)
	}
}

// Collected tombstones leave the feed (and the index) with their records.
func TestChangesAfterCollection(t *testing.T) {
	s := openMem(t)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 1, 3), Records: []lsync.Record{
		{Key: "a", Value: []byte("1"), Version: 1},
		{Key: "b", Value: []byte("t"), Version: 2, Tombstone: true},
		{Key: "c", Value: []byte("3"), Version: 3},
	}}}})
	m := meta("p", 1, 3)
	m.GCVersion = 2
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m, Drop: []string{"b"}}}})
	got, _ := readAll(t, s, "p", Cursor{}, 0)
	if len(got) != 2 || got["a"].Version != 1 || got["c"].Version != 3 {
		t.Fatalf("feed after collection %v", got)
	}
	// The collected tombstone's entry stays until a sweep.
	if n := indexCount(t, s, "p"); n != 3 {
		t.Fatalf("%d index entries after collection, want 3", n)
	}
	if n, err := s.SweepIndex(); err != nil || n != 1 {
		t.Fatalf("sweep dropped %d (%v), want 1", n, err)
	}
	if n := indexCount(t, s, "p"); n != 2 {
		t.Fatalf("%d index entries after the sweep, want 2", n)
	}
	got, _ = readAll(t, s, "p", Cursor{}, 0)
	if len(got) != 2 {
		t.Fatalf("feed after the sweep %v", got)
	}
}

// A store written before the version index existed (records, no entries,
// no marker) is indexed when opened, so its records are served again.
func TestOpenIndexesAnOldStore(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 1, 50), Records: recs("k", 0, 50, 10)}}})
	// Make it look old: no index entries, no marker.
	if err := s.deleteIndex("p"); err != nil {
		t.Fatal(err)
	}
	if err := s.deleteKeys([][]byte{[]byte(indexedKey)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := readAll(t, s, "p", Cursor{}, 0); len(got) != 0 {
		t.Fatalf("%d records served without an index: the test does not make an old store", len(got))
	}
	mustClose(t, s)

	s = openDir(t, dir)
	defer mustClose(t, s)
	got, cur := readAll(t, s, "p", Cursor{}, 7)
	if len(got) != 50 || cur.Version != 50 {
		t.Fatalf("after reopening, %d records served up to %d, want 50", len(got), cur.Version)
	}
	if n := indexCount(t, s, "p"); n != 50 {
		t.Fatalf("%d index entries, want 50", n)
	}
}
