package engine

import (
	"slices"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/health"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

func monitored(c *Config) { c.Monitors = 5 }

// TestVerdictStandsAgainstRelayedHeartbeats: four monitors' votes convict
// x; a newer heartbeat of x relayed by another node (a crashed node's last,
// which its monitors missed) does not undo the verdict unless it is more
// than LastBeats above the votes, while a word of x itself does: its
// message, even with a heartbeat relayed here before, or its refutation,
// even below a heartbeat relayed here before.
func TestVerdictStandsAgainstRelayedHeartbeats(t *testing.T) {
	entry := func(id string, hb uint64) lsync.DigestEntry {
		return lsync.DigestEntry{ID: id, Addr: id + ":1", Generation: 1, Heartbeat: hb}
	}
	syn := func(from, of string, hb uint64) lsync.Message {
		return &lsync.Syn{Cluster: "test", From: from, Digest: []lsync.DigestEntry{entry(of, hb)}}
	}
	type msg struct {
		from string
		m    lsync.Message
	}
	tests := []struct {
		name        string
		then        []msg
		wantVerdict bool
	}{
		{"relayed heartbeat", []msg{{"m2", syn("m2", "x", 5+health.LastBeats)}}, true},
		{"relayed heartbeat past LastBeats", []msg{{"m2", syn("m2", "x", 6+health.LastBeats)}}, false},
		{"x's own message", []msg{{"m2", syn("m2", "x", 6)}, {"x", syn("x", "x", 6)}}, false},
		{"x's refutation", []msg{{"m2", syn("m2", "x", 8)},
			{"m3", &lsync.Suspect{Cluster: "test", From: "m3", Votes: []lsync.Vote{{ID: "x", Generation: 1, Heartbeat: 7, By: "x"}}}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newEngineWith(t, "a", monitored)
			peers := []string{"x", "m1", "m2", "m3", "m4"}
			var found []string
			for _, id := range peers {
				found = append(found, eventOf(stepCommit(a, t0, id+":1", syn(id, id, 5)), Discover)...)
			}
			if len(found) != len(peers) {
				t.Fatalf("discovered %v, want every peer: each spoke for itself", found)
			}
			a.Check(t0.Add(time.Second))
			var votes []lsync.Vote
			for _, m := range peers[1:] {
				votes = append(votes, lsync.Vote{ID: "x", Generation: 1, Heartbeat: 5, By: m})
			}
			a.Step(t0.Add(2*time.Second), "m1:1", &lsync.Suspect{Cluster: "test", From: "m1", Votes: votes})
			if got := eventOf(a.Check(t0.Add(2*time.Second)), Suspend); !slices.Equal(got, []string{"x"}) {
				t.Fatalf("suspended %v after four of five monitors voted, want x", got)
			}
			now := t0.Add(3 * time.Second)
			for _, m := range tt.then {
				a.Step(now, m.from+":1", m.m)
			}
			rep := a.Check(now.Add(time.Second))
			if got := a.Monitor().Verdict("x"); got != tt.wantVerdict {
				t.Fatalf("verdict %v, want %v", got, tt.wantVerdict)
			}
			if back := slices.Contains(eventOf(rep, Recover), "x"); back == tt.wantVerdict {
				t.Fatalf("recovered %v with the verdict %v", back, tt.wantVerdict)
			}
		})
	}
}

// TestVotesJustBelowTheKnownHeartbeatCount: a node that heard a heartbeat
// of x a little above the monitors' votes (x's last Syn, after its last
// beat) still takes their verdict, up to LastBeats below; further below,
// the votes are stale.
func TestVotesJustBelowTheKnownHeartbeatCount(t *testing.T) {
	for _, tt := range []struct {
		known       uint64
		wantVerdict bool
	}{
		{5, true},
		{5 + health.LastBeats, true},
		{6 + health.LastBeats, false},
	} {
		a := newEngineWith(t, "a", monitored)
		peers := []string{"x", "m1", "m2", "m3", "m4"}
		for _, id := range peers {
			stepCommit(a, t0, id+":1", &lsync.Syn{Cluster: "test", From: id, Digest: []lsync.DigestEntry{{ID: id, Addr: id + ":1", Generation: 1, Heartbeat: 5}}})
		}
		a.Check(t0.Add(time.Second))
		a.Step(t0.Add(time.Second), "m1:1", &lsync.Syn{Cluster: "test", From: "m1", Digest: []lsync.DigestEntry{{ID: "x", Addr: "x:1", Generation: 1, Heartbeat: tt.known}}})
		var votes []lsync.Vote
		for _, m := range peers[1:] {
			votes = append(votes, lsync.Vote{ID: "x", Generation: 1, Heartbeat: 5, By: m})
		}
		a.Step(t0.Add(2*time.Second), "m1:1", &lsync.Suspect{Cluster: "test", From: "m1", Votes: votes})
		if got := a.Monitor().Verdict("x"); got != tt.wantVerdict {
			t.Errorf("votes at 5, heartbeat %d known: verdict %v, want %v", tt.known, got, tt.wantVerdict)
		}
	}
}

// stepCommit steps a message and commits its batch at once, as a driver
// does: a peer that spoke for itself is a member (and may vote) only once
// its meta is committed.
func stepCommit(e *Engine, now time.Time, from string, m lsync.Message) Ready {
	rd := e.Step(now, from, m)
	e.Commit(&rd)
	return rd
}
