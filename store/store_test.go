package store

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	gosync "sync"
	"testing"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

func meta(id string, gen, max uint64) lsync.PeerMeta {
	return lsync.PeerMeta{ID: id, Alias: "alias-" + id, Addr: id + ":7946", Generation: gen, MaxVersion: max}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)

	want := map[string]loaded{}
	// Several batches per peer, and peers whose ids are prefixes of each
	// other to exercise the key layout.
	peers := []string{"a", "ab", "b", "self", "peer-\xff"}
	for round := range 3 {
		batch := &lsync.Batch{}
		for i, p := range peers {
			prev := want[p]
			from := prev.meta.MaxVersion
			rs := recs(fmt.Sprintf("r%d-", round), from, 10+i, 20)
			if i == 2 && round == 1 {
				rs = nil // meta-only change
			}
			m := meta(p, 100+uint64(i), from+uint64(len(rs)))
			batch.Changes = append(batch.Changes, lsync.PeerChange{Meta: m, Records: rs})
			want[p] = loaded{m, append(prev.recs, rs...)}
		}
		mustApply(t, s, batch)
	}
	// A peer known only by its meta.
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("empty", 1, 0)}}})
	want["empty"] = loaded{meta: meta("empty", 1, 0)}
	mustClose(t, s)

	s = openDir(t, dir)
	defer mustClose(t, s)
	var order []string
	got := map[string]loaded{}
	err := s.Load(func(m lsync.PeerMeta, rs []lsync.Record) error {
		order = append(order, m.ID)
		got[m.ID] = loaded{m, rs}
		return nil
	})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !slices.IsSorted(order) {
		t.Errorf("Load order %q not sorted by id", order)
	}
	if len(got) != len(want) {
		t.Fatalf("loaded %d peers, want %d", len(got), len(want))
	}
	for id, w := range want {
		g := got[id]
		if g.meta != w.meta {
			t.Errorf("peer %q meta = %+v, want %+v", id, g.meta, w.meta)
		}
		if !reflect.DeepEqual(g.recs, w.recs) {
			t.Errorf("peer %q: %d records differ from the %d applied", id, len(g.recs), len(w.recs))
		}
		if !slices.IsSortedFunc(g.recs, func(x, y lsync.Record) int { return int(x.Version) - int(y.Version) }) {
			t.Errorf("peer %q records not sorted by version", id)
		}
	}
}

func TestOverwriteSortedByVersion(t *testing.T) {
	s := openMem(t)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{
		Meta:    meta("p", 1, 3),
		Records: []lsync.Record{{Key: "z", Value: []byte("1"), Version: 1}, {Key: "y", Value: []byte("2"), Version: 2}, {Key: "x", Value: []byte("3"), Version: 3}},
	}}})
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{
		Meta:    meta("p", 1, 4),
		Records: []lsync.Record{{Key: "z", Value: []byte("4"), Version: 4}},
	}}})
	got := loadAll(t, s)["p"].recs
	want := []lsync.Record{{Key: "y", Value: []byte("2"), Version: 2}, {Key: "x", Value: []byte("3"), Version: 3}, {Key: "z", Value: []byte("4"), Version: 4}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("records = %+v, want %+v", got, want)
	}
}

func TestTombstoneRoundTrip(t *testing.T) {
	for _, inMem := range []bool{false, true} {
		t.Run(fmt.Sprintf("inMemory=%v", inMem), func(t *testing.T) {
			dir := t.TempDir()
			open := func() *Badger {
				if inMem {
					return openMem(t)
				}
				return openDir(t, dir)
			}
			s := open()
			rs := []lsync.Record{
				{Key: "live", Value: []byte("v"), Version: 1},
				{Key: "dead", Version: 2, Tombstone: true},
				{Key: "dead-with-value", Value: []byte("x"), Version: 3, Tombstone: true},
			}
			mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 1, 3), Records: rs}}})
			if !inMem {
				mustClose(t, s)
				s = open()
				defer mustClose(t, s)
			}
			if got := loadAll(t, s)["p"].recs; !reflect.DeepEqual(got, rs) {
				t.Fatalf("records = %+v, want %+v", got, rs)
			}
		})
	}
}

