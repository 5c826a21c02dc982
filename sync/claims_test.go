package sync

import (
	"math/rand"
	"slices"
	"testing"
)

// claimsState is a node "me" at time t0 that knows p (at p:1, heartbeat
// 1<<32 + 10, said by p itself) as a member.
func claimsState(t *testing.T) *State {
	t.Helper()
	s := newTestState(t, "me", 1)
	s.SetTime(claimsT0)
	st := s.HandleFrom(&Syn{Cluster: "test", From: "p", Digest: []DigestEntry{
		{ID: "p", Addr: "p:1", Generation: 1, Heartbeat: claimsHB}}}, "p:1", rand.New(rand.NewSource(1)))
	commitTo(s, st.Batch)
	if p, ok := s.Peer("p"); !ok || p.Heartbeat != claimsHB || !s.Member("p") {
		t.Fatalf("p not a member at %d: %+v", claimsHB, p)
	}
	return s
}

const (
	claimsT0 = 1_000_000
	claimsHB = 1<<32 + 10
)

// relay hands s a Syn from r (at r:1) that lists e.
func relay(s *State, e DigestEntry) Step {
	return s.HandleFrom(&Syn{Cluster: "test", From: "r", Digest: []DigestEntry{e}}, "r:1", rand.New(rand.NewSource(2)))
}

// TestRelayedHeartbeatBounded: a heartbeat relayed for p is taken only as
// far as p's own word and the time since allow.
func TestRelayedHeartbeatBounded(t *testing.T) {
	tests := []struct {
		name    string
		afterMs uint64
		hb      uint64
		leaving bool
		taken   bool
	}{
		{"a few beats up", 0, claimsHB + 5, false, true},
		{"slack exceeded at once", 0, claimsHB + claimBeatSlack + 1, false, false},
		{"a second's worth later", 1000, claimsHB + 1000/claimBeatMs + claimBeatSlack, false, true},
		{"far ahead", 1000, 1 << 62, false, false},
		{"a forged leave far ahead", 0, 1 << 62, true, false},
		{"a restart: next boot block, low count", 1000, 2<<32 + 3, false, true},
		{"next boot block, count beyond time", 0, 2<<32 + 1000, false, false},
		{"two boot blocks up", 1000, 3<<32 + 1, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := claimsState(t)
			s.SetTime(claimsT0 + tt.afterMs)
			relay(s, DigestEntry{ID: "p", Addr: "p:1", Generation: 1, Heartbeat: tt.hb, Leaving: tt.leaving})
			p, _ := s.Peer("p")
			if got := p.Heartbeat == tt.hb; got != tt.taken {
				t.Fatalf("heartbeat %d taken %v, want %v (held %d)", tt.hb, got, tt.taken, p.Heartbeat)
			}
			if !tt.taken && s.Stats().ImplausibleClaims == 0 {
				t.Fatal("a dropped claim was not counted")
			}
		})
	}
}

// TestOwnWordOverrulesRelays: a heartbeat and leave relayed for p within
// the bound are replaced by p's own, lower word, and reported.
func TestOwnWordOverrulesRelays(t *testing.T) {
	s := claimsState(t)
	relay(s, DigestEntry{ID: "p", Addr: "p:1", Generation: 1, Heartbeat: claimsHB + 20, Leaving: true})
	if p, _ := s.Peer("p"); !p.Leaving {
		t.Fatal("setup: the relayed leave was not taken")
	}
	st := s.HandleFrom(&Syn{Cluster: "test", From: "p", Digest: []DigestEntry{
		{ID: "p", Addr: "p:1", Generation: 1, Heartbeat: claimsHB + 2}}}, "p:1", rand.New(rand.NewSource(1)))
	p, _ := s.Peer("p")
	if p.Leaving || p.Heartbeat != claimsHB+2 {
		t.Fatalf("held %d leaving %v, want p's own word %d", p.Heartbeat, p.Leaving, claimsHB+2)
	}
	if !slices.Contains(st.Overruled, "p") || !slices.Contains(st.Heartbeats, "p") {
		t.Fatalf("overruled %v heartbeats %v, want p in both", st.Overruled, st.Heartbeats)
	}
	// The same words from another address are not p's.
	relay(s, DigestEntry{ID: "p", Addr: "p:1", Generation: 1, Heartbeat: claimsHB + 30, Leaving: true})
	s.HandleFrom(&Syn{Cluster: "test", From: "p", Digest: []DigestEntry{
		{ID: "p", Addr: "p:1", Generation: 1, Heartbeat: claimsHB + 3}}}, "evil:1", rand.New(rand.NewSource(1)))
	if p, _ := s.Peer("p"); !p.Leaving {
		t.Fatal("a message from another address overruled what p's relays said")
	}
}

