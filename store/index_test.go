package store

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// decodeRuns decodes runs back into (version, key) records.
func decodeRuns(t *testing.T, peer string, runs []*badger.Entry) []lsync.Record {
	t.Helper()
	var out []lsync.Record
	prefixLen := len(indexPeerPrefix(peer))
	for _, e := range runs {
		last, first, err := splitRunKey(e.Key, prefixLen)
		if err != nil {
			t.Fatal(err)
		}
		var got []uint64
		err = forEachRunEntry(e.Value, first, func(ver uint64, key []byte) {
			got = append(got, ver)
			out = append(out, lsync.Record{Key: string(key), Version: ver})
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || got[0] != first || got[len(got)-1] != last {
			t.Fatalf("run key [%d, %d] names versions %v", first, last, got)
		}
		if len(got) > 1 && len(e.Value) > runMaxBytes {
			t.Fatalf("run of %d entries has %d bytes, above %d", len(got), len(e.Value), runMaxBytes)
		}
	}
	return out
}

func TestRunsOf(t *testing.T) {
	keyed := func(n, keyLen int, step uint64) []lsync.Record {
		rs := make([]lsync.Record, n)
		for i := range rs {
			rs[i] = lsync.Record{Key: fmt.Sprintf("%0*d", keyLen, i), Version: 7 + uint64(i)*step}
		}
		return rs
	}
	for _, tc := range []struct {
		name     string
		recs     []lsync.Record
		wantRuns int
	}{
		{"none", nil, 0},
		{"one", keyed(1, 8, 1), 1},
		{"short keys, consecutive", keyed(1000, 8, 1), 1000 * (2 + 8) / runMaxBytes},
		{"gaps between versions", keyed(200, 8, 1000), 0},
		{"long keys, one a run", keyed(5, runMaxBytes, 3), 5},
		{"key longer than a run", []lsync.Record{{Key: strings.Repeat("x", 3*runMaxBytes), Version: 1}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs := runsOf("peer", tc.recs)
			if tc.wantRuns > 0 && (len(runs) < tc.wantRuns || len(runs) > tc.wantRuns+1) {
				t.Fatalf("%d runs, want about %d", len(runs), tc.wantRuns)
			}
			if got := decodeRuns(t, "peer", runs); !reflect.DeepEqual(got, tc.recs) {
				t.Fatalf("runs decode to %d records, want %d", len(got), len(tc.recs))
			}
		})
	}
}

// A run that reaches above the watermark (which only a writer that breaks
// the ordering rule, or an older format, could leave) is trimmed by Load,
// so records written above the watermark afterwards are served in order
// and none below it goes missing.
func TestLoadTrimsIndexAboveWatermark(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	first := recs("a", 0, 10, 8)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 1, 10), Records: first}}})
	// Leftovers: records 11..15 in one run, then a meta that vouches for
	// 11 and 12 only, so the run straddles the watermark.
	if err := s.writeRecords("p", 1, recs("b", 10, 5, 8)); err != nil {
		t.Fatal(err)
	}
	m := meta("p", 1, 12)
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(metaKey("p"), encodeMeta(&m)) }); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)

	s = openDir(t, dir)
	defer mustClose(t, s)
	if got := loadAll(t, s)["p"]; len(got.recs) != 12 {
		t.Fatalf("loaded %d records, want 12", len(got.recs))
	}
	if n := indexCount(t, s, "p"); n != 12 {
		t.Fatalf("%d index entries after Load, want 12", n)
	}
	// New records above the watermark, at versions the trimmed run held.
	more := recs("c", 12, 4, 8)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 1, 16), Records: more}}})
	var versions []uint64
	if _, err := s.Scan(meta("p", 1, 16), 0, func(r *lsync.Record) bool {
		versions = append(versions, r.Version)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(versions) != 16 || versions[0] != 1 || versions[15] != 16 {
		t.Fatalf("scan served versions %v, want 1..16", versions)
	}
	if n := indexCount(t, s, "p"); n != 16 {
		t.Fatalf("%d index entries, want 16", n)
	}
}

// A corrupt run is an error for its reader, never a panic.
func FuzzRunReader(f *testing.F) {
	for _, rs := range [][]lsync.Record{recs("k", 0, 3, 1), recs("key", 100, 40, 1)} {
		for _, e := range runsOf("p", rs) {
			f.Add(e.Value, rs[0].Version)
		}
	}
	f.Add([]byte{0xff, 0xff, 0xff}, uint64(1))
	f.Fuzz(func(t *testing.T, v []byte, first uint64) {
		prev, n := first, 0
		err := forEachRunEntry(v, first, func(ver uint64, key []byte) {
			if n > 0 && ver < prev {
				t.Fatalf("version %d after %d", ver, prev)
			}
			prev = ver
			n++
		})
		if err == nil && n > len(v) {
			t.Fatalf("%d entries out of %d bytes", n, len(v))
		}
	})
}

// TestSweepDeletesCollectedTombstones: the core lists for deletion only the
// tombstones of the batch that raises a node's horizon; the index sweep
// deletes the committed ones the horizon passed (record and index entry),
// and nothing else.
func TestSweepDeletesCollectedTombstones(t *testing.T) {
	s := openMem(t)
	m := meta("p", 7, 4)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m, Records: []lsync.Record{
		{Key: "a", Value: []byte("t"), Version: 1, Tombstone: true},
		{Key: "b", Value: []byte("v"), Version: 2},
		{Key: "c", Value: []byte("t"), Version: 3, Tombstone: true},
		{Key: "d", Value: []byte("t"), Version: 4, Tombstone: true},
	}}}})
	m.GCVersion = 3
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m}}})
	if n := rawRecordCount(t, s, "p"); n != 4 {
		t.Fatalf("%d records before the sweep, want 4", n)
	}
	if n, err := s.SweepIndex(); err != nil || n != 2 {
		t.Fatalf("sweep dropped %d entries (%v), want a's and c's", n, err)
	}
	if n := rawRecordCount(t, s, "p"); n != 2 {
		t.Fatalf("%d records after the sweep, want b and d", n)
	}
	if n := indexCount(t, s, "p"); n != 2 {
		t.Fatalf("%d index entries after the sweep, want 2", n)
	}
	for key, want := range map[string]bool{"a": false, "b": true, "c": false, "d": true} {
		if _, ok, err := s.Get("p", key); err != nil || ok != want {
			t.Errorf("%s held: %v (%v), want %v", key, ok, err, want)
		}
	}
}