func TestBatchTooBigForOneTxn(t *testing.T) {
	const n = 50_000
	for _, inMem := range []bool{false, true} {
		t.Run(fmt.Sprintf("inMemory=%v", inMem), func(t *testing.T) {
			var s *Badger
			if inMem {
				s = openMem(t)
			} else {
				s = openDir(t, t.TempDir())
				defer mustClose(t, s)
			}
			rs := recs("k", 0, n, 1024)
			batch := &lsync.Batch{Changes: []lsync.PeerChange{
				{Meta: meta("big", 1, n), Records: rs},
				{Meta: meta("small", 2, 1), Records: recs("s", 0, 1, 10)},
			}}
			if s.fitsOneTxn(encodeBatch(batch, nil, nil)) { // records, index, metas
				t.Fatal("test batch fits one transaction; it must not")
			}
			mustApply(t, s, batch)
			got := loadAll(t, s)
			if g := got["big"]; g.meta != batch.Changes[0].Meta || !reflect.DeepEqual(g.recs, rs) {
				t.Fatalf("big peer: meta %+v, %d records; want %+v, %d", g.meta, len(g.recs), batch.Changes[0].Meta, n)
			}
			if g := got["small"]; g.meta != batch.Changes[1].Meta || len(g.recs) != 1 {
				t.Fatalf("small peer: %+v", g)
			}
		})
	}
}

func TestCrashBeforeMeta(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	first := recs("k", 0, 10, 8)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 7, 10), Records: first}}})
	// A batch cut short: records 11..15 of p reached disk, its meta did not;
	// likewise records of "q", whose meta never made it at all.
	if err := s.writeRecords("p", 7, recs("new", 10, 5, 8)); err != nil {
		t.Fatal(err)
	}
	if err := s.writeRecords("q", 1, recs("k", 0, 3, 8)); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)

	s = openDir(t, dir)
	defer mustClose(t, s)
	if n := rawRecordCount(t, s, "p"); n != 15 {
		t.Fatalf("before Load: %d records of p on disk, want 15", n)
	}
	got := loadAll(t, s)
	if _, ok := got["q"]; ok {
		t.Errorf("peer without meta was loaded")
	}
	if g := got["p"]; !reflect.DeepEqual(g.recs, first) || g.meta.MaxVersion != 10 {
		t.Fatalf("p: max %d, %d records; want max 10 and the first 10 records", g.meta.MaxVersion, len(g.recs))
	}
	if n := rawRecordCount(t, s, "p"); n != 10 {
		t.Errorf("after Load: %d records of p on disk, want 10", n)
	}
	if n := rawRecordCount(t, s, "q"); n != 0 {
		t.Errorf("after Load: %d records of q on disk, want 0", n)
	}
}