// TestAddressMovesOnlyWithNewerHeartbeat: a relayed address change is
// followed with a newer heartbeat, and a stale relay does not undo it.
func TestAddressMovesOnlyWithNewerHeartbeat(t *testing.T) {
	s := claimsState(t)
	relay(s, DigestEntry{ID: "p", Addr: "evil:1", Generation: 1, Heartbeat: claimsHB})
	commitTo(s, relay(s, DigestEntry{ID: "p", Addr: "evil:1", Generation: 1, Heartbeat: claimsHB}).Batch)
	if p, _ := s.Peer("p"); p.Addr != "p:1" {
		t.Fatalf("moved to %s with no newer heartbeat", p.Addr)
	}
	commitTo(s, relay(s, DigestEntry{ID: "p", Addr: "q:1", Generation: 1, Heartbeat: claimsHB + 1}).Batch)
	if p, _ := s.Peer("p"); p.Addr != "q:1" {
		t.Fatalf("at %s, want the move to q:1 followed", p.Addr)
	}
	commitTo(s, relay(s, DigestEntry{ID: "p", Addr: "p:1", Generation: 1, Heartbeat: claimsHB}).Batch)
	if p, _ := s.Peer("p"); p.Addr != "q:1" {
		t.Fatalf("a stale relay moved p back to %s", p.Addr)
	}
}

// TestClaimsAboutSelfRefuted: an entry of this node that it did not send
// makes it beat above the claim and answer the sender; a claim beyond the
// climb budget is answered without climbing.
func TestClaimsAboutSelfRefuted(t *testing.T) {
	own := uint64(1)
	tests := []struct {
		name   string
		e      DigestEntry
		wantHB uint64
	}{
		{"a heartbeat above", DigestEntry{ID: "me", Addr: "me:1", Generation: 1, Heartbeat: own + 100}, own + 101},
		{"a leave", DigestEntry{ID: "me", Addr: "me:1", Generation: 1, Heartbeat: own, Leaving: true}, own + 1},
		{"another address", DigestEntry{ID: "me", Addr: "evil:1", Generation: 1, Heartbeat: own}, own + 1},
		{"beyond reach", DigestEntry{ID: "me", Addr: "me:1", Generation: 1, Heartbeat: 1 << 62}, own},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := claimsState(t)
			st := relay(s, tt.e)
			if !st.Contradicted {
				t.Fatal("the claim was not reported for an answer")
			}
			if got := s.Heartbeat(); got != tt.wantHB {
				t.Fatalf("heartbeat %d, want %d", got, tt.wantHB)
			}
		})
	}
	// The climb budget refills with time only: a stream of claims cannot
	// lift the heartbeat faster than peers believe it rises.
	s := claimsState(t)
	for i := 0; i < 100; i++ {
		relay(s, DigestEntry{ID: "me", Addr: "me:1", Generation: 1, Heartbeat: s.Heartbeat() + selfClimbCap/2})
	}
	if s.Heartbeat() > 1+2*selfClimbCap {
		t.Fatalf("heartbeat climbed to %d under a stream of claims at one instant", s.Heartbeat())
	}
}

// TestForgedWatermarks: a watermark or horizon no node can have reached is
// dropped; one of this node above its own raises the floor its next
// version is issued above.
func TestForgedWatermarks(t *testing.T) {
	s := claimsState(t)
	ceiling := s.versionCeiling()
	st := s.HandleFrom(&Ack{Cluster: "test", From: "r", Deltas: []NodeDelta{
		{ID: "p", Generation: 1, To: ceiling + 1},
		{ID: "p", Generation: 1, To: 5, GCVersion: ceiling + 1, Records: []Record{{Key: "k", Version: 5}}},
	}}, "r:1", rand.New(rand.NewSource(1)))
	if st.Batch.Len() != 0 {
		t.Fatalf("forged watermarks left a batch of %d records", st.Batch.Len())
	}
	if v, _ := s.View("p"); v.MaxVersion != 0 {
		t.Fatalf("p's watermark moved to %d", v.MaxVersion)
	}
	relay(s, DigestEntry{ID: "me", Addr: "me:1", Generation: 1, Heartbeat: 1, MaxVersion: 500})
	if s.VersionFloor() != 500 {
		t.Fatalf("floor %d after a claim of 500: the next write would be ignored where it is held", s.VersionFloor())
	}
	relay(s, DigestEntry{ID: "me", Addr: "me:1", Generation: 1, Heartbeat: 1, MaxVersion: ceiling + 1})
	if s.VersionFloor() != 500 {
		t.Fatalf("floor %d after an implausible claim", s.VersionFloor())
	}
}

