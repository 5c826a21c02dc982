package sim

import (
	"fmt"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/internal/engine"
	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
)

// TestSignedIdleCost: a cluster that signs node records forms as one that
// does not, every node ends up holding every node's record, and once
// quiet it sends at most 1.5 times the bytes: the records travel once,
// and a quiet round's summary carries none.
func TestSignedIdleCost(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("100 nodes for a simulated minute")
	}
	const nodes = 100
	idle := func(signed bool, reanchor uint64) (float64, map[string]float64, *Cluster) {
		c, err := New(Config{Nodes: nodes, Seed: 5, Net: DefaultNet, Signed: signed, Reanchor: reanchor})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		formed, ok := c.WarmUp(60 * time.Second)
		if !ok {
			t.Fatal("no cluster")
		}
		t.Logf("signed %v: formed in %v", signed, formed)
		c.RunFor(40 * time.Second) // past the rounds that keep news loud
		t0 := c.Traffic()
		c.RunFor(10 * time.Second)
		t1 := c.Traffic()
		perNode := func(b uint64) float64 { return float64(b) / nodes / 10 }
		byType := make(map[string]float64)
		for i, b := range t1.ByType {
			if d := b - t0.ByType[i]; d > 0 {
				byType[lsync.MsgType(i).String()] = perNode(d)
			}
		}
		t.Logf("signed %v: %.0f bytes per node over the first 50 s, %.0f of them in member lists", signed,
			float64(t1.BytesOut)/nodes, float64(t1.ByType[lsync.MsgMembers])/nodes)
		noViolations(t, c)
		return perNode(t1.BytesOut - t0.BytesOut), byType, c
	}
	unsigned, ub, _ := idle(false, 0)
	signed, sb, c := idle(true, 0)
	t.Logf("idle bytes per node per second at N = %d: unsigned %.0f %v, signed %.0f %v (%.2fx)",
		nodes, unsigned, ub, signed, sb, signed/unsigned)
	if signed > 1.5*unsigned {
		t.Errorf("signed idle traffic %.0f B/s per node, over 1.5 x unsigned %.0f", signed, unsigned)
	}
	// Re-anchoring re-signs a node's record, which then spreads: every
	// reanchorBeats beats here (a beat a second), to measure what one
	// costs, and from it what the default interval costs.
	const reanchorBeats = 20
	often, ob, _ := idle(true, reanchorBeats)
	perReanchor := (often - signed) * reanchorBeats // bytes per node per re-anchor of each node
	atDefault := perReanchor / engine.DefaultReanchorBeats
	t.Logf("re-anchoring every %d beats: %.0f B/s per node %v; %.0f bytes per node per re-anchor, %.2f B/s at the default %d",
		reanchorBeats, often, ob, perReanchor, atDefault, engine.DefaultReanchorBeats)
	if signed+atDefault > 1.5*unsigned {
		t.Errorf("signed idle traffic with re-anchoring %.0f B/s per node, over 1.5 x unsigned %.0f", signed+atDefault, unsigned)
	}
	for _, n := range c.nodes {
		if st := n.eng.RecordStats(); st.Held != nodes ||
			st.BadSignature+st.UntrustedKey+st.UnsignedClaims+st.BadBeatProofs+st.UnsignedWatermarks+n.State().Stats().UnsignedWatermarks > 0 {
			t.Fatalf("%s: %+v, want all %d records and nothing refused", n.ID, st, nodes)
		}
	}
}

// TestSignedChainsRenew: 30 signed nodes with 10% loss and short
// heartbeat chains run through several re-anchorings and a new chain
// each without suspecting a live node or refusing a genuine heartbeat;
// then a crash is suspected by every other node within 10 s, as
// unsigned. The seeds include runs where a node first learns a peer's
// new chain at its re-anchored record while relays still quote the
// heartbeats just below that anchor.
func TestSignedChainsRenew(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("30 nodes for simulated minutes")
	}
	for _, seed := range []int64{1, 2, 9, 23} {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) { signedChainsRenew(t, seed) })
	}
}

