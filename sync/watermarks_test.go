package sync

import (
	"math/rand"
	"testing"

	"github.com/leviathan-gossip/leviathan/sync/proof"
)

// signedHorizons makes s take horizons as the map states them, as an
// engine does with the records it holds.
func signedHorizons(s *State, signed map[string]uint64) {
	s.SetSignedHorizons(func(id string) uint64 { return signed[id] })
}

// gcPair is owner a, which wrote j and k, deleted k and collected it
// (horizon 3), and b, which holds a's data and tombstone, not the horizon.
func gcPair(t *testing.T, signed map[string]uint64) (a, b *State) {
	t.Helper()
	rng := rand.New(rand.NewSource(1))
	a, b = newTestState(t, "a", 1), newTestState(t, "b", 1)
	if signed != nil {
		signedHorizons(a, signed)
		signedHorizons(b, signed)
	}
	write(t, a, "k", "v", "j", "w")
	exchange(t, a, b, rng)
	del(t, a, 100, "k")
	exchange(t, a, b, rng)
	collect(a, 100+grace)
	if a.Self().GCVersion != 3 {
		t.Fatalf("setup: a's horizon %d, want 3", a.Self().GCVersion)
	}
	if r, ok := b.Get("a", "k"); !ok || !r.Tombstone {
		t.Fatalf("setup: b lacks a's tombstone: %+v %v", r, ok)
	}
	return a, b
}

// TestSignedHorizonFollowsRecord: a signed node shows its horizon only as
// far as its record states it, and its peer drops its tombstones only
// that far, whatever a relay claims; once the record states it, they go.
func TestSignedHorizonFollowsRecord(t *testing.T) {
	signed := map[string]uint64{}
	a, b := gcPair(t, signed)
	rng := rand.New(rand.NewSource(2))
	hb := func() uint64 { p, _ := b.Peer("a"); return p.Heartbeat }
	steps := []struct {
		name   string
		do     func()
		signed uint64 // a's record's horizon during the step
		kept   bool   // b still holds the tombstone after it
		gc     uint64 // b's horizon of a after it
	}{
		{"a's own exchange, record at 0", func() { exchange(t, a, b, rng) }, 0, true, 0},
		{"a relay claims 3", func() {
			commitTo(b, relay(b, DigestEntry{ID: "a", Addr: "a:1", Generation: 1, Heartbeat: hb(), MaxVersion: 3, GCVersion: 3}).Batch)
		}, 0, true, 0},
		{"a relay claims 3, record at 2", func() {
			commitTo(b, relay(b, DigestEntry{ID: "a", Addr: "a:1", Generation: 1, Heartbeat: hb(), MaxVersion: 3, GCVersion: 3}).Batch)
		}, 2, true, 2},
		{"a's own exchange, record at 3", func() { exchange(t, a, b, rng) }, 3, false, 3},
	}
	for _, st := range steps {
		signed["a"] = st.signed
		st.do()
		if _, ok := b.Get("a", "k"); ok != st.kept {
			t.Fatalf("%s: tombstone held %v, want %v", st.name, ok, st.kept)
		}
		if p, _ := b.Peer("a"); p.GCVersion != st.gc {
			t.Fatalf("%s: b's horizon of a %d, want %d", st.name, p.GCVersion, st.gc)
		}
		// A horizon not signed yet must not keep quiet rounds loud: a's
		// summary of itself is b's of a.
		pa := b.peers["a"]
		if st.gc == st.signed && memberHash(a.self, a.shownGC(a.self)) != memberHash(pa, b.shownGC(pa)) {
			t.Fatalf("%s: a's summary of itself differs from b's", st.name)
		}
	}
	if r, ok := b.Get("a", "j"); !ok || string(r.Value) != "w" {
		t.Fatalf("a's live key lost: %+v %v", r, ok)
	}
}

