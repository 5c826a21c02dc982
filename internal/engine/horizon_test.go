package engine

import (
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
)

// TestHorizonGate: an entry of p showing a GC horizon above the one p's
// record held states is refused when it names that record or an older
// one, and only cut when it names a newer record, which may be on its
// way; a horizon within the record passes.
func TestHorizonGate(t *testing.T) {
	s := newSignedSet(t, "a", "p")
	cases := []struct {
		name     string
		seq      func(held uint64) uint64
		gc       uint64
		rejected bool
	}{
		{"the record held, horizon above it", func(h uint64) uint64 { return h }, 5, true},
		{"an older record, horizon above", func(h uint64) uint64 { return h - 1 }, 5, true},
		{"a newer record, horizon above the held one", func(h uint64) uint64 { return h + 1 }, 5, false},
		{"the record held, its horizon", func(h uint64) uint64 { return h }, 0, false},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := joinedPair(t, s)
			rec, _ := a.Record("p")
			held, _ := a.State().Peer("p")
			e := lsync.DigestEntry{ID: "p", Addr: held.Addr, Generation: held.Generation, Heartbeat: held.Heartbeat,
				GCVersion: tt.gc, RecordSeq: tt.seq(rec.Seq)}
			rd := deliver(t, a, t0.Add(time.Second), "m:1", &lsync.Syn{Cluster: "test", From: "m", Digest: []lsync.DigestEntry{e}})
			got := len(rd.Rejected) > 0 && rd.Rejected[0].Reason == UnsignedWatermark
			if got != tt.rejected || len(rd.Rejected) > 1 {
				t.Fatalf("rejected %+v, want unsigned_watermark %v", rd.Rejected, tt.rejected)
			}
			if tt.rejected && a.RecordStats().UnsignedWatermarks != 1 {
				t.Fatalf("counted %d", a.RecordStats().UnsignedWatermarks)
			}
			if after, _ := a.State().Peer("p"); after.GCVersion != 0 {
				t.Fatalf("p's horizon moved to %d", after.GCVersion)
			}
		})
	}
}

// TestHorizonResigned: a node's record states its GC horizon once it has
// collected, signed again no sooner than horizonResign after the last;
// meanwhile its entries show the horizon signed.
func TestHorizonResigned(t *testing.T) {
	s := newSignedSet(t, "a")
	a := s.engine(t, "a", t0)
	now := t0
	do := func(rd Ready) {
		a.Commit(&rd)
		rd.ReadDeltas()
		a.NoteSent(&rd)
	}
	rd, err := a.Write(now, []lsync.Record{{Key: "k", Value: []byte("v")}, {Key: "j", Value: []byte("w")}})
	if err != nil {
		t.Fatal(err)
	}
	do(rd)
	if rd, err = a.Write(now, []lsync.Record{{Key: "k", Tombstone: true, Value: lsync.TombstoneValue(uint64(now.UnixMilli()))}}); err != nil {
		t.Fatal(err)
	}
	do(rd)
	now = now.Add(time.Hour + time.Second) // past the grace
	scan := a.PlanCollect(now)
	if scan == nil {
		t.Fatal("nothing to collect")
	}
	scan.Read()
	do(a.Collect(scan))
	gc := a.State().Self().GCVersion
	if gc == 0 {
		t.Fatal("setup: nothing collected")
	}
	signedGC := func() uint64 {
		rec, err := identity.ParseNodeRecord(a.OwnRecord())
		if err != nil {
			t.Fatal(err)
		}
		return rec.GCVersion
	}
	shown := func() uint64 { return a.Syn().Digest[0].GCVersion }
	steps := []struct {
		name   string
		at     time.Time
		signed uint64
	}{
		{"an hour after the record was signed", now, gc},
		{"collected again at once", now.Add(time.Second), gc},
		{"a minute later", now.Add(time.Second + horizonResign), gc + 1},
	}
	for i, st := range steps {
		if i == 1 {
			// Another delete, collected at once: the horizon moves again.
			rd, err := a.Write(st.at.Add(-2*time.Hour), []lsync.Record{{Key: "j", Tombstone: true, Value: lsync.TombstoneValue(uint64(st.at.Add(-2 * time.Hour).UnixMilli()))}})
			if err != nil {
				t.Fatal(err)
			}
			do(rd)
			scan := a.PlanCollect(st.at)
			scan.Read()
			do(a.Collect(scan))
			if a.State().Self().GCVersion != gc+1 {
				t.Fatalf("setup: horizon %d, want %d", a.State().Self().GCVersion, gc+1)
			}
		}
		a.Beat(st.at)
		if got := signedGC(); got != st.signed {
			t.Fatalf("%s: record states horizon %d, want %d", st.name, got, st.signed)
		}
		if got := shown(); got != st.signed {
			t.Fatalf("%s: own entry shows horizon %d, want %d", st.name, got, st.signed)
		}
	}
}