// TestUnknownIDsAdmitted: deltas never create a node; digest entries make
// ghosts, up to MaxPeers nodes.
func TestUnknownIDsAdmitted(t *testing.T) {
	s := claimsState(t)
	var ds []NodeDelta
	for i := 0; i < 100; i++ {
		ds = append(ds, NodeDelta{ID: "made-up-" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Generation: 1, To: 1,
			Records: []Record{{Key: "k", Version: 1}}})
	}
	st := s.HandleFrom(&Ack{Cluster: "test", From: "r", Deltas: ds}, "r:1", rand.New(rand.NewSource(1)))
	if st.Batch.Len() != 0 || len(s.Peers()) != 1 {
		t.Fatalf("deltas of unknown ids: batch of %d, %d nodes", st.Batch.Len(), len(s.Peers()))
	}
	if s.Stats().UnknownDeltas != 100 {
		t.Fatalf("counted %d unknown deltas, want 100", s.Stats().UnknownDeltas)
	}

	capped, err := NewState(Config{Cluster: "test", Self: PeerMeta{ID: "me", Addr: "me:1", Generation: 1},
		PacketBudget: testPacket, MessageBudget: testMessage, MaxPeers: 10})
	if err != nil {
		t.Fatal(err)
	}
	var d []DigestEntry
	for i := 0; i < 50; i++ {
		d = append(d, DigestEntry{ID: "n" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Generation: 1, Heartbeat: 1})
	}
	capped.HandleFrom(&Syn{Cluster: "test", From: "r", Digest: d}, "r:1", rand.New(rand.NewSource(1)))
	if n := len(capped.Peers()); n != 9 {
		t.Fatalf("%d peers held, want 9 (MaxPeers 10 with self)", n)
	}
	if capped.Stats().PeersRefused != 41 {
		t.Fatalf("refused %d, want 41", capped.Stats().PeersRefused)
	}
}

// TestSignedClaimsAboutSelf: with signed heartbeats, a claim of a
// heartbeat above this node's own is answered with its own word but not
// climbed above (no peer took it, and each beat climbed spends a chain
// value); a leave or another address at its own heartbeat still moves it
// one beat above. Over a minute of claims the heartbeat stays put.
func TestSignedClaimsAboutSelf(t *testing.T) {
	own := uint64(1)
	tests := []struct {
		name   string
		e      DigestEntry
		wantHB uint64
	}{
		{"a heartbeat above", DigestEntry{ID: "me", Addr: "me:1", Generation: 1, Heartbeat: own + 100}, own},
		{"one above", DigestEntry{ID: "me", Addr: "me:1", Generation: 1, Heartbeat: own + 1}, own},
		{"a leave", DigestEntry{ID: "me", Addr: "me:1", Generation: 1, Heartbeat: own, Leaving: true}, own + 1},
		{"another address", DigestEntry{ID: "me", Addr: "evil:1", Generation: 1, Heartbeat: own}, own + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := claimsState(t)
			s.SetBeatProver(func(uint64) BeatProof { return BeatProof{1} })
			st := relay(s, tt.e)
			if !st.Contradicted {
				t.Fatal("the claim was not reported for an answer")
			}
			if got := s.Heartbeat(); got != tt.wantHB {
				t.Fatalf("heartbeat %d, want %d", got, tt.wantHB)
			}
		})
	}
	s := claimsState(t)
	s.SetBeatProver(func(uint64) BeatProof { return BeatProof{1} })
	for i := uint64(0); i < 600; i++ {
		s.SetTime(claimsT0 + 100*i)
		relay(s, DigestEntry{ID: "me", Addr: "me:1", Generation: 1, Heartbeat: s.Heartbeat() + 1000})
	}
	if s.Heartbeat() != own {
		t.Fatalf("heartbeat climbed to %d under a minute of claims above it", s.Heartbeat())
	}
}

// TestBeatProofRelayed: the proof that came with a heartbeat is kept with
// it and relayed verbatim in this node's digests; the local node's entry
// carries the prover's proof of its own heartbeat; a node reborn with a
// new generation drops the old proof with the old heartbeat.
func TestBeatProofRelayed(t *testing.T) {
	s := claimsState(t)
	s.SetBeatProver(func(hb uint64) BeatProof { return BeatProof{0: byte(hb), 15: 0xee} })
	proof := BeatProof{7, 7, 7}
	relay(s, DigestEntry{ID: "p", Addr: "p:1", Generation: 1, Heartbeat: claimsHB + 3, BeatProof: proof})
	if _, hb, got, _ := s.HeldBeat("p"); hb != claimsHB+3 || got != proof {
		t.Fatalf("held %d with proof %x, want %d with %x", hb, got, claimsHB+3, proof)
	}
	// A claim no higher leaves the proof of the heartbeat held.
	relay(s, DigestEntry{ID: "p", Addr: "p:1", Generation: 1, Heartbeat: claimsHB + 1, BeatProof: BeatProof{9}})
	syn := s.MakeSyn(rand.New(rand.NewSource(3)))
	var sawSelf, sawP bool
	for _, e := range syn.Digest {
		switch e.ID {
		case "me":
			sawSelf = e.BeatProof == BeatProof{0: byte(s.Heartbeat()), 15: 0xee}
		case "p":
			sawP = e.Heartbeat == claimsHB+3 && e.BeatProof == proof
		}
	}
	if !sawSelf || !sawP {
		t.Fatalf("digest %+v: own proof %v, p's relayed verbatim %v", syn.Digest, sawSelf, sawP)
	}
	if own := s.OwnEntry(); own.BeatProof.IsZero() {
		t.Fatal("own entry without its proof")
	}
}
