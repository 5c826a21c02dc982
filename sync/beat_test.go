package sync

import (
	"math/rand"
	"slices"
	"testing"
)

// TestBeat: a known peer's Beat from its own address raises its heartbeat
// and is Direct once per heartbeat (also when its Syn brought that
// heartbeat first); a ghost's beat from its own address makes it a peer;
// beats from elsewhere, from unknown nodes or of another cluster are
// ignored; a Release is reported.
func TestBeat(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	s, err := NewState(Config{Cluster: "test", Self: PeerMeta{ID: "me", Generation: 1}, PacketBudget: testPacket,
		MessageBudget: testMessage, GenerationEvidence: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(PeerMeta{ID: "p", Addr: "p:1", Generation: 5}, nil); err != nil {
		t.Fatal(err)
	}
	beat := func(from, src string, hb uint64) Step {
		return s.HandleFrom(&Beat{Cluster: "test", From: from, Generation: 5, Heartbeat: hb}, src, rng)
	}
	tests := []struct {
		name           string
		step           func() Step
		direct, rose   bool
		wantHeartbeat  uint64
		wantReleased   bool
		wantStrayBeats uint64
	}{
		{"own beat", func() Step { return beat("p", "p:1", 10) }, true, true, 10, false, 0},
		{"same heartbeat again", func() Step { return beat("p", "p:1", 10) }, false, false, 10, false, 0},
		{"from another address", func() Step { return beat("p", "evil:1", 11) }, false, false, 10, false, 1},
		{"unknown node", func() Step { return beat("x", "x:1", 11) }, false, false, 10, false, 2},
		{"other cluster", func() Step {
			return s.HandleFrom(&Beat{Cluster: "other", From: "p", Generation: 5, Heartbeat: 12}, "p:1", rng)
		}, false, false, 10, false, 2},
		{"after its Syn brought the heartbeat", func() Step {
			s.HandleFrom(&Syn{Cluster: "test", From: "p", Digest: []DigestEntry{{ID: "p", Addr: "p:1", Generation: 5, Heartbeat: 13}}}, "p:1", rng)
			return beat("p", "p:1", 13)
		}, true, false, 13, false, 2},
		{"a ghost's own beat", func() Step {
			s.HandleFrom(&Syn{Cluster: "test", From: "p", Digest: []DigestEntry{{ID: "g", Addr: "g:1", Generation: 5, Heartbeat: 3}}}, "p:1", rng)
			st := beat("g", "g:1", 4)
			if g, ok := s.Peer("g"); !ok || g.Heartbeat != 4 || !slices.Contains(st.Direct, "g") || !slices.Contains(st.Vouched, "g") {
				t.Fatalf("a ghost's own beat: %+v, direct %v, vouched %v", g, st.Direct, st.Vouched)
			}
			return Step{}
		}, false, false, 13, false, 2},
		{"a ghost's beat from elsewhere", func() Step {
			s.HandleFrom(&Syn{Cluster: "test", From: "p", Digest: []DigestEntry{{ID: "h", Addr: "h:1", Generation: 5, Heartbeat: 3}}}, "p:1", rng)
			st := beat("h", "evil:1", 4)
			if h, _ := s.Peer("h"); h.Heartbeat != 3 || len(st.Direct) > 0 {
				t.Fatalf("a ghost's beat from another address: %+v, direct %v", h, st.Direct)
			}
			return Step{}
		}, false, false, 13, false, 3},
		{"release", func() Step {
			return s.HandleFrom(&Beat{Cluster: "test", From: "p", Generation: 5, Heartbeat: 14, Release: true}, "p:1", rng)
		}, false, false, 13, true, 3},
	}
	for _, tt := range tests {
		st := tt.step()
		p, _ := s.Peer("p")
		if slices.Contains(st.Direct, "p") != tt.direct || slices.Contains(st.Heartbeats, "p") != tt.rose ||
			p.Heartbeat != tt.wantHeartbeat || slices.Contains(st.Released, "p") != tt.wantReleased ||
			s.Stats().StrayBeats != tt.wantStrayBeats {
			t.Fatalf("%s: direct %v rose %v heartbeat %d released %v stray %d", tt.name, st.Direct, st.Heartbeats,
				p.Heartbeat, st.Released, s.Stats().StrayBeats)
		}
	}
}
