package store

import (
	"errors"
	"fmt"
	gosync "sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// errStop stops a roll-forward in tests, where a crash would.
var errStop = errors.New("stopped here")

// stopAfter returns a hook that lets the roll-forward do k chunks, then
// stops it (each time it is started, until the store is closed), and
// reports whether it has stopped it yet.
func stopAfter(k int) (hook func(done int) error, stopped func() bool) {
	var once gosync.Once
	ch := make(chan struct{})
	// The chunks are counted here, not by the roll-forward's own count:
	// that restarts at every wake-up, and a wake-up still pending from
	// Open would roll one run of chunks past the stop.
	calls := 0 // only the roll-forward goroutine calls the hook
	return func(int) error {
			if calls >= k {
				once.Do(func() { close(ch) })
				return errStop
			}
			calls++
			return nil
		}, func() bool {
			select {
			case <-ch:
				return true
			default:
				return false
			}
		}
}

// testRelabelChunk keeps the tests' roll-forwards at several chunks
// without writing tens of thousands of records.
const testRelabelChunk = 1000

func openWith(t testing.TB, dir string, hook func(int) error) *Badger {
	t.Helper()
	s, err := Open(Options{Dir: dir, beforeRelabelChunk: hook, relabelChunk: testRelabelChunk})
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	return s
}

// markers returns the relabel markers on disk, by peer id.
func markers(t testing.TB, s *Badger) map[string]*relabel {
	t.Helper()
	out := map[string]*relabel{}
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(relabelPrefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id := string(it.Item().Key()[len(relabelPrefix):])
			rl, err := getRelabel(txn, id)
			if err != nil {
				return err
			}
			out[id] = rl
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read markers: %v", err)
	}
	return out
}

// waitNoMarker waits for the roll-forward to delete every marker.
func waitNoMarker(t testing.TB, s *Badger) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(markers(t, s)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("relabel markers still there after 30s: %v", markers(t, s))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawGenerations counts peer's records on disk by their stored generation.
func rawGenerations(t testing.TB, s *Badger, peer string) map[uint64]int {
	t.Helper()
	out := map[uint64]int{}
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = peerPrefix(peer)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			err := it.Item().Value(func(v []byte) error {
				gen, _, _, _, err := decodeRecordHeader(v)
				out[gen]++
				return err
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read generations: %v", err)
	}
	return out
}

// checkServed checks that every reader serves exactly want as peer's
// records at generation gen: Load, Get, Scan, the counts (kept, and
// counted from the records) and Changes.
func checkServed(t testing.TB, s *Badger, peer string, gen uint64, want []lsync.Record) {
	t.Helper()
	got := loadAll(t, s)[peer]
	if got.meta.Generation != gen || len(got.recs) != len(want) {
		t.Fatalf("Load: generation %d, %d records; want %d, %d", got.meta.Generation, len(got.recs), gen, len(want))
	}
	for i := range want {
		if r := got.recs[i]; r.Key != want[i].Key || r.Version != want[i].Version || string(r.Value) != string(want[i].Value) {
			t.Fatalf("Load: record %d is %q v%d, want %q v%d", i, r.Key, r.Version, want[i].Key, want[i].Version)
		}
	}
	for _, i := range []int{0, len(want) / 2, len(want) - 1} {
		r, ok, err := s.Get(peer, want[i].Key)
		if err != nil || !ok || r.Version != want[i].Version || string(r.Value) != string(want[i].Value) {
			t.Fatalf("Get %q: %+v %v %v", want[i].Key, r, ok, err)
		}
	}
	n := 0
	through, err := s.Scan(got.meta, 0, func(r *lsync.Record) bool {
		if r.Version != want[n].Version {
			t.Fatalf("Scan: record %d at v%d, want v%d", n, r.Version, want[n].Version)
		}
		n++
		return true
	})
	if err != nil || n != len(want) || through != got.meta.MaxVersion {
		t.Fatalf("Scan at generation %d: %d records through %d (%v); want %d through %d", gen, n, through, err, len(want), got.meta.MaxVersion)
	}
	var counted lsync.Counts
	err = s.db.View(func(txn *badger.Txn) error {
		rl, err := getRelabel(txn, peer)
		if err == nil {
			counted, err = countRecords(txn, got.meta, rl)
		}
		return err
	})
	if kept := s.Counts(peer); err != nil || kept != counted || kept.Live+kept.Tombstones != len(want) {
		t.Fatalf("counts %+v, counted %+v (%v); want %d records", kept, counted, err, len(want))
	}
	page, err := s.Changes(peer, Cursor{}, len(want)+1)
	if err != nil || len(page.Records) != len(want) || page.Next.Generation != gen {
		t.Fatalf("Changes: %d records, cursor %+v, %v; want %d at generation %d", len(page.Records), page.Next, err, len(want), gen)
	}
}

// relabelBatch is the change a refutation makes: the node at gen from
// moves to gen to, its watermark and horizon kept, no records.
func relabelBatch(m lsync.PeerMeta, from, to uint64) *lsync.Batch {
	m.Generation = to
	return &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m, Relabel: from}}}
}

