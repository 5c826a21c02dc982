package sync

import (
	"fmt"
	"math/rand"
	"testing"
)

// external makes newTestState give its states an external MemRecords, as
// the node gives its Badger: the core then keeps only metadata, and
// commitTo applies each batch before Commit. The
// tests of this package run one at a time, and read it from theirs.
var external bool

func testStorage() Storage {
	if external {
		return NewMemRecords()
	}
	return nil
}

// bothStorages runs a test with the core's own storage and with an
// external one.
func bothStorages(t *testing.T, test func(t *testing.T)) {
	t.Helper()
	for _, ext := range []bool{false, true} {
		t.Run(map[bool]string{false: "own", true: "external"}[ext], func(t *testing.T) {
			external = ext
			defer func() { external = false }()
			test(t)
		})
	}
}

// commitTo commits a durable batch, as the node does: into the external
// storage first when there is one.
func commitTo(s *State, b *Batch) {
	if s.mem == nil && b != nil {
		s.store.(*MemRecords).Apply(b)
	}
	s.Commit(b)
}

// TestKeysCountLiveKeys: a node's Keys are its live keys as the storage
// counts them, with the core's own records and an external storage
// alike, on the writer and on a replica: an overwrite counts once, a
// deleted key not at all, a key set again after its deletion once more.
func TestKeysCountLiveKeys(t *testing.T) {
	bothStorages(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(1))
		s, r := newTestState(t, "me", 1), newTestState(t, "replica", 1)
		steps := []struct {
			name        string
			do          func()
			keys, tombs int
		}{
			{"two keys", func() { write(t, s, "a", "1", "b", "2") }, 2, 0},
			{"an overwrite", func() { write(t, s, "a", "3") }, 2, 0},
			{"overwritten twice in one batch", func() { write(t, s, "c", "1", "c", "2") }, 3, 0},
			{"a delete", func() { del(t, s, 10, "b") }, 2, 1},
			{"a delete of a key never set", func() { del(t, s, 10, "x") }, 2, 2},
			{"set again after its delete", func() { write(t, s, "b", "4") }, 3, 1},
		}
		for _, st := range steps {
			st.do()
			exchange(t, s, r, rng)
			own, _ := s.Peer("me")
			held, _ := r.Peer("me")
			if n := s.counts(s.self); own.Keys != st.keys || held.Keys != st.keys || n.Tombstones != st.tombs {
				t.Fatalf("after %s: %d keys here, %d on the replica, %d tombstones; want %d keys, %d tombstones",
					st.name, own.Keys, held.Keys, n.Tombstones, st.keys, st.tombs)
			}
		}
		// Collected tombstones leave the live keys as they were.
		commitTo(s, s.CollectTombstones(1_000_000, 1))
		if own, _ := s.Peer("me"); own.Keys != 3 || s.counts(s.self).Tombstones != 0 {
			t.Fatalf("after the collection: %d keys, %+v", own.Keys, s.counts(s.self))
		}
	})
}

// TestCollectionStopsAtYoungTombstone: a collection that meets a young
// tombstone collects nothing and leaves the floor below it; once it is
// old enough the next collection takes it.
func TestCollectionStopsAtYoungTombstone(t *testing.T) {
	bothStorages(t, func(t *testing.T) {
		s := newTestState(t, "me", 1)
		write(t, s, "a", "1", "b", "2")
		del(t, s, 100, "a")
		ver := s.Self().MaxVersion
		if b := s.CollectTombstones(150, 1000); b != nil {
			t.Fatalf("collected a young tombstone: %v", b.Changes[0].Drop)
		}
		if s.tombFloor != ver-1 {
			t.Fatalf("floor %d, want %d", s.tombFloor, ver-1)
		}
		b := s.CollectTombstones(5000, 1000)
		if b == nil || fmt.Sprint(b.Changes[0].Drop) != "[a]" || b.Changes[0].Meta.GCVersion != ver {
			t.Fatalf("collection of the old tombstone: %+v", b)
		}
		commitTo(s, b)
		if keys := s.Keys("me"); fmt.Sprint(keys) != "[b]" {
			t.Fatalf("keys %v after the collection, want [b]", keys)
		}
	})
}

