package sync

import (
	"errors"
	"fmt"
	"math/rand"
	"testing"
)

// restored returns the state of node "me" after a restart whose store kept
// its records up to version kept (key k<v> at version v).
func restored(t *testing.T, kept uint64) *State {
	t.Helper()
	s := newTestState(t, "me", 1)
	var recs []Record
	for v := uint64(1); v <= kept; v++ {
		recs = append(recs, Record{Key: keyAt(v), Value: []byte("x"), Version: v})
	}
	if err := s.Restore(PeerMeta{ID: "me", Generation: 1, MaxVersion: kept}, recs); err != nil {
		t.Fatal(err)
	}
	s.ExpectLostTail(0, 1000)
	return s
}

func keyAt(v uint64) string { return string(rune('a' + v)) }

// ownDelta is a peer's delta of "me" from..to.
func ownDelta(gen, from, to uint64) NodeDelta {
	nd := NodeDelta{ID: "me", Generation: gen, From: from, To: to, Clean: to}
	for v := from + 1; v <= to; v++ {
		nd.Records = append(nd.Records, Record{Key: keyAt(v), Value: []byte("x"), Version: v})
	}
	return nd
}

// TestLostTailTakenBack: records of the local node above its watermark,
// at its generation and gap-free, are taken back until its first write;
// nothing at or below the watermark, of another generation, with a gap or
// after a write is taken.
func TestLostTailTakenBack(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	tests := []struct {
		name      string
		delta     NodeDelta
		wroteOnce bool
		clean     bool   // started without ExpectLostTail
		want      uint64 // watermark after the batch
		recs      int
	}{
		{"tail above the watermark", ownDelta(1, 5, 10), false, false, 10, 5},
		{"overlapping: only what is missing", ownDelta(1, 2, 10), false, false, 10, 5},
		{"nothing missing", ownDelta(1, 0, 5), false, false, 5, 0},
		{"gap", ownDelta(1, 6, 10), false, false, 5, 0},
		{"older generation", ownDelta(0, 5, 10), false, false, 5, 0},
		{"after this run wrote", ownDelta(1, 5, 10), true, false, 6, 0},
		{"after a clean start", ownDelta(1, 5, 10), false, true, 5, 0},
		{"implausibly far ahead", NodeDelta{ID: "me", Generation: 1, From: 5, To: 5 + maxClaimAhead + 1, Clean: 5 + maxClaimAhead + 1}, false, false, 5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := restored(t, 5)
			if tt.clean {
				s.tail = ownTail{}
			}
			if tt.wroteOnce {
				write(t, s, "z", "1")
			}
			st := s.Handle(&Ack{Cluster: "test", From: "p", Deltas: []NodeDelta{tt.delta}}, rng)
			if st.Batch.Len() != tt.recs {
				t.Fatalf("batch has %d records, want %d", st.Batch.Len(), tt.recs)
			}
			commitTo(s, st.Batch)
			if got := s.Self().MaxVersion; got != tt.want {
				t.Fatalf("watermark %d, want %d", got, tt.want)
			}
			if s.Stats().OwnRecovered != uint64(tt.recs) {
				t.Fatalf("OwnRecovered %d, want %d", s.Stats().OwnRecovered, tt.recs)
			}
		})
	}
}