// TestHorizonKept: with KeepHorizons the local record states the horizon
// the driver keeps, even above the node's own (a wiped store), and a
// horizon the node reaches is signed only once the driver, asked once by
// HorizonDue, has kept it (KeptHorizon).
func TestHorizonKept(t *testing.T) {
	s := newSignedSet(t, "a", "b")
	signedGC := func(e *Engine) uint64 {
		rec, err := identity.ParseNodeRecord(e.OwnRecord())
		if err != nil {
			t.Fatal(err)
		}
		return rec.GCVersion
	}

	// A wiped store: no horizon of its own, 7 kept.
	a := s.engine(t, "a", t0)
	a.KeepHorizons(7)
	if _, err := a.SignRecord(t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, shown := signedGC(a), a.Syn().Digest[0].GCVersion; got != 7 || shown != 0 {
		t.Fatalf("record states horizon %d, entry shows %d; want 7 and 0", got, shown)
	}
	if h, ok := a.HorizonDue(); ok {
		t.Fatalf("asked to keep %d, above nothing collected", h)
	}

	b := s.engine(t, "b", t0)
	b.KeepHorizons(0)
	now := t0.Add(time.Hour + time.Second)
	gc := collectOne(t, b, t0, now)
	b.Beat(now)
	if got := signedGC(b); got != 0 {
		t.Fatalf("record states horizon %d before the driver kept it", got)
	}
	h, ok := b.HorizonDue()
	if !ok || h != gc {
		t.Fatalf("asked to keep %d (%v), want %d", h, ok, gc)
	}
	b.Beat(now.Add(time.Second))
	if h, ok := b.HorizonDue(); ok {
		t.Fatalf("asked again to keep %d", h)
	}
	b.KeptHorizon(gc, now.Add(time.Second))
	b.KeptHorizon(gc-1, now.Add(2*time.Second)) // kept late: no lower
	if got, shown := signedGC(b), b.Syn().Digest[0].GCVersion; got != gc || shown != gc {
		t.Fatalf("record states horizon %d, entry shows %d; want %d", got, shown, gc)
	}
}

// collectOne writes a key at e, deletes it at written and collects its
// tombstone at now, past the grace; it returns e's horizon then.
func collectOne(t *testing.T, e *Engine, written, now time.Time) uint64 {
	t.Helper()
	do := func(rd Ready) {
		e.Commit(&rd)
		rd.ReadDeltas()
		e.NoteSent(&rd)
	}
	for _, r := range []lsync.Record{{Key: "k", Value: []byte("v")}, {Key: "k", Tombstone: true, Value: lsync.TombstoneValue(uint64(written.UnixMilli()))}} {
		rd, err := e.Write(written, []lsync.Record{r})
		if err != nil {
			t.Fatal(err)
		}
		do(rd)
	}
	scan := e.PlanCollect(now)
	if scan == nil {
		t.Fatal("nothing to collect")
	}
	scan.Read()
	do(e.Collect(scan))
	gc := e.State().Self().GCVersion
	if gc == 0 {
		t.Fatal("setup: nothing collected")
	}
	return gc
}