// TestCollectionReadsInBoundedSteps: a collection reads at most
// collectScanLimit records and the next resumes where it stopped, so
// tombstones far apart are collected over several calls, in order, and
// none is read twice.
func TestCollectionReadsInBoundedSteps(t *testing.T) {
	bothStorages(t, func(t *testing.T) {
		s := newTestState(t, "me", 1)
		del(t, s, 1, "first")
		kv := make([]string, 0, 2*(collectScanLimit+10))
		for i := 0; i < collectScanLimit+10; i++ {
			kv = append(kv, fmt.Sprint("k", i), "v")
		}
		write(t, s, kv...)
		del(t, s, 1, "last")
		var got []string
		calls := 0
		for ; calls < 4 && len(got) < 2; calls++ {
			if b := s.CollectTombstones(1000, 10); b != nil {
				got = append(got, b.Changes[0].Drop...)
				commitTo(s, b)
			}
		}
		if fmt.Sprint(got) != "[first last]" || calls != 2 {
			t.Fatalf("collected %v in %d calls, want [first last] in 2", got, calls)
		}
		if s.Self().GCVersion != s.Self().MaxVersion {
			t.Fatalf("horizon %d, want %d", s.Self().GCVersion, s.Self().MaxVersion)
		}
	})
}

// TestMemRecordsCollectsOnHorizon: a batch that only raises a node's
// horizon (the core lists no committed tombstone: it reads nothing under
// its owner's lock) makes the storage drop the tombstones it passes, and
// only those.
func TestMemRecordsCollectsOnHorizon(t *testing.T) {
	m := NewMemRecords()
	meta := PeerMeta{ID: "p", Generation: 1, MaxVersion: 4}
	m.Apply(&Batch{Changes: []PeerChange{{Meta: meta, Records: []Record{
		{Key: "a", Version: 1, Tombstone: true},
		{Key: "b", Value: []byte("v"), Version: 2},
		{Key: "c", Version: 3, Tombstone: true},
		{Key: "d", Version: 4, Tombstone: true},
	}}}})
	if n := m.Counts("p"); n != (Counts{Live: 1, Tombstones: 3}) {
		t.Fatalf("before: %+v", n)
	}
	meta.GCVersion = 3
	m.Apply(&Batch{Changes: []PeerChange{{Meta: meta}}})
	if n := m.Counts("p"); n != (Counts{Live: 1, Tombstones: 1}) {
		t.Fatalf("after the horizon: %+v; want b and d", n)
	}
	for key, want := range map[string]bool{"a": false, "b": true, "c": false, "d": true} {
		if _, ok, _ := m.Get("p", key); ok != want {
			t.Errorf("%s held: %v, want %v", key, ok, want)
		}
	}
}

// TestCollectScanDroppedWhenViewMoved: a collection is read outside the
// core's lock, so the local node may write between its planning and its
// end; such a scan is dropped rather than collect a key written again, and
// the next one collects what is still deleted.
func TestCollectScanDroppedWhenViewMoved(t *testing.T) {
	bothStorages(t, func(t *testing.T) {
		s := newTestState(t, "me", 1)
		write(t, s, "a", "1", "b", "2")
		del(t, s, 1, "a")
		del(t, s, 1, "b")
		scan := s.PlanCollect(1000, 10)
		if scan == nil {
			t.Fatal("no collection planned with two old tombstones")
		}
		scan.Read()
		write(t, s, "a", "3") // a is back
		if b := s.FinishCollect(scan); b != nil {
			t.Fatalf("a scan of an outdated view collected %v", b.Changes[0].Drop)
		}
		b := s.CollectTombstones(1000, 10)
		if b == nil || fmt.Sprint(b.Changes[0].Drop) != "[b]" {
			t.Fatalf("the next collection: %+v, want b dropped", b)
		}
		commitTo(s, b)
		if keys := s.Keys("me"); fmt.Sprint(keys) != "[a]" {
			t.Fatalf("keys %v, want [a]", keys)
		}
		if external && s.FinishCollect(s.PlanCollect(1000, 10)) != nil {
			// The core's own records are read as the scan is planned.
			t.Fatal("a scan that was never read collected")
		}
	})
}