// TestRelabelCrashAtEveryChunk: a relabel stopped after any number of
// roll-forward chunks (0: the marker committed, no record rewritten yet)
// serves every record at the new generation before and after a reopen,
// and the reopened store finishes the roll-forward: every record then
// carries the new generation and the marker is gone. A second relabel on
// top of a half-rolled one (two refutations in a row) counts the records
// of both older generations.
func TestRelabelCrashAtEveryChunk(t *testing.T) {
	const n = 6 * testRelabelChunk // 6 chunks
	own := recs("k", 0, n, 100)
	tests := []struct {
		name   string
		chunks int // chunks done before the stop
		again  bool
	}{
		{"marker only", 0, false},
		{"one chunk", 1, false},
		{"two chunks", 2, false},
		{"mid-way", 3, false},
		{"all but the last", 5, false},
		{"finished", 1 << 20, false},
		{"second relabel on top of the first", 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			hook, stopped := stopAfter(tt.chunks)
			s := openWith(t, dir, hook)
			m := lsync.PeerMeta{ID: "me", Generation: 5, MaxVersion: n, GCVersion: 0}
			mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{
				{Meta: m, Records: own},
				{Meta: lsync.PeerMeta{ID: "peer", Generation: 3, MaxVersion: 10}, Records: recs("p", 0, 10, 8)},
			}})
			mustApply(t, s, relabelBatch(m, 5, 9))
			gen := uint64(9)
			// Wait for the roll-forward to reach the stop (or the end).
			deadline := time.Now().Add(30 * time.Second)
			for !stopped() && len(markers(t, s)) > 0 {
				if time.Now().After(deadline) {
					t.Fatal("roll-forward neither stopped nor finished")
				}
				time.Sleep(2 * time.Millisecond)
			}
			if tt.again {
				m.Generation = 9
				mustApply(t, s, relabelBatch(m, 9, 12))
				gen = 12
				if rl := markers(t, s)["me"]; rl == nil || rl.to != 12 || len(rl.from) != 2 {
					t.Fatalf("marker after a second relabel: %+v; want 5 and 9 to 12", rl)
				}
			}
			gens := rawGenerations(t, s, "me")
			if !tt.again && tt.chunks < n/testRelabelChunk && (gens[9] != tt.chunks*testRelabelChunk || gens[5]+gens[9] != n) {
				t.Fatalf("generations on disk %v: want %d chunks of %d rewritten", gens, tt.chunks, testRelabelChunk)
			}
			checkServed(t, s, "me", gen, own)
			mustClose(t, s)

			// Reopened with the roll-forward held: the marker alone serves.
			hold, _ := stopAfter(0)
			s = openWith(t, dir, hold)
			if _, err := s.Boot("me", 1); err != nil {
				t.Fatal(err)
			}
			checkServed(t, s, "me", gen, own)
			checkServed(t, s, "peer", 3, recs("p", 0, 10, 8))
			mustClose(t, s)

			// Reopened: the roll-forward finishes.
			s = openWith(t, dir, nil)
			defer mustClose(t, s)
			info, err := s.Boot("me", 1)
			if err != nil || info.Generation != gen {
				t.Fatalf("Boot: %+v %v, want generation %d", info, err, gen)
			}
			waitNoMarker(t, s)
			if gens := rawGenerations(t, s, "me"); len(gens) != 1 || gens[gen] != n {
				t.Fatalf("generations on disk after the roll-forward: %v, want all %d at %d", gens, n, gen)
			}
			checkServed(t, s, "me", gen, own)
			checkServed(t, s, "peer", 3, recs("p", 0, 10, 8))
		})
	}
}

