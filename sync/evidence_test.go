package sync

import (
	"math/rand"
	"testing"
)

// TestGenerationChangeNeedsEvidence: with GenerationEvidence = 3 a newer
// generation of p drops p's data only after three messages from p itself
// (From p, from p's address, p's own entry) with rising heartbeats.
// Relayed entries, a forged source, repeated heartbeats and newer-generation
// deltas change nothing; Handle without a source never proves anything.
func TestGenerationChangeNeedsEvidence(t *testing.T) {
	type msg struct {
		from, src string
		hb        uint64
	}
	own := func(hb uint64) msg { return msg{"p", "p:1", hb} }
	tests := []struct {
		name    string
		msgs    []msg
		changed bool
	}{
		{"three from p with rising heartbeats", []msg{own(1), own(2), own(3)}, true},
		{"two are not enough", []msg{own(1), own(2)}, false},
		{"heartbeat not rising", []msg{own(5), own(5), own(5), own(4)}, false},
		{"relayed by another node", []msg{{"q", "q:1", 1}, {"q", "q:1", 2}, {"q", "q:1", 3}}, false},
		{"claims to be p from elsewhere", []msg{{"p", "evil:1", 1}, {"p", "evil:1", 2}, {"p", "evil:1", 3}}, false},
		{"no source (Handle)", []msg{{"p", "", 1}, {"p", "", 2}, {"p", "", 3}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(1))
			s, err := NewState(Config{Cluster: "test", Self: PeerMeta{ID: "me", Generation: 1}, PacketBudget: testPacket,
				MessageBudget: testMessage, GenerationEvidence: 3})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Restore(PeerMeta{ID: "p", Addr: "p:1", Generation: 5, MaxVersion: 1},
				[]Record{{Key: "k", Value: []byte("v"), Version: 1}}); err != nil {
				t.Fatal(err)
			}
			for _, m := range tt.msgs {
				syn := &Syn{Cluster: "test", From: m.from, Digest: []DigestEntry{{ID: "p", Addr: "p:1", Generation: 9, Heartbeat: m.hb}}}
				var st Step
				if m.src == "" {
					st = s.Handle(syn, rng)
				} else {
					st = s.HandleFrom(syn, m.src, rng)
				}
				commitTo(s, st.Batch)
				// Deltas of the new generation alone never switch it.
				ack := &Ack{Cluster: "test", From: m.from, More: true, Deltas: []NodeDelta{{ID: "p", Generation: 9, To: 1, Clean: 1,
					Records: []Record{{Key: "k", Value: []byte("new"), Version: 1}}}}}
				st = s.HandleFrom(ack, m.src, rng)
				if p, _ := s.Peer("p"); p.Generation == 5 && st.PullAgain {
					t.Fatal("pulls again for deltas it cannot take")
				}
				commitTo(s, st.Batch)
			}
			p, _ := s.Peer("p")
			r, _ := s.Get("p", "k")
			if tt.changed {
				if p.Generation != 9 {
					t.Fatalf("generation %d, want the proven 9", p.Generation)
				}
				return
			}
			if p.Generation != 5 || string(r.Value) != "v" {
				t.Fatalf("p at generation %d with k=%q: changed without evidence", p.Generation, r.Value)
			}
			if len(s.genProof) > 1 {
				t.Fatalf("%d evidence entries for one peer", len(s.genProof))
			}
		})
	}
}

// TestProvenGenerationResetsHeartbeat: once a peer's new generation is
// proven, its heartbeat starts over from the new incarnation's (below the
// old one's), the peer is reported Reborn, and relayed entries of the old
// incarnation, higher heartbeat or not, no longer lift it — also while the
// reset is not committed yet.
func TestProvenGenerationResetsHeartbeat(t *testing.T) {
	const oldHB, newHB = 1<<32 + 5000, 1<<32 + 1
	tests := []struct {
		name   string
		commit bool
	}{
		{"reset committed", true},
		{"reset not committed yet", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(1))
			s, err := NewState(Config{Cluster: "test", Self: PeerMeta{ID: "me", Generation: 1}, PacketBudget: testPacket,
				MessageBudget: testMessage, GenerationEvidence: 3})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Restore(PeerMeta{ID: "p", Addr: "p:1", Generation: 5, MaxVersion: 1},
				[]Record{{Key: "k", Value: []byte("v"), Version: 1}}); err != nil {
				t.Fatal(err)
			}
			old := &Syn{Cluster: "test", From: "q", Digest: []DigestEntry{{ID: "p", Addr: "p:1", Generation: 5, Heartbeat: oldHB}}}
			s.Commit(s.HandleFrom(old, "q:1", rng).Batch)
			var reborn []string
			for i := range uint64(3) {
				syn := &Syn{Cluster: "test", From: "p", Digest: []DigestEntry{{ID: "p", Addr: "p:1", Generation: 9, Heartbeat: newHB + i}}}
				st := s.HandleFrom(syn, "p:1", rng)
				reborn = append(reborn, st.Reborn...)
				if tt.commit {
					s.Commit(st.Batch)
				}
			}
			if len(reborn) != 1 || reborn[0] != "p" {
				t.Fatalf("reborn %v, want [p] once", reborn)
			}
			if p, _ := s.Peer("p"); p.Heartbeat != newHB+2 {
				t.Fatalf("heartbeat %d after the proof, want the new incarnation's %d", p.Heartbeat, newHB+2)
			}
			old.Digest[0].Heartbeat = oldHB + 100
			st := s.HandleFrom(old, "q:1", rng)
			if p, _ := s.Peer("p"); p.Heartbeat != newHB+2 || len(st.Heartbeats) != 0 {
				t.Fatalf("heartbeat %d (rises %v) after a relayed entry of the old incarnation", p.Heartbeat, st.Heartbeats)
			}
			// The new incarnation's heartbeats are taken, relayed or not.
			relayed := &Syn{Cluster: "test", From: "q", Digest: []DigestEntry{{ID: "p", Addr: "p:1", Generation: 9, Heartbeat: newHB + 3}}}
			if st := s.HandleFrom(relayed, "q:1", rng); len(st.Heartbeats) != 1 {
				t.Fatalf("rises %v on the new incarnation's next heartbeat", st.Heartbeats)
			}
		})
	}
}
