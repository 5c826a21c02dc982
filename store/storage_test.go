package store

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// scanVersions scans view from after, accepting at most limit records (-1:
// all), and returns the versions given and where the scan says it is
// complete to.
func scanVersions(t *testing.T, s *Badger, view lsync.PeerMeta, after uint64, limit int) ([]uint64, uint64) {
	t.Helper()
	var got []uint64
	through, err := s.Scan(view, after, func(r *lsync.Record) bool {
		if limit >= 0 && len(got) == limit {
			return false
		}
		got = append(got, r.Version)
		return true
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return got, through
}

// TestScanServesWhatTheViewVouchesFor: k0..k9 at versions 1..10, then k3
// overwritten at 11 and k5 deleted at 12. A scan serves each key once at
// its current version, ascending; cut by its callback it reports where it
// is complete to; given a view behind the store (a batch applied but not
// committed by the core yet) it stops where the view's record was
// overwritten; a view of another generation or horizon gets nothing.
func TestScanServesWhatTheViewVouchesFor(t *testing.T) {
	s := openMem(t)
	defer mustClose(t, s)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 1, 10), Records: recs("k", 0, 10, 4)}}})
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 1, 12), Records: []lsync.Record{
		{Key: "k0000003", Value: []byte("new"), Version: 11},
		{Key: "k0000005", Value: lsync.TombstoneValue(1), Version: 12, Tombstone: true},
	}}}})
	view := func(gen, max, gc uint64) lsync.PeerMeta {
		m := meta("p", gen, max)
		m.GCVersion = gc
		return m
	}
	for _, tc := range []struct {
		name    string
		view    lsync.PeerMeta
		after   uint64
		limit   int
		want    []uint64
		through uint64
	}{
		{"all", view(1, 12, 0), 0, -1, []uint64{1, 2, 3, 5, 7, 8, 9, 10, 11, 12}, 12},
		{"from a watermark", view(1, 12, 0), 10, -1, []uint64{11, 12}, 12},
		{"stale entries skipped", view(1, 12, 0), 3, -1, []uint64{5, 7, 8, 9, 10, 11, 12}, 12},
		{"cut by the callback", view(1, 12, 0), 0, 3, []uint64{1, 2, 3}, 4},
		{"view behind the store", view(1, 10, 0), 0, -1, []uint64{1, 2, 3}, 3},
		{"nothing after the watermark", view(1, 12, 0), 12, -1, nil, 12},
		{"another generation", view(2, 12, 0), 0, -1, nil, 0},
		{"another horizon", view(1, 12, 12), 0, -1, nil, 0},
		{"unknown peer", lsync.PeerMeta{ID: "q", Generation: 1, MaxVersion: 5}, 0, -1, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, through := scanVersions(t, s, tc.view, tc.after, tc.limit)
			if !reflect.DeepEqual(got, tc.want) || through != tc.through {
				t.Fatalf("got %v through %d, want %v through %d", got, through, tc.want, tc.through)
			}
		})
	}

	for _, tc := range []struct {
		key     string
		version uint64
		tomb    bool
		found   bool
	}{
		{"k0000003", 11, false, true},
		{"k0000005", 12, true, true},
		{"k0000009", 10, false, true},
		{"nope", 0, false, false},
	} {
		r, ok, err := s.Get("p", tc.key)
		if err != nil || ok != tc.found || r.Version != tc.version || r.Tombstone != tc.tomb {
			t.Errorf("Get(%s) = %+v, %v, %v; want version %d tombstone %v found %v", tc.key, r, ok, err, tc.version, tc.tomb, tc.found)
		}
	}
	// Collected at 12: the tombstone is neither scanned nor got.
	m := meta("p", 1, 12)
	m.GCVersion = 12
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m, Drop: []string{"k0000005"}}}})
	if _, ok, err := s.Get("p", "k0000005"); ok || err != nil {
		t.Fatalf("collected tombstone got: %v %v", ok, err)
	}
	if got, _ := scanVersions(t, s, m, 10, -1); !reflect.DeepEqual(got, []uint64{11}) {
		t.Fatalf("after collection scanned %v, want [11]", got)
	}
}

// BenchmarkScan reads one 4 MiB delta's worth of 100-byte records (about
// 30,000) from a store of 200,000, as a sender serving a catch-up does:
// keys written in key order (sequential) and in random order (random), so
// that a delta's keys are dense or scattered in the key space.
func BenchmarkScan(b *testing.B) {
	for _, random := range []bool{false, true} {
		name := "sequential"
		if random {
			name = "random"
		}
		b.Run(name, func(b *testing.B) { benchScan(b, random) })
	}
}

func benchScan(b *testing.B, random bool) {
	s := openDir(b, b.TempDir())
	defer mustClose(b, s)
	const n = 200_000
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if random {
		rand.New(rand.NewPCG(1, 2)).Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	for i := 0; i < n; i += 20_000 {
		rs := recs("k", uint64(i), 20_000, 100)
		for j := range rs {
			rs[j].Key = fmt.Sprintf("k%07d", order[i+j])
		}
		mustApply(b, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", 1, uint64(i+20_000)), Records: rs}}})
	}
	view := meta("p", 1, n)
	b.ResetTimer()
	got := 0
	for i := 0; i < b.N; i++ {
		used := 0
		after := uint64(i*30_000) % (n - 30_000)
		if _, err := s.Scan(view, after, func(r *lsync.Record) bool {
			used += len(r.Key) + len(r.Value) + 16
			got++
			return used < 4<<20
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(got), "ns/record")
}

// TestRefutationRelabels: a refutation through the core reaches the store
// as a relabel carrying no records; once applied, the node's records are
// served at the new generation, and the roll-forward leaves no marker.
func TestRefutationRelabels(t *testing.T) {
	s := openMem(t)
	st, err := lsync.NewState(lsync.Config{Cluster: "test", Self: meta("me", 10, 0), Heartbeat: 1,
		PacketBudget: 1400, MessageBudget: 4 << 20, Storage: s})
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.LocalWrite([]lsync.Record{{Key: "a", Value: []byte("1"), Version: 1}, {Key: "b", Value: []byte("2"), Version: 2}})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, b)
	st.Commit(b)
	st.SetTime(50)
	st.SetGenerationCeiling(1 << 40)
	step := st.HandleDeferred(&lsync.Syn{Cluster: "test", From: "p", Digest: []lsync.DigestEntry{
		{ID: "p", Generation: 1, Heartbeat: 1}, {ID: "me", Generation: 1000, Heartbeat: 1}}}, "", nil)
	var own *lsync.PeerChange
	for i := range step.Batch.Changes {
		if c := &step.Batch.Changes[i]; c.Meta.ID == "me" {
			own = c
		}
	}
	if own == nil || own.Reset || own.Relabel != 10 || len(own.Records) != 0 || own.Meta.Generation != 1001 || own.Meta.MaxVersion != 2 {
		t.Fatalf("refuting change %+v: want a relabel 10 -> 1001 at watermark 2, no records", own)
	}
	mustApply(t, s, step.Batch)
	st.Commit(step.Batch)
	if r, ok := st.Get("me", "b"); !ok || string(r.Value) != "2" {
		t.Fatalf("own record through the core after the refutation: %+v %v", r, ok)
	}
	waitNoMarker(t, s)
	if got := loadAll(t, s)["me"]; got.meta.Generation != 1001 || len(got.recs) != 2 {
		t.Fatalf("after the refutation: generation %d, %d records; want 1001, 2", got.meta.Generation, len(got.recs))
	}
}