// TestWritableAfterLostTail: after a possibly lossy boot, writes wait for
// a peer's complete answer or the wait to pass; a claimed tail holds them
// until taken back or the claim is old; the floor stays above every claim.
func TestWritableAfterLostTail(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	const wait = 1000
	t.Run("waits for a peer's answer", func(t *testing.T) {
		s := restored(t, 5)
		s.ExpectLostTail(100, wait)
		if err := s.Writable(); !errors.Is(err, ErrRecovering) {
			t.Fatalf("writable before any peer answered: %v", err)
		}
		s.Handle(&SynAck{Cluster: "test", From: "p", More: true}, rng)
		if err := s.Writable(); !errors.Is(err, ErrRecovering) {
			t.Fatalf("writable while the peer had more: %v", err)
		}
		s.Handle(&SynAck{Cluster: "test", From: "p"}, rng)
		if err := s.Writable(); err != nil {
			t.Fatalf("not writable after a complete answer: %v", err)
		}
	})
	t.Run("gives up waiting", func(t *testing.T) {
		s := restored(t, 5)
		s.ExpectLostTail(100, wait)
		s.SetTime(100 + wait + 1)
		if err := s.Writable(); err != nil {
			t.Fatalf("still refused after the wait: %v", err)
		}
	})
	t.Run("claimed tail taken back", func(t *testing.T) {
		s := restored(t, 5)
		s.ExpectLostTail(100, wait)
		st := s.Handle(&SynAck{Cluster: "test", From: "p", Deltas: []NodeDelta{ownDelta(1, 5, 10)}}, rng)
		if err := s.Writable(); !errors.Is(err, ErrRecovering) {
			t.Fatalf("writable before the tail is durable: %v", err)
		}
		if s.VersionFloor() != 10 {
			t.Fatalf("floor %d, want 10", s.VersionFloor())
		}
		commitTo(s, st.Batch)
		if err := s.Writable(); err != nil {
			t.Fatalf("not writable once the tail is back: %v", err)
		}
	})
	t.Run("claim nobody backs expires, floor stays", func(t *testing.T) {
		s := restored(t, 5)
		s.SetTime(100)
		s.ExpectLostTail(100, wait)
		s.Handle(&Syn{Cluster: "test", From: "p", Digest: []DigestEntry{
			{ID: "p", Generation: 1, Heartbeat: 1}, {ID: "me", Generation: 1, MaxVersion: 50}}}, rng)
		s.Handle(&SynAck{Cluster: "test", From: "p"}, rng)
		if err := s.Writable(); !errors.Is(err, ErrRecovering) {
			t.Fatalf("writable under an unmet claim: %v", err)
		}
		s.SetTime(100 + wait + 1)
		if err := s.Writable(); err != nil {
			t.Fatalf("an old claim still holds writes: %v", err)
		}
		if s.VersionFloor() != 50 {
			t.Fatalf("floor %d, want 50: a claimed version could be issued again", s.VersionFloor())
		}
		if _, err := s.LocalWrite([]Record{{Key: "n", Version: 51}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("claims ignored beyond the bound or once written", func(t *testing.T) {
		s := restored(t, 5)
		s.Handle(&Syn{Cluster: "test", From: "p", Digest: []DigestEntry{
			{ID: "me", Generation: 1, MaxVersion: 6 + maxClaimAhead}}}, rng)
		if s.VersionFloor() != 5 {
			t.Fatalf("floor %d after an implausible claim", s.VersionFloor())
		}
		write(t, s, "n", "1")
		s.Handle(&Syn{Cluster: "test", From: "p", Digest: []DigestEntry{{ID: "me", Generation: 1, MaxVersion: 60}}}, rng)
		if err := s.Writable(); err != nil {
			t.Fatalf("a claim after this run's first write holds writes back: %v", err)
		}
		// Not taken as a lost tail, yet the next version goes above it:
		// whoever holds that watermark would ignore anything below.
		if s.VersionFloor() != 60 {
			t.Fatalf("floor %d, want 60: the next write would fall below a watermark peers hold", s.VersionFloor())
		}
	})
}

// wiped returns the state of node "me" at generation 1 on a new store
// after a wipe, at time 100 with a wait of 1000 ms and a cap of 5000.
func wiped(t *testing.T) *State {
	t.Helper()
	s := newTestState(t, "me", 1)
	s.SetTime(100)
	s.ExpectWipedData(100, 1000, 5000)
	return s
}

// resetDelta is a peer's refill of "me" from its current state: records
// 3..to, its horizon at 2 (versions 1 and 2 were collected tombstones).
func resetDelta(to uint64) NodeDelta {
	nd := NodeDelta{ID: "me", Generation: 1, To: to, Clean: to, GCVersion: 2, Reset: true}
	for v := uint64(3); v <= to; v++ {
		nd.Records = append(nd.Records, Record{Key: keyAt(v), Value: []byte("x"), Version: v})
	}
	return nd
}

// TestWipedDataTakenBack: a wiped store takes a peer's refill of its own
// records (a reset delta), which a store that only lost a tail refuses.
func TestWipedDataTakenBack(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	tests := []struct {
		name  string
		state func(t *testing.T) *State
		delta NodeDelta
		want  uint64 // watermark after the batch
		recs  int
	}{
		{"refill of a wiped store", wiped, resetDelta(10), 10, 8},
		{"refill showing no horizon above ours", wiped, func() NodeDelta { nd := resetDelta(10); nd.GCVersion = 0; return nd }(), 10, 8},
		{"delta of a wiped store", wiped, ownDelta(1, 0, 10), 10, 10},
		{"refill after a lost tail", func(t *testing.T) *State { return restored(t, 0) }, resetDelta(10), 0, 0},
		{"refill of another generation", wiped, func() NodeDelta { nd := resetDelta(10); nd.Generation = 0; return nd }(), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.state(t)
			st := s.Handle(&Ack{Cluster: "test", From: "p", Deltas: []NodeDelta{tt.delta}}, rng)
			if st.Batch.Len() != tt.recs {
				t.Fatalf("batch has %d records, want %d", st.Batch.Len(), tt.recs)
			}
			commitTo(s, st.Batch)
			if got := s.Self().MaxVersion; got != tt.want {
				t.Fatalf("watermark %d, want %d", got, tt.want)
			}
			if f, gc := s.VersionFloor(), s.Self().GCVersion; f < gc {
				t.Fatalf("version floor %d below the horizon %d", f, gc)
			}
		})
	}
}

// TestWipedFloorAboveHorizon: a refill whose watermark is cut below its
// horizon (its last versions were collected tombstones) leaves the next
// version above the horizon.
func TestWipedFloorAboveHorizon(t *testing.T) {
	s := wiped(t)
	nd := resetDelta(10)
	nd.GCVersion, nd.Clean = 12, 12 // versions 11 and 12 were collected tombstones
	st := s.Handle(&Ack{Cluster: "test", From: "p", Deltas: []NodeDelta{nd}}, rand.New(rand.NewSource(5)))
	commitTo(s, st.Batch)
	if s.Self().MaxVersion != 10 || s.VersionFloor() != 12 {
		t.Fatalf("watermark %d, floor %d: want 10 and 12", s.Self().MaxVersion, s.VersionFloor())
	}
}

// TestWritableAfterWipe: a wiped store's writes wait for a complete answer
// from a peer that showed it holds the node's data, not from any peer;
// records coming back restart the wait, up to the cap.
func TestWritableAfterWipe(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	t.Run("an answer from a peer that never knew it", func(t *testing.T) {
		s := wiped(t)
		s.Handle(&SynAck{Cluster: "test", From: "p"}, rng)
		if err := s.Writable(); !errors.Is(err, ErrRecovering) {
			t.Fatalf("writable after the answer of a peer with nothing of it: %v", err)
		}
		s.SetTime(100 + 1000 + 1)
		if err := s.Writable(); err != nil {
			t.Fatalf("still refused after the wait: %v", err)
		}
	})
	t.Run("an answer from a holder", func(t *testing.T) {
		s := wiped(t)
		st := s.Handle(&SynAck{Cluster: "test", From: "p", Deltas: []NodeDelta{ownDelta(1, 0, 5)}}, rng)
		commitTo(s, st.Batch)
		if err := s.Writable(); err != nil {
			t.Fatalf("not writable after the holder's complete answer: %v", err)
		}
	})
	t.Run("records coming back hold writes, up to the cap", func(t *testing.T) {
		s := wiped(t)
		s.Handle(&Syn{Cluster: "test", From: "p", Digest: []DigestEntry{{ID: "me", Generation: 1, MaxVersion: 1000}}}, rng)
		for v, now := uint64(0), uint64(100); v < 20; v, now = v+1, now+900 {
			s.SetTime(now)
			st := s.Handle(&Ack{Cluster: "test", From: "p", Deltas: []NodeDelta{ownDelta(1, v, v+1)}}, rng)
			commitTo(s, st.Batch)
			err := s.Writable()
			if now-100 <= 5000 && !errors.Is(err, ErrRecovering) {
				t.Fatalf("writable at %d while records keep coming back: %v", now, err)
			}
			if now-100 > 5000+1000 && err != nil {
				t.Fatalf("still refused at %d, past the cap: %v", now, err)
			}
		}
		if s.VersionFloor() != 1000 {
			t.Fatalf("floor %d, want 1000", s.VersionFloor())
		}
	})
}

// TestRefuteNewerGeneration: a peer reporting the local id at a newer
// (plausible) generation makes the node take max(now, seen+1) and relabel
// its records to it; an older, equal or implausible one changes nothing.
func TestRefuteNewerGeneration(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	tests := []struct {
		name    string
		now     uint64
		seen    uint64
		wantGen uint64 // 0: no refutation
	}{
		{"newer, clock behind", 50, 1000, 1001},
		{"newer, clock ahead", 5000, 1000, 5000},
		{"same", 50, 10, 0},
		{"older", 50, 3, 0},
		{"beyond the ceiling", 50, 1 << 50, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestState(t, "me", 10)
			write(t, s, "a", "1", "b", "2")
			s.SetTime(tt.now)
			s.SetGenerationCeiling(1 << 40)
			st := s.Handle(&Syn{Cluster: "test", From: "p", Digest: []DigestEntry{
				{ID: "p", Generation: 1, Heartbeat: 1}, {ID: "me", Generation: tt.seen, Heartbeat: 1}}}, rng)
			commitTo(s, st.Batch)
			gen := s.Self().Generation
			if tt.wantGen == 0 {
				if gen != 10 || s.Stats().Refutations != 0 {
					t.Fatalf("generation %d, %d refutations: want unchanged", gen, s.Stats().Refutations)
				}
				return
			}
			if gen != tt.wantGen || s.Stats().Refutations != 1 {
				t.Fatalf("generation %d, %d refutations: want %d, 1", gen, s.Stats().Refutations, tt.wantGen)
			}
			var own *PeerChange
			for i := range st.Batch.Changes {
				if st.Batch.Changes[i].Meta.ID == "me" {
					own = &st.Batch.Changes[i]
				}
			}
			if own == nil || own.Reset || own.Relabel != 10 || len(own.Records) != 0 || own.Meta.MaxVersion != 2 {
				t.Fatalf("refuting change %+v: want a relabel of generation 10 at watermark 2, no records", own)
			}
			if r, ok := s.Get("me", "b"); !ok || string(r.Value) != "2" {
				t.Fatalf("own record lost by the refutation: %+v %v", r, ok)
			}
			// Peers are told: the next digest carries the new generation.
			if e := s.MakeSyn(rng).Digest[0]; e.ID != "me" || e.Generation != tt.wantGen {
				t.Fatalf("own digest entry %+v", e)
			}
		})
	}
}

// TestRemovedSurvivesRestore: a removal restored at boot keeps a stale
// digest entry from reviving the node; a newer heartbeat revives it, and a
// revived then removed-again node is remembered as long as any other (no
// duplicate in the eviction order evicts it early).
func TestRemovedSurvivesRestore(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	s := newTestState(t, "me", 1)
	if err := s.RestoreRemoved("gone", 3, 100); err != nil {
		t.Fatal(err)
	}
	syn := func(hb uint64) {
		st := s.Handle(&Syn{Cluster: "test", From: "p", Digest: []DigestEntry{{ID: "gone", Generation: 3, Heartbeat: hb}}}, rng)
		commitTo(s, st.Batch)
	}
	syn(100)
	if _, ok := s.Peer("gone"); ok {
		t.Fatal("a stale entry revived a node removed before the restart")
	}
	syn(101)
	if _, ok := s.Peer("gone"); !ok {
		t.Fatal("a newer heartbeat did not revive the node")
	}
	commitTo(s, s.Remove("gone"))
	for i := 0; i < maxRemembered-1; i++ {
		s.removed.add(fmt.Sprintf("other%d", i), 1, 1)
	}
	if len(s.removed.order) != maxRemembered || !s.removed.has("gone") {
		t.Fatalf("order holds %d ids, gone remembered: %v", len(s.removed.order), s.removed.has("gone"))
	}
}

// failingScans is an external MemRecords that counts its scans and fails
// them while fail is set.
type failingScans struct {
	*MemRecords
	fail  bool
	scans int
}

func (f *failingScans) Scan(view PeerMeta, after uint64, fn func(*Record) bool) (uint64, error) {
	f.scans++
	if f.fail {
		return 0, errors.New("disk unreadable")
	}
	return f.MemRecords.Scan(view, after, fn)
}

// TestRefutationReadsNothing: a refutation's change relabels the local
// node's records and carries none, so neither the step nor the batch
// reads the storage: a storage that cannot be read does not stop it, and
// the records are served at the new generation once committed.
func TestRefutationReadsNothing(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	st := &failingScans{MemRecords: NewMemRecords()}
	s, err := NewState(Config{Cluster: "test", Self: PeerMeta{ID: "me", Alias: "me", Addr: "me:1", Generation: 10},
		Heartbeat: 1, PacketBudget: testPacket, MessageBudget: testMessage, Storage: st})
	if err != nil {
		t.Fatal(err)
	}
	apply := func(b *Batch) {
		st.MemRecords.Apply(b)
		s.Commit(b)
	}
	b, err := s.LocalWrite([]Record{{Key: "a", Value: []byte("1"), Version: 1}, {Key: "b", Value: []byte("2"), Version: 2}})
	if err != nil {
		t.Fatal(err)
	}
	apply(b)
	s.SetTime(50)
	s.SetGenerationCeiling(1 << 40)
	st.fail = true
	step := s.HandleDeferred(&Syn{Cluster: "test", From: "p", Digest: []DigestEntry{
		{ID: "p", Generation: 1, Heartbeat: 1}, {ID: "me", Generation: 1000, Heartbeat: 1}}}, "", rng)
	if st.scans != 0 {
		t.Fatalf("the refutation read the storage %d times", st.scans)
	}
	var own *PeerChange
	for i := range step.Batch.Changes {
		if c := &step.Batch.Changes[i]; c.Meta.ID == "me" {
			own = c
		}
	}
	if own == nil || own.Reset || own.Relabel != 10 || len(own.Records) != 0 || own.Meta.Generation != 1001 || own.Meta.MaxVersion != 2 {
		t.Fatalf("refuting change %+v: want a relabel 10 -> 1001 at watermark 2, no records", own)
	}
	apply(step.Batch)
	st.fail = false
	if r, ok := s.Get("me", "b"); !ok || string(r.Value) != "2" || s.Self().Generation != 1001 {
		t.Fatalf("after the refutation: %+v %v, generation %d", r, ok, s.Self().Generation)
	}
	var served []string
	if _, err := st.Scan(s.Self(), 0, func(r *Record) bool { served = append(served, r.Key); return true }); err != nil || len(served) != 2 {
		t.Fatalf("records served at generation 1001: %v %v, want a and b", served, err)
	}
	if info, _ := s.Peer("me"); info.Generation != 1001 || info.Keys != 2 {
		t.Fatalf("keys at generation %d: %d, want 2 at 1001", info.Generation, info.Keys)
	}
}

// TestRefutationRateLimited: at most one refutation per second of the
// core's clock. A claim inside the window is held, not dropped, and
// refuted by the first message after the window, whatever that message
// is; a claim the first refutation already answered is not refuted again.
func TestRefutationRateLimited(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	claim := func(gen uint64) Message {
		return &Syn{Cluster: "test", From: "p", Digest: []DigestEntry{
			{ID: "p", Generation: 1, Heartbeat: 1}, {ID: "me", Generation: gen, Heartbeat: 1}}}
	}
	quiet := &Syn{Cluster: "test", From: "p", Digest: []DigestEntry{{ID: "p", Generation: 1, Heartbeat: 2}}}
	type msg struct {
		at      uint64
		m       Message
		wantGen uint64 // the local generation after it
		wantRef uint64 // refutations so far
	}
	tests := []struct {
		name string
		msgs []msg
	}{
		{"second claim inside the window waits for it", []msg{
			{50, claim(1000), 1001, 1},
			{500, claim(5000), 1001, 1},
			{1049, quiet, 1001, 1},
			{1050, quiet, 5001, 2},
			{1100, quiet, 5001, 2},
		}},
		{"the highest held claim is refuted", []msg{
			{50, claim(1000), 1001, 1},
			{60, claim(3000), 1001, 1},
			{70, claim(2000), 1001, 1},
			{2000, claim(1500), 3001, 2},
		}},
		{"a claim answered already is not held", []msg{
			{5000, claim(1000), 5000, 1},
			{5500, claim(4000), 5000, 1},
			{7000, quiet, 5000, 1},
		}},
		{"a claim after the window is refuted at once", []msg{
			{50, claim(1000), 1001, 1},
			{1050, claim(2000), 2001, 2},
			{1100, claim(3000), 2001, 2},
			{2050, quiet, 3001, 3},
		}},
		{"an ack after the window refutes a held claim", []msg{
			{50, claim(1000), 1001, 1},
			{60, claim(3000), 1001, 1},
			{1050, &Ack{Cluster: "test", From: "p"}, 3001, 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestState(t, "me", 10)
			write(t, s, "a", "1")
			s.SetGenerationCeiling(1 << 40)
			for i, m := range tt.msgs {
				s.SetTime(m.at)
				st := s.Handle(m.m, rng)
				if st.Batch != nil {
					for _, c := range st.Batch.Changes {
						if c.Meta.ID == "me" && (c.Reset || len(c.Records) != 0 || c.Relabel != s.Self().Generation) {
							t.Fatalf("message %d: own change %+v: want a relabel of %d carrying nothing", i, c, s.Self().Generation)
						}
					}
				}
				commitTo(s, st.Batch)
				if gen, n := s.Self().Generation, s.Stats().Refutations; gen != m.wantGen || n != m.wantRef {
					t.Fatalf("message %d at %d ms: generation %d after %d refutations, want %d after %d", i, m.at, gen, n, m.wantGen, m.wantRef)
				}
			}
			if r, ok := s.Get("me", "a"); !ok || string(r.Value) != "1" {
				t.Fatalf("own record after the refutations: %+v %v", r, ok)
			}
		})
	}
}