// A split batch that overwrites keys must lower the watermark before it
// touches them: after a crash between records and metas, Load must serve a
// complete prefix, never an old watermark with overwritten keys missing.
// TestCrashInSplitBatchKeepsPrefixComplete cuts a batch too large for one
// transaction after each of its runs in turn, as a crash would, and checks
// that what Load serves is exactly the old data overlaid with the batch up
// to the stored watermark: no hole, nothing above it, no overwritten value
// claimed — through Load, and through the version index (the changefeed,
// and the metadata-only boot with Scan, which the core's deltas use).
func TestCrashInSplitBatchKeepsPrefixComplete(t *testing.T) {
	for _, reset := range []bool{false, true} {
		for cut := 1; cut <= 3; cut++ {
			t.Run(fmt.Sprintf("reset=%v/cut=%d", reset, cut), func(t *testing.T) {
				dir := t.TempDir()
				s := openDir(t, dir)
				old := recs("k", 0, 20, 8)
				mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 1, 20), Records: old}}})
				from := uint64(20)
				if reset {
					from = 0
				}
				// Overwrites keys k0000005.. of the first batch.
				next := recs("k", from, 30_000, 100)[5:]
				for i := range next {
					next[i].Version = from + uint64(i) + 1
				}
				batch := &lsync.Batch{Changes: []lsync.PeerChange{{
					Meta: meta("p", 1, from+uint64(len(next))), Reset: reset, Records: next,
				}}}
				if s.fitsOneTxn(encodeBatch(batch, nil, nil)) {
					t.Fatal("batch fits one transaction; it must not")
				}
				s = applyCut(t, s, dir, batch, cut)
				defer mustClose(t, s)
				// The node boots with LoadMeta (which does the cleanup here);
				// Load must then find the same.
				var view lsync.PeerMeta
				if err := s.LoadMeta(func(m lsync.PeerMeta) error {
					view = m
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				counts := s.Counts("p")
				g := loadAll(t, s)["p"]
				want := map[string]uint64{}
				if !reset {
					for _, r := range old {
						want[r.Key] = r.Version
					}
				}
				for _, r := range next {
					if r.Version <= g.meta.MaxVersion {
						want[r.Key] = r.Version
					}
				}
				if g.meta.MaxVersion <= from || g.meta.MaxVersion >= batch.Changes[0].Meta.MaxVersion {
					t.Fatalf("watermark %d is not an intermediate one", g.meta.MaxVersion)
				}
				got := map[string]uint64{}
				for _, r := range g.recs {
					got[r.Key] = r.Version
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("loaded %d records, want %d (watermark %d)", len(got), len(want), g.meta.MaxVersion)
				}
				// The changefeed, read through the version index, serves
				// exactly what Load does: no record above the watermark,
				// none at a version it no longer has, none missing.
				fed, _ := readAll(t, s, "p", Cursor{}, 500)
				loaded := map[string]lsync.Record{}
				for _, r := range g.recs {
					loaded[r.Key] = r
				}
				if !reflect.DeepEqual(fed, loaded) {
					t.Fatalf("the changefeed serves %d records, Load %d", len(fed), len(loaded))
				}
				// So do the core's boot and its deltas: LoadMeta's meta and
				// counts, and a Scan of that meta, through the same index.
				var scanned []lsync.Record
				if _, err := s.Scan(view, 0, func(r *lsync.Record) bool {
					scanned = append(scanned, *r)
					return true
				}); err != nil {
					t.Fatal(err)
				}
				if view != g.meta || counts != (lsync.Counts{Live: len(g.recs)}) || !reflect.DeepEqual(scanned, g.recs) {
					t.Fatalf("LoadMeta gave %+v with %+v and Scan %d records; Load %+v with %d", view, counts, len(scanned), g.meta, len(g.recs))
				}
				// The rest of the batch, sent again above the watermark,
				// completes the data and keeps the index's runs disjoint.
				var rest []lsync.Record
				for _, r := range next {
					if r.Version > view.MaxVersion {
						rest = append(rest, r)
					}
					want[r.Key] = r.Version
				}
				mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: batch.Changes[0].Meta, Records: rest}}})
				fed, _ = readAll(t, s, "p", Cursor{}, 1000)
				got = map[string]uint64{}
				for k, r := range fed {
					got[k] = r.Version
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("after the rest, the changefeed serves %d records, want %d", len(got), len(want))
				}
				if n := indexCount(t, s, "p"); n < len(want) {
					t.Fatalf("%d index entries for %d records", n, len(want))
				}
				if n := s.Counts("p"); n != (lsync.Counts{Live: len(want)}) {
					t.Fatalf("counts %+v after the rest, want %d live keys", n, len(want))
				}
			})
		}
	}
}

func TestReset(t *testing.T) {
	for _, big := range []bool{false, true} {
		t.Run(fmt.Sprintf("split=%v", big), func(t *testing.T) {
			dir := t.TempDir()
			s := openDir(t, dir)
			mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{
				{Meta: meta("p", 1, 100), Records: recs("old", 0, 100, 8)},
				{Meta: meta("other", 1, 5), Records: recs("o", 0, 5, 8)},
			}})
			n := 3
			if big {
				n = 20_000
			}
			// Keys "old0000000".. are reused by the new generation too.
			newRecs := append(recs("old", 0, 2, 9), recs("new", 2, n-2, 9)...)
			m := meta("p", 2, uint64(n))
			mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m, Reset: true, Records: newRecs}}})
			if c := rawRecordCount(t, s, "p"); c != n {
				t.Errorf("after Apply: %d records of p on disk, want %d", c, n)
			}
			mustClose(t, s)

			s = openDir(t, dir)
			defer mustClose(t, s)
			got := loadAll(t, s)
			if g := got["p"]; g.meta != m || !reflect.DeepEqual(g.recs, newRecs) {
				t.Fatalf("p: meta %+v with %d records, want %+v with %d", g.meta, len(g.recs), m, len(newRecs))
			}
			if g := got["other"]; len(g.recs) != 5 {
				t.Fatalf("other peer lost records: %d", len(g.recs))
			}
		})
	}
}