// TestRelabelWithRecordsCutShort: a relabel whose change also carries
// records (a recovered tail above the watermark) and is too large for one
// transaction commits its marker with the first intermediate meta: cut
// short there, the node is at the new generation with its old records and
// a prefix of the new ones, none lost.
func TestRelabelWithRecordsCutShort(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	old := recs("old", 0, 1000, 8)
	m := lsync.PeerMeta{ID: "me", Generation: 1, MaxVersion: 1000}
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m, Records: old}}})
	tail := recs("new", 1000, 20_000, 100)
	m.Generation, m.MaxVersion = 2, 21_000
	batch := &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m, Relabel: 1, Records: tail}}}
	if s.fitsOneTxn(encodeBatch(batch, nil, nil)) {
		t.Fatal("batch fits one transaction; it must not")
	}
	s = applyCut(t, s, dir, batch, 2)
	defer mustClose(t, s)
	got := loadAll(t, s)["me"]
	if got.meta.Generation != 2 || got.meta.MaxVersion <= 1000 || got.meta.MaxVersion >= 21_000 {
		t.Fatalf("after the cut: %+v; want generation 2, watermark within the tail", got.meta)
	}
	want := append(append([]lsync.Record(nil), old...), tail[:got.meta.MaxVersion-1000]...)
	checkServed(t, s, "me", 2, want)
	waitNoMarker(t, s)
	checkServed(t, s, "me", 2, want)
}

// TestRelabelEndsWithResetOrRemove: a reset or removal of the node takes
// its marker with its meta: nothing of the relabelled generation is
// served again.
func TestRelabelEndsWithResetOrRemove(t *testing.T) {
	for _, remove := range []bool{false, true} {
		t.Run(fmt.Sprintf("remove=%v", remove), func(t *testing.T) {
			hold, _ := stopAfter(0)
			s := openWith(t, t.TempDir(), hold)
			defer mustClose(t, s)
			m := lsync.PeerMeta{ID: "x", Generation: 1, MaxVersion: 5}
			mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m, Records: recs("k", 0, 5, 8)}}})
			mustApply(t, s, relabelBatch(m, 1, 2))
			m = lsync.PeerMeta{ID: "x", Generation: 2, MaxVersion: 1}
			c := lsync.PeerChange{Meta: m, Reset: true, Records: []lsync.Record{{Key: "fresh", Version: 1}}}
			if remove {
				c = lsync.PeerChange{Meta: m, Remove: true}
			}
			mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{c}})
			if rl := markers(t, s); len(rl) != 0 {
				t.Fatalf("markers left: %v", rl)
			}
			got, ok := loadAll(t, s)["x"]
			switch {
			case remove && ok:
				t.Fatalf("removed node loaded: %+v", got)
			case !remove && (len(got.recs) != 1 || got.recs[0].Key != "fresh"):
				t.Fatalf("after the reset: %+v", got.recs)
			}
		})
	}
}

// TestRelabelValidation: a relabel that is not to a newer generation, or
// comes with a reset or removal, is refused before anything is written.
func TestRelabelValidation(t *testing.T) {
	s := openMem(t)
	m := lsync.PeerMeta{ID: "x", Generation: 5, MaxVersion: 0}
	for _, c := range []lsync.PeerChange{
		{Meta: m, Relabel: 5},
		{Meta: m, Relabel: 7},
		{Meta: m, Relabel: 3, Reset: true},
		{Meta: m, Relabel: 3, Remove: true},
	} {
		if err := s.Apply(&lsync.Batch{Changes: []lsync.PeerChange{c}}); err == nil {
			t.Errorf("Apply(%+v) accepted", c)
		}
	}
	if len(markers(t, s)) != 0 || len(loadAll(t, s)) != 0 {
		t.Fatal("a refused batch left something behind")
	}
}

// TestRelabelHonouredBySweepAndCollection: while a marker is there, the
// index sweep keeps the entries of relabelled records, and tombstones of
// the old generation at or below the horizon count as collected.
func TestRelabelHonouredBySweepAndCollection(t *testing.T) {
	hold, _ := stopAfter(0)
	s := openWith(t, t.TempDir(), hold)
	defer mustClose(t, s)
	rs := recs("k", 0, 10, 8)
	rs[2].Tombstone, rs[2].Value = true, nil
	rs[7].Tombstone, rs[7].Value = true, nil
	m := lsync.PeerMeta{ID: "x", Generation: 1, MaxVersion: 10}
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m, Records: rs}}})
	m.GCVersion = 5 // collects rs[2]: its deletion is left to the sweep
	mustApply(t, s, relabelBatch(m, 1, 2))
	if _, err := s.SweepIndex(); err != nil {
		t.Fatal(err)
	}
	want := append(append([]lsync.Record(nil), rs[:2]...), rs[3:]...)
	checkServed(t, s, "x", 2, want)
	if n := rawRecordCount(t, s, "x"); n != 9 {
		t.Fatalf("%d records on disk, want 9: the collected tombstone of the relabelled generation stays", n)
	}
}