// TestForgedWatermarkDeltas: deltas of a's data from another node,
// claiming a horizon or a watermark a never signed or proved. Unsigned,
// the core believes them (within the version ceiling); signed, a Reset
// is refused and a watermark cut, each counted, and b keeps a's data.
func TestForgedWatermarkDeltas(t *testing.T) {
	recs, pr := sealRecs(t, "a", 1, 5)
	tests := []struct {
		name string
		nd   NodeDelta
		// Unsigned and signed: b's watermark of a after the delta, and
		// whether it still holds j.
		unsignedMax, signedMax   uint64
		unsignedKeep, signedKeep bool
	}{
		{"a Reset from a horizon a never reached",
			NodeDelta{ID: "a", Generation: 1, To: 100, GCVersion: 100, Clean: 100, Reset: true},
			100, 3, false, true},
		{"a watermark alone, far above",
			NodeDelta{ID: "a", Generation: 1, From: 3, To: 1000, GCVersion: 0, Clean: 1000},
			1000, 3, true, true},
		{"proven records, watermark above their batch",
			NodeDelta{ID: "a", Generation: 1, To: 1000, Clean: 1000, Records: recs, Proofs: []*proof.Proof{pr}},
			1000, 5, true, true},
	}
	for _, tt := range tests {
		for _, signedMode := range []bool{false, true} {
			name := tt.name + map[bool]string{false: ", unsigned", true: ", signed"}[signedMode]
			t.Run(name, func(t *testing.T) {
				var signed map[string]uint64
				if signedMode {
					signed = map[string]uint64{"a": 0}
				}
				_, b := gcPair(t, signed)
				b.cfg.RecordProofs = true
				before := b.Stats().UnsignedWatermarks
				st := b.Handle(&Ack{Cluster: "test", From: "r", Deltas: []NodeDelta{tt.nd}}, rand.New(rand.NewSource(1)))
				commitTo(b, st.Batch)
				wantMax, wantKeep := tt.unsignedMax, tt.unsignedKeep
				if signedMode {
					wantMax, wantKeep = tt.signedMax, tt.signedKeep
				}
				p, _ := b.Peer("a")
				if p.MaxVersion != wantMax {
					t.Errorf("b's watermark of a %d, want %d", p.MaxVersion, wantMax)
				}
				if _, ok := b.Get("a", "j"); ok != wantKeep {
					t.Errorf("b holds a's key j: %v, want %v", ok, wantKeep)
				}
				if counted := b.Stats().UnsignedWatermarks > before; counted != signedMode {
					t.Errorf("counted %v, want %v", counted, signedMode)
				}
			})
		}
	}
}

// TestSignedLagOwnWordOnly: signed, a relayed watermark of p is the
// relay's word on its own copy and starts no lag; p's own word does.
func TestSignedLagOwnWordOnly(t *testing.T) {
	for _, signedMode := range []bool{false, true} {
		s := claimsState(t)
		if signedMode {
			signedHorizons(s, map[string]uint64{})
		}
		relay(s, DigestEntry{ID: "p", Addr: "p:1", Generation: 1, Heartbeat: claimsHB + 1, MaxVersion: 50})
		if behind, _ := s.Lag("p"); (behind == 50) == signedMode {
			t.Fatalf("signed %v: relayed watermark gave a lag of %d", signedMode, behind)
		}
		s.HandleFrom(&Syn{Cluster: "test", From: "p", Digest: []DigestEntry{
			{ID: "p", Addr: "p:1", Generation: 1, Heartbeat: claimsHB + 2, MaxVersion: 40}}}, "p:1", rand.New(rand.NewSource(1)))
		if behind, _ := s.Lag("p"); behind != 40 {
			t.Fatalf("signed %v: p's own watermark gave a lag of %d, want 40", signedMode, behind)
		}
	}
}

// TestSignedOwnFloor: a watermark of this node that it never stated
// raises its version floor unsigned; signed, only records proven under
// its own key do, as far as their batch goes.
func TestSignedOwnFloor(t *testing.T) {
	recs, pr := sealRecs(t, "me", 1, 7)
	tests := []struct {
		name                    string
		msg                     Message
		unsignedFloor, signedFl uint64
	}{
		{"a digest entry", &Syn{Cluster: "test", From: "r", Digest: []DigestEntry{
			{ID: "me", Addr: "me:1", Generation: 1, Heartbeat: 1, MaxVersion: 500, GCVersion: 400}}}, 500, 0},
		{"a delta without records", &Ack{Cluster: "test", From: "r", Deltas: []NodeDelta{
			{ID: "me", Generation: 1, To: 500, Clean: 500}}}, 500, 0},
		{"a delta of proven records, watermark above them", &Ack{Cluster: "test", From: "r", Deltas: []NodeDelta{
			{ID: "me", Generation: 1, To: 500, Clean: 500, Records: recs, Proofs: []*proof.Proof{pr}}}}, 500, 7},
	}
	for _, tt := range tests {
		for _, signedMode := range []bool{false, true} {
			s := claimsState(t)
			s.cfg.RecordProofs = true
			if signedMode {
				signedHorizons(s, map[string]uint64{})
			}
			commitTo(s, s.HandleFrom(tt.msg, "r:1", rand.New(rand.NewSource(1))).Batch)
			want := tt.unsignedFloor
			if signedMode {
				want = tt.signedFl
			}
			if got := s.VersionFloor(); got != want {
				t.Errorf("%s, signed %v: floor %d, want %d", tt.name, signedMode, got, want)
			}
			if s.Self().MaxVersion != 0 {
				t.Errorf("%s, signed %v: own watermark moved to %d", tt.name, signedMode, s.Self().MaxVersion)
			}
		}
	}
}
