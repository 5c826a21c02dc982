package engine

import (
	"slices"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/health"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// TestAliveAsSoonAsTheEvidenceArrives: a peer comes alive in the Step
// that brings what the next health check would bring it up on (its own
// word, a risen heartbeat, a member list from a member that holds it
// alive), and is reported in that Step's events; a claim relayed once
// about a peer never seen leaves it joining, as before.
func TestAliveAsSoonAsTheEvidenceArrives(t *testing.T) {
	entry := func(id string, hb uint64) lsync.DigestEntry {
		return lsync.DigestEntry{ID: id, Addr: id + ":1", Generation: 1, Heartbeat: hb}
	}
	type msg struct {
		from string
		m    lsync.Message
	}
	syn := func(from string, es ...lsync.DigestEntry) msg {
		return msg{from + ":1", &lsync.Syn{Cluster: "test", From: from, Digest: es}}
	}
	list := func(from string, up int, es ...lsync.DigestEntry) msg {
		return msg{from + ":1", &lsync.Members{Cluster: "test", From: from, Up: up, Members: es}}
	}
	tests := []struct {
		name  string
		steps []msg
		want  []string // discovered in the last step
		alive []string // alive after it
	}{
		{"its own Syn", []msg{syn("b", entry("b", 5))}, []string{"b"}, []string{"b"}},
		{"relayed once", []msg{syn("b", entry("b", 5), entry("g", 5))}, []string{"b"}, []string{"b"}},
		{"relayed, then risen", []msg{syn("b", entry("b", 5), entry("g", 5)), syn("b", entry("b", 6), entry("g", 6))},
			[]string{"g"}, []string{"b", "g"}},
		{"relayed, not risen", []msg{syn("b", entry("b", 5), entry("g", 5)), syn("b", entry("b", 6), entry("g", 5))},
			nil, []string{"b"}},
		{"listed alive by a member", []msg{list("b", 2, entry("b", 5), entry("g", 5))}, []string{"b", "g"}, []string{"b", "g"}},
		{"listed, not held alive", []msg{list("b", 1, entry("b", 5), entry("g", 5))}, []string{"b"}, []string{"b"}},
	}
	for _, mode := range []struct {
		name  string
		tweak func(*Config)
	}{{"phi", nil}, {"monitored", monitored}} {
		for _, tt := range tests {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				a := newEngineWith(t, "a", mode.tweak)
				var rd Ready
				for i, s := range tt.steps {
					rd = stepCommit(a, t0.Add(time.Duration(i)*time.Second), s.from, s.m)
				}
				if got := eventOf(rd, Discover); !slices.Equal(got, tt.want) {
					t.Fatalf("the last step discovered %v, want %v", got, tt.want)
				}
				var alive []string
				for _, id := range []string{"b", "g"} {
					if s, _ := a.Detector().State(id); s == health.Alive {
						alive = append(alive, id)
					}
				}
				if !slices.Equal(alive, tt.alive) || a.Live() != len(tt.alive) {
					t.Fatalf("alive %v (%d live), want %v", alive, a.Live(), tt.alive)
				}
				if s, ok := a.Detector().State("g"); ok && !slices.Contains(tt.alive, "g") && s != health.Joining {
					t.Fatalf("g is %v, want joining", s)
				}
			})
		}
	}
}