// Old-generation records left behind (Apply's cleanup is best effort) are
// hidden and deleted by Load.
func TestLoadDropsOtherGeneration(t *testing.T) {
	s := openMem(t)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 2, 3), Records: recs("k", 0, 3, 4)}}})
	if err := s.writeRecords("p", 1, recs("stale", 0, 4, 4)); err != nil {
		t.Fatal(err)
	}
	if g := loadAll(t, s)["p"]; len(g.recs) != 3 {
		t.Fatalf("loaded %d records, want 3", len(g.recs))
	}
	if c := rawRecordCount(t, s, "p"); c != 3 {
		t.Fatalf("%d records on disk, want 3", c)
	}
}

func TestBoot(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	got, err := s.Boot("n1", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if want := (SelfInfo{ID: "n1", Generation: 1000, Boot: 1, Fresh: true}); got != want {
		t.Fatalf("first Boot = %+v, want %+v", got, want)
	}
	mustClose(t, s)

	for i, gen := range []uint64{2000, 10} {
		s = openDir(t, dir)
		got, err = s.Boot("n1", gen)
		if err != nil {
			t.Fatal(err)
		}
		if want := (SelfInfo{ID: "n1", Generation: 1000, Boot: uint64(i) + 2, CleanShutdown: true}); got != want {
			t.Fatalf("Boot #%d = %+v, want %+v", i+2, got, want)
		}
		mustClose(t, s)
	}

	s = openDir(t, dir)
	defer mustClose(t, s)
	_, err = s.Boot("n2", 3000)
	if !errors.Is(err, ErrIDMismatch) {
		t.Fatalf("Boot with another id: error %v, want ErrIDMismatch", err)
	}
	if msg := err.Error(); !strings.Contains(msg, `"n1"`) || !strings.Contains(msg, `"n2"`) {
		t.Errorf("error %q does not name both ids", msg)
	}
	if _, err := s.Boot("", 1); err == nil {
		t.Errorf("Boot with empty id succeeded")
	}
}

func TestLoadCorruptRecord(t *testing.T) {
	for name, value := range map[string][]byte{
		"empty":         {},
		"truncated":     {0x81},
		"unknown flags": {1, 1, 0xf0},
	} {
		t.Run(name, func(t *testing.T) {
			s := openMem(t)
			mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 1, 2), Records: recs("k", 0, 2, 4)}}})
			err := s.db.Update(func(txn *badger.Txn) error {
				return txn.Set(appendRecordKey(nil, "p", "k0000001"), value)
			})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Load(func(lsync.PeerMeta, []lsync.Record) error { return nil })
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Load error = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestLoadCorruptMeta(t *testing.T) {
	s := openMem(t)
	err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(metaKey("p"), []byte{5, 'a'}) })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load(func(lsync.PeerMeta, []lsync.Record) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load error = %v, want ErrCorrupt", err)
	}
}

func TestLoadCallbackError(t *testing.T) {
	s := openMem(t)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 1, 0)}}})
	boom := errors.New("boom")
	if err := s.Load(func(lsync.PeerMeta, []lsync.Record) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Load error = %v, want boom", err)
	}
}

