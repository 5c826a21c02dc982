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