func signedChainsRenew(t *testing.T, seed int64) {
	const chain, reanchor = 512, 100
	c, err := New(Config{Nodes: 30, Seed: seed, Signed: true, BeatChain: chain, Reanchor: reanchor,
		Net: NetConfig{Drop: 0.1, DelayMin: DefaultNet.DelayMin, DelayMax: DefaultNet.DelayMax}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.WarmUp(60 * time.Second); !ok {
		t.Fatal("no cluster")
	}
	const victim = 11
	w := watchSuspicions(c, victim)
	c.RunFor(10 * time.Minute) // 600 beats: a new chain each, re-anchored on the way
	if w.falseSusp != 0 {
		t.Fatalf("%d suspicions of live nodes", w.falseSusp)
	}
	for _, n := range c.Nodes() {
		rec, _ := n.Engine().Record(n.ID)
		com, err := identity.ParseBeatCommitment(n.ID, rec.Generation, rec.BeatChain)
		if err != nil || com.Base == n.Engine().State().Heartbeat()&^(1<<32-1) {
			t.Fatalf("%s: record commits to %+v (%v): want a renewed chain", n.ID, com, err)
		}
		if st := n.Engine().RecordStats(); st.BadBeatProofs+st.BadSignature+st.UnsignedClaims > 0 {
			t.Fatalf("%s refused genuine claims: %+v", n.ID, st)
		}
	}
	w.at = c.Now()
	c.Crash(victim)
	c.RunFor(10 * time.Second)
	if len(w.got) != 29 {
		t.Fatalf("%d of 29 nodes suspected the crash within 10 s", len(w.got))
	}
	// Every vote was signed by its voter and taken: none refused as
	// forged, and a few checks per vote taken.
	var sum engine.RecordStats
	for _, n := range c.Nodes() {
		st := n.Engine().RecordStats()
		sum.BadVoteSignatures += st.BadVoteSignatures
		sum.VotesNotMonitor += st.VotesNotMonitor
		sum.StaleVotes += st.StaleVotes
		sum.VoteChecksDeferred += st.VoteChecksDeferred
		sum.VoteChecks += st.VoteChecks
		sum.VotesSigned += st.VotesSigned
	}
	t.Logf("votes: %d signed, %d signatures checked, %d by non-monitors, %d stale, %d deferred, %d forged",
		sum.VotesSigned, sum.VoteChecks, sum.VotesNotMonitor, sum.StaleVotes, sum.VoteChecksDeferred, sum.BadVoteSignatures)
	if sum.BadVoteSignatures+sum.VoteChecksDeferred > 0 || sum.VotesSigned == 0 {
		t.Fatalf("genuine votes refused or unsigned: %+v", sum)
	}
	noViolations(t, c)
}

// TestSignedRestartInRenewal: a node that starts afresh (its data wiped)
// while every other node is in its chain renewal's grace learns their new
// records, not the chains before, while relays quote heartbeats proven in
// those: it takes none of them and counts none as forged, and holds every
// peer at once, at its record's anchor. Votes against its wiped
// generation, above its new heartbeats, are not taken for forged either.
func TestSignedRestartInRenewal(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("30 nodes for simulated minutes")
	}
	for _, tt := range []struct {
		seed      int64
		drop      float64
		restarted int
		at        time.Duration // the wipe; the restart 5 s later
	}{{1, 0.1, 7, 445 * time.Second}, {2, 0.1, 7, 445 * time.Second}, {9, 0.3, 7, 445 * time.Second},
		{12, 0.3, 7, 445 * time.Second}, {35, 0.1, 5, 451 * time.Second}} {
		t.Run(fmt.Sprintf("seed %d drop %v", tt.seed, tt.drop), func(t *testing.T) {
			// Chains of 512 are renewed at heartbeat 448, with a grace of 32.
			c, err := New(Config{Nodes: 30, Seed: tt.seed, Signed: true, BeatChain: 512, Reanchor: 100,
				Net: NetConfig{Drop: tt.drop, DelayMin: DefaultNet.DelayMin, DelayMax: DefaultNet.DelayMax}})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			c.RunUntil(tt.at)
			c.Wipe(tt.restarted)
			c.RunUntil(tt.at + 5*time.Second)
			if err := c.Restart(tt.restarted); err != nil {
				t.Fatal(err)
			}
			n := c.Node(tt.restarted)
			// Its old generation is suspected; no one else is, by it
			// either, while it refuses its peers' grace heartbeats.
			others := 0
			c.Hooks.Events = func(_ int, evs []engine.Event) {
				for _, ev := range evs {
					for _, id := range ev.Peers {
						if ev.Kind == engine.Suspend && id != n.ID {
							others++
						}
					}
				}
			}
			held := func() bool { return len(n.State().Peers()) == 29 }
			// Within the grace: held at their records' anchors.
			if !c.RunWhile(c.Now()+15*time.Second, func() bool { return !held() }) {
				t.Fatalf("%s holds %d of 29 peers 15 s after its restart", n.ID, len(n.State().Peers()))
			}
			t.Logf("%s holds every peer %v after its restart", n.ID, c.Now()-tt.at-5*time.Second)
			c.RunUntil(600 * time.Second)
			if others > 0 {
				t.Fatalf("%d suspicions of live nodes", others)
			}
			for _, n := range c.Nodes() {
				if st := n.Engine().RecordStats(); st.BadBeatProofs+st.BadSignature+st.UnsignedClaims > 0 {
					t.Fatalf("%s refused genuine claims: %+v", n.ID, st)
				}
			}
			noViolations(t, c)
		})
	}
}

// TestSignedTombstonesCollected: with signed records a node's collected
// tombstones are dropped by its peers once its record states the new
// horizon, no later than engine's re-signing interval after it moved, and
// an honest cluster refuses no watermark on the way.
func TestSignedTombstonesCollected(t *testing.T) {
	c := warmCluster(t, Config{Nodes: 4, Seed: 12, Reduce: time.Second, TombstoneGrace: 5 * time.Second, Signed: true})
	write(t, c, 1, "k", "v")
	c.RunFor(5 * time.Second)
	if _, err := c.Delete(1, "k"); err != nil {
		t.Fatal(err)
	}
	owner := c.Node(1).ID
	c.RunFor(20 * time.Second) // past the grace: the owner collects
	gc := c.Node(1).State().Self().GCVersion
	if gc == 0 {
		t.Fatal("the owner published no collection horizon")
	}
	if _, ok := c.Node(1).State().Get(owner, "k"); ok {
		t.Fatal("the owner still holds its collected tombstone")
	}
	for i := range 4 {
		// The record signed at start states no horizon yet: the
		// tombstone stays on the peers meanwhile.
		if r, ok := c.Node(i).State().Get(owner, "k"); i != 1 && (!ok || !r.Tombstone) {
			t.Fatalf("node %d dropped the tombstone before the owner's record states its horizon: %+v %v", i, r, ok)
		}
	}
	c.RunFor(11 * time.Minute) // the record states the horizon within ten
	for i := range 4 {
		n := c.Node(i)
		if r, ok := n.State().Get(owner, "k"); ok {
			t.Fatalf("node %d still holds %+v after the owner's record states its horizon", i, r)
		}
		if p, _ := n.State().Peer(owner); i != 1 && p.GCVersion < gc {
			t.Fatalf("node %d holds the owner's horizon at %d, want %d", i, p.GCVersion, gc)
		}
		if rec, _ := n.eng.Record(owner); rec.GCVersion < gc {
			t.Fatalf("node %d holds the owner's record at horizon %d, want %d", i, rec.GCVersion, gc)
		}
		if w, rs := n.State().Stats().UnsignedWatermarks, n.eng.RecordStats().UnsignedWatermarks; w+rs > 0 {
			t.Fatalf("node %d refused %d + %d honest watermarks", i, w, rs)
		}
	}
	if err := c.Converged(); err != nil {
		t.Fatal(err)
	}
	noViolations(t, c)
}