func TestApplyRejectsInvalid(t *testing.T) {
	tests := []struct {
		name  string
		batch lsync.Batch
	}{
		{"empty id", lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("", 1, 1)}}}},
		{"version above max", lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 1, 1), Records: recs("k", 0, 2, 1)}}}},
		{"key too long", lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 1, 1), Records: []lsync.Record{{Key: string(make([]byte, 70000)), Version: 1}}}}}},
		{"value too large", lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 1, 1), Records: []lsync.Record{{Key: "k", Value: make([]byte, 2<<20), Version: 1}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openMem(t)
			// The valid change first: nothing of an invalid batch is written.
			tt.batch.Changes = append([]lsync.PeerChange{{Meta: meta("good", 1, 1), Records: recs("k", 0, 1, 1)}}, tt.batch.Changes...)
			err := s.Apply(&tt.batch)
			if err == nil {
				t.Fatal("Apply succeeded")
			}
			if got := loadAll(t, s); len(got) != 0 {
				t.Log(err)
				t.Fatalf("invalid batch left %d peers behind", len(got))
			}
		})
	}
}

func TestClosed(t *testing.T) {
	s := openMem(t)
	mustClose(t, s)
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if err := s.Apply(&lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 1, 0)}}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply = %v, want ErrClosed", err)
	}
	if err := s.Load(func(lsync.PeerMeta, []lsync.Record) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Load = %v, want ErrClosed", err)
	}
	if _, err := s.Boot("n", 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Boot = %v, want ErrClosed", err)
	}
	if sz := s.Size(); sz != (Sizes{}) {
		t.Errorf("Size = %+v after Close", sz)
	}
}

func TestOpenRequiresDir(t *testing.T) {
	if _, err := Open(Options{}); err == nil {
		t.Fatal("Open without Dir succeeded")
	}
}

// Apply, Load, Boot and Close from several goroutines: run with -race.
func TestConcurrent(t *testing.T) {
	s := openMem(t)
	if _, err := s.Boot("self", 1); err != nil {
		t.Fatal(err)
	}
	var wg gosync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("peer%d", g)
			var max uint64
			for i := range 20 {
				rs := recs(fmt.Sprintf("b%d-", i), max, 50, 16)
				max += 50
				if err := s.Apply(&lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta(id, 1, max), Records: rs}}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 5 {
			err := s.Load(func(m lsync.PeerMeta, rs []lsync.Record) error {
				if uint64(len(rs)) != m.MaxVersion {
					return fmt.Errorf("peer %q: %d records under max version %d", m.ID, len(rs), m.MaxVersion)
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
			s.Size()
		}
	}()
	wg.Wait()
	got := loadAll(t, s)
	for g := range 4 {
		if l := got[fmt.Sprintf("peer%d", g)]; len(l.recs) != 1000 {
			t.Errorf("peer%d: %d records, want 1000", g, len(l.recs))
		}
	}
	mustClose(t, s)
}

func TestLoadCallbackMayApplyAndClose(t *testing.T) {
	s := openMem(t)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("a", 1, 0)}, {Meta: meta("b", 1, 0)}}})
	calls := 0
	err := s.Load(func(m lsync.PeerMeta, _ []lsync.Record) error {
		calls++
		if err := s.Apply(&lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta(m.ID, 1, 1), Records: recs("k", 0, 1, 1)}}}); err != nil {
			return err
		}
		return s.Close()
	})
	if !errors.Is(err, ErrClosed) || calls != 1 {
		t.Fatalf("Load = %v after %d calls, want ErrClosed after 1", err, calls)
	}
}

func TestGC(t *testing.T) {
	s := openDir(t, t.TempDir())
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 1, 10), Records: recs("k", 0, 10, 4096)}}})
	if err := s.GC(); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if sz := s.Size(); sz.VLog == 0 {
		t.Errorf("Size = %+v: large values should be in the value log", sz)
	}
	mustClose(t, s)
	if err := s.GC(); !errors.Is(err, ErrClosed) {
		t.Errorf("GC after Close = %v, want ErrClosed", err)
	}
	if err := openMem(t).GC(); err != nil {
		t.Errorf("in-memory GC = %v", err)
	}
}

// applyCut applies batch to s as a crash after its cut-th transaction
// would leave it, closes s and opens dir again.
func applyCut(t *testing.T, s *Badger, dir string, batch *lsync.Batch, cut int) *Badger {
	t.Helper()
	runs := 0
	s.afterRun = func() error {
		if runs++; runs == cut {
			return errors.New("crash")
		}
		return nil
	}
	if err := s.Apply(batch); err == nil {
		t.Fatal("the batch was not cut")
	}
	mustClose(t, s)
	return openDir(t, dir)
}
