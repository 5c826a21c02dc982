package sync

import (
	"fmt"
	"math/rand"
	"reflect"
	"sync/atomic"
	"testing"
)

// external makes newTestState give its states an external MemStorage, as
// the node gives its Badger: the core then keeps only metadata and
// estimated counts, and commitTo applies each batch before Commit.
var external atomic.Bool

func testStorage() Storage {
	if external.Load() {
		return NewMemStorage()
	}
	return nil
}

// bothStorages runs a test with the core's own storage and with an
// external one.
func bothStorages(t *testing.T, test func(t *testing.T)) {
	t.Helper()
	for _, ext := range []bool{false, true} {
		t.Run(map[bool]string{false: "own", true: "external"}[ext], func(t *testing.T) {
			external.Store(ext)
			defer external.Store(false)
			test(t)
		})
	}
}

// commitTo commits a durable batch, as the node does: into the external
// storage first when there is one.
func commitTo(s *State, b *Batch) {
	if s.mem == nil && b != nil {
		s.store.(*MemStorage).Apply(b)
	}
	s.Commit(b)
}

// TestExternalCounts: with an external storage the core knows overwrites
// of keys in its recent cache only; one of a key written before what the
// cache holds counts twice (it reads nothing to know), never below the
// truth. A collection that finds no tombstone left corrects the estimate,
// and CollectTombstones reads no record twice once it found none.
func TestExternalCounts(t *testing.T) {
	external.Store(true)
	defer external.Store(false)
	s := newTestState(t, "me", 1)
	check := func(what string, recs, tombs, keys int) {
		t.Helper()
		info, _ := s.Peer("me")
		if r, tb := s.counts(s.self); r != recs || tb != tombs || info.Keys != keys {
			t.Fatalf("%s: %d records %d tombstones, %d keys; want %d, %d, %d", what, r, tb, info.Keys, recs, tombs, keys)
		}
	}
	write(t, s, "a", "1", "b", "2")
	write(t, s, "a", "3")
	del(t, s, 10, "b")
	check("overwrites in the cache", 2, 1, 1)
	big := string(make([]byte, 1<<20))
	for i := 0; i < recentBytes>>20+1; i++ {
		write(t, s, fmt.Sprint("big", i), big) // pushes a and b out of the cache
	}
	if s.self.cache.covers(1) {
		t.Fatal("the cache still holds the first records")
	}
	n := recentBytes>>20 + 1
	write(t, s, "b", "4") // overwrites the tombstone, unseen
	check("an overwrite of an evicted key", 3+n, 1, 2+n)
	if b := s.CollectTombstones(1_000_000, 1); b != nil {
		t.Fatalf("collected %v: no tombstone is current", b.Changes[0].Drop)
	}
	if _, tombs := s.counts(s.self); tombs != 0 || s.self.tombFloor != s.Self().MaxVersion {
		t.Fatalf("after a collection that found none: %d tombstones, floor %d of %d", tombs, s.self.tombFloor, s.Self().MaxVersion)
	}
	// A young tombstone stops the collection; the floor stays below it.
	del(t, s, 100, "a")
	ver := s.Self().MaxVersion
	if b := s.CollectTombstones(150, 1000); b != nil {
		t.Fatalf("collected a young tombstone: %v", b.Changes[0].Drop)
	}
	if s.self.tombFloor != ver-1 {
		t.Fatalf("floor %d, want %d", s.self.tombFloor, ver-1)
	}
	b := s.CollectTombstones(5000, 1000)
	if b == nil || fmt.Sprint(b.Changes[0].Drop) != "[a]" || b.Changes[0].Meta.GCVersion != ver {
		t.Fatalf("collection of the old tombstone: %+v", b)
	}
	commitTo(s, b)
	if keys := s.Keys("me"); len(keys) != n+1 || keys[0] != "b" {
		t.Fatalf("keys %v after the collection, want b and the big ones", keys)
	}
}

// TestRecentCacheServesAsStorage: after random writes, deletes and
// collections (values large enough for the cache to evict), every delta
// the recent cache serves equals the one read from the storage, at random
// watermarks and budgets.
func TestRecentCacheServesAsStorage(t *testing.T) {
	external.Store(true)
	defer external.Store(false)
	for seed := int64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewSource(seed))
		s := newTestState(t, "me", 1)
		now := uint64(0)
		served := 0
		for step := 0; step < 200; step++ {
			now += 50
			key := fmt.Sprint("k", rng.Intn(30))
			switch op := rng.Intn(10); {
			case op < 6:
				write(t, s, key, string(make([]byte, rng.Intn(300_000))))
			case op < 8:
				if _, ok := s.Get("me", key); ok {
					del(t, s, now, key)
				}
			default:
				commitTo(s, s.CollectTombstones(now, 500))
			}
			p := s.self
			if p.cache == nil || p.meta.MaxVersion == 0 {
				continue
			}
			for try := 0; try < 5; try++ {
				from := p.cache.floor + uint64(rng.Int63n(int64(p.meta.MaxVersion-p.cache.floor+1)))
				budget := 200 + rng.Intn(1_000_000)
				got, gotUsed, gotDone := s.delta(p, from, false, budget)
				cache := p.cache
				p.cache = nil
				want, wantUsed, wantDone := s.delta(p, from, false, budget)
				p.cache = cache
				if !reflect.DeepEqual(got, want) || gotUsed != wantUsed || gotDone != wantDone {
					t.Fatalf("seed %d step %d from %d budget %d: cache gave %d records to %d (%v), storage %d to %d (%v)",
						seed, step, from, budget, len(got.Records), got.To, gotDone, len(want.Records), want.To, wantDone)
				}
				served++
			}
		}
		if served == 0 {
			t.Fatalf("seed %d: nothing served from the cache", seed)
		}
	}
}
