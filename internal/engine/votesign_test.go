package engine

import (
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/wire"
)

// vote signs v, in the test cluster, with key (its voter's own unless
// given); a zero seq is 1.
func (s *signedSet) vote(t testing.TB, v lsync.Vote, key *identity.Key) lsync.Vote {
	t.Helper()
	if key == nil {
		key = s.keys[v.By]
	}
	if v.Seq == 0 {
		v.Seq = 1
	}
	c := identity.VoteClaim{Cluster: "test", ID: v.ID, Generation: v.Generation, Heartbeat: v.Heartbeat, Proof: v.Proof, By: v.By, Seq: v.Seq}
	v.Sig = identity.SignVote(key, &c)
	return v
}

// votingCluster is a, monitoring with two monitors per node, holding the
// records of x (the node voted against), m (a member that forges) and
// five more; and, as a places them, one of x's monitors and one node
// that is not.
type votingCluster struct {
	s            *signedSet
	a            *Engine
	nodes        map[string]*Engine
	hb           uint64 // x's heartbeat a holds
	mon, outside string
}

func newVotingCluster(t *testing.T) *votingCluster {
	t.Helper()
	ids := []string{"a", "x", "m", "n1", "n2", "n3", "n4", "n5"}
	c := &votingCluster{s: newSignedSet(t, ids...), nodes: make(map[string]*Engine)}
	c.a = newEngineWith(t, "a", func(cfg *Config) {
		cfg.Monitors = 2
		cfg.Signing = &Signing{Key: c.s.keys["a"], Trust: identity.NewTrustCache(c.s.trust, 16),
			Chain: c.s.chain(t, "a", cfg.Self.Generation, cfg.Boot<<32)}
	})
	if _, err := c.a.SignRecord(t0); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[1:] {
		c.nodes[id] = c.s.engine(t, id, t0)
		deliver(t, c.a, t0, id+":1", c.nodes[id].helloMsg())
	}
	c.a.Check(t0)
	for _, id := range ids[2:] {
		switch can := c.a.Monitor().CanVote("x", id); {
		case can && c.mon == "" && id != "m":
			c.mon = id
		case !can && c.outside == "":
			c.outside = id
		}
	}
	if c.mon == "" || c.outside == "" {
		t.Fatalf("no monitor (%q) or no outsider (%q) of x at a", c.mon, c.outside)
	}
	c.hb = heldHB(t, c.a, "x")
	return c
}

// suspect delivers votes to a from m's address.
func (c *votingCluster) suspect(t *testing.T, now time.Time, votes ...lsync.Vote) Ready {
	t.Helper()
	return deliver(t, c.a, now, "m:1", &lsync.Suspect{Cluster: "test", From: "m", Votes: votes})
}

// TestSignedVotes: with signing, a vote is taken only if its voter signed
// it, the voter monitors its victim, and it is newer than the voter's
// last vote taken against that node; a refutation only if its node
// signed it. A member holding the cluster key and a trusted key of its
// own (m) cannot vote in another's name, alter a vote, refute for a
// crashed node, or replay a vote the victim's word cleared; genuine
// votes and refutations work as without signing.
func TestSignedVotes(t *testing.T) {
	at := func(c *votingCluster, by string, seq uint64, key *identity.Key) lsync.Vote {
		return c.s.vote(t, lsync.Vote{ID: "x", Generation: 1, Heartbeat: c.hb, By: by, Seq: seq}, key)
	}
	cases := []struct {
		name string
		run  func(t *testing.T, c *votingCluster) (rd Ready)
		// what a ends with: x suspected, and the votes refused as forged,
		// by a non-monitor and as stale.
		verdict                bool
		forged, outside, stale uint64
	}{
		{"a monitor's genuine vote", func(t *testing.T, c *votingCluster) Ready {
			return c.suspect(t, t0, at(c, c.mon, 10, nil))
		}, true, 0, 0, 0},
		{"signed by m in a monitor's name", func(t *testing.T, c *votingCluster) Ready {
			return c.suspect(t, t0, at(c, c.mon, 10, c.s.keys["m"]))
		}, false, 1, 0, 0},
		{"unsigned", func(t *testing.T, c *votingCluster) Ready {
			return c.suspect(t, t0, lsync.Vote{ID: "x", Generation: 1, Heartbeat: c.hb, By: c.mon, Seq: 10})
		}, false, 1, 0, 0},
		{"altered after signing", func(t *testing.T, c *votingCluster) Ready {
			v := at(c, c.mon, 10, nil)
			v.Heartbeat--
			return c.suspect(t, t0, v)
		}, false, 1, 0, 0},
		{"in another cluster's name", func(t *testing.T, c *votingCluster) Ready {
			v := lsync.Vote{ID: "x", Generation: 1, Heartbeat: c.hb, By: c.mon, Seq: 10}
			cl := identity.VoteClaim{Cluster: "other", ID: v.ID, Generation: 1, Heartbeat: v.Heartbeat, By: v.By, Seq: v.Seq}
			v.Sig = identity.SignVote(c.s.keys[c.mon], &cl)
			return c.suspect(t, t0, v)
		}, false, 1, 0, 0},
		{"by a non-monitor, its own", func(t *testing.T, c *votingCluster) Ready {
			return c.suspect(t, t0, at(c, c.outside, 10, nil))
		}, false, 0, 1, 0},
		{"replayed after x's beat cleared it", func(t *testing.T, c *votingCluster) Ready {
			c.suspect(t, t0, at(c, c.mon, 5, nil))
			c.suspect(t, t0, at(c, c.mon, 10, nil))
			if !c.a.Monitor().Verdict("x") {
				t.Fatal("the genuine votes made no verdict")
			}
			e := beatUp(c.nodes["x"], t0, 1)
			deliver(t, c.a, t0.Add(time.Second), "x:1", &lsync.Beat{Cluster: "test", From: "x", Generation: 1, Heartbeat: e.Heartbeat, Proof: e.BeatProof})
			if c.a.Monitor().Verdict("x") {
				t.Fatal("x's beat did not clear the verdict")
			}
			c.suspect(t, t0.Add(2*time.Second), at(c, c.mon, 10, nil)) // the last one again
			return c.suspect(t, t0.Add(2*time.Second), at(c, c.mon, 5, nil))
		}, false, 0, 0, 1},
		{"a refutation for x signed by m", func(t *testing.T, c *votingCluster) Ready {
			c.suspect(t, t0, at(c, c.mon, 10, nil))
			return c.suspect(t, t0.Add(time.Second), at(c, "x", 11, c.s.keys["m"]))
		}, true, 1, 0, 0},
		{"x's own refutation", func(t *testing.T, c *votingCluster) Ready {
			c.suspect(t, t0, at(c, c.mon, 10, nil))
			return c.suspect(t, t0.Add(time.Second), at(c, "x", 11, nil))
		}, false, 0, 0, 0},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			c := newVotingCluster(t)
			rd := tt.run(t, c)
			c.a.Check(t0.Add(3 * time.Second))
			if got := c.a.Monitor().Verdict("x"); got != tt.verdict {
				t.Fatalf("verdict on x %v, want %v", got, tt.verdict)
			}
			st := c.a.RecordStats()
			if st.BadVoteSignatures != tt.forged || st.VotesNotMonitor != tt.outside || st.StaleVotes != tt.stale {
				t.Fatalf("forged %d, by non-monitors %d, stale %d; want %d, %d, %d", st.BadVoteSignatures,
					st.VotesNotMonitor, st.StaleVotes, tt.forged, tt.outside, tt.stale)
			}
			if tt.forged > 0 && (len(rd.Rejected) != 1 || rd.Rejected[0].Reason != BadVoteSignature || rd.Rejected[0].From != "m:1") {
				t.Fatalf("rejected %+v, want one bad_vote_signature from m:1", rd.Rejected)
			}
			if tt.forged == 0 && len(rd.Rejected) > 0 {
				t.Fatalf("rejected %+v", rd.Rejected)
			}
		})
	}
}

// TestForgedVotesAgainstSelf: a vote against a in the name of one of its
// monitors, signed by m, is refused and not refuted; the monitor's own is
// refuted.
func TestForgedVotesAgainstSelf(t *testing.T) {
	c := newVotingCluster(t)
	mon := ""
	for _, id := range []string{"n1", "n2", "n3", "n4", "n5", "x"} {
		if c.a.Monitor().CanVote("a", id) {
			mon = id
			break
		}
	}
	if mon == "" {
		t.Fatal("a has no monitor")
	}
	own := c.a.State().Heartbeat()
	v := lsync.Vote{ID: "a", Generation: 1, Heartbeat: own, By: mon, Seq: 3}
	rd := c.suspect(t, t0, c.s.vote(t, v, c.s.keys["m"]))
	if c.a.Refutations() != 0 || len(rd.Rejected) != 1 || rd.Rejected[0].Reason != BadVoteSignature {
		t.Fatalf("refutations %d, rejected %+v", c.a.Refutations(), rd.Rejected)
	}
	c.suspect(t, t0, c.s.vote(t, v, nil))
	if c.a.Refutations() != 1 {
		t.Fatalf("a genuine vote against a was not refuted: %d", c.a.Refutations())
	}
}

// TestVoteChecksBounded: a thousand forged votes from one sender at once
// cost at most the sender's bucket of signature checks; a genuine vote
// from another sender is still checked and taken, and the sender's
// bucket refills with time.
func TestVoteChecksBounded(t *testing.T) {
	c := newVotingCluster(t)
	var votes []lsync.Vote
	for i := range 1000 {
		votes = append(votes, c.s.vote(t, lsync.Vote{ID: "x", Generation: 1, Heartbeat: c.hb, By: c.mon, Seq: uint64(i + 1)}, c.s.keys["m"]))
	}
	for len(votes) > 0 { // as a sender may, in messages of the most the codec takes
		n := min(len(votes), 200)
		c.suspect(t, t0, votes[:n]...)
		votes = votes[n:]
	}
	st := c.a.RecordStats()
	if st.VoteChecks != voteChecksPerSender || st.BadVoteSignatures != voteChecksPerSender || st.VoteChecksDeferred != 1000-voteChecksPerSender {
		t.Fatalf("%+v: want %d checks, the rest deferred", st, voteChecksPerSender)
	}
	genuine := c.s.vote(t, lsync.Vote{ID: "x", Generation: 1, Heartbeat: c.hb, By: c.mon, Seq: 2000}, nil)
	deliver(t, c.a, t0, c.mon+":1", &lsync.Suspect{Cluster: "test", From: c.mon, Votes: []lsync.Vote{genuine}})
	if !c.a.Monitor().Verdict("x") {
		t.Fatal("a genuine vote from another sender was not taken")
	}
	before := c.a.RecordStats().VoteChecks
	c.suspect(t, t0.Add(time.Second), c.s.vote(t, lsync.Vote{ID: "x", Generation: 1, Heartbeat: c.hb, By: c.mon, Seq: 3000}, c.s.keys["m"]))
	if got := c.a.RecordStats().VoteChecks; got != before+1 {
		t.Fatalf("m's bucket did not refill: %d checks, want %d", got, before+1)
	}
}

// TestSignedVoteSize: what signing adds to a vote on the wire, and a
// Suspect of signedVotesPerMessage signed votes of 16-byte ids fits a
// datagram sealed with a cluster key.
func TestSignedVoteSize(t *testing.T) {
	s := newSignedSet(t, "node-0000000042", "node-0000000007")
	size := func(votes ...lsync.Vote) int {
		b, err := wire.Encode(&lsync.Suspect{Cluster: "production-eu-1", From: "node-0000000007", Votes: votes})
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	v := lsync.Vote{ID: "node-0000000042", Generation: 1767225600000, Heartbeat: 3<<32 + 123456, By: "node-0000000007"}
	unsigned := size(v, v) - size(v)
	v.Proof = lsync.BeatProof{1, 2, 3}
	proven := size(v, v) - size(v)
	v.Seq = 1767225612345
	v = s.vote(t, v, nil)
	signed := size(v, v) - size(v)
	t.Logf("bytes per vote: %d unsigned, %d with its heartbeat proof, %d signed", unsigned, proven, signed)
	votes := make([]lsync.Vote, signedVotesPerMessage)
	for i := range votes {
		votes[i] = v
	}
	const budget = 1400 - 29 // the default datagram less the sealed envelope
	if n := size(votes...); n > budget {
		t.Fatalf("a Suspect of %d signed votes is %d bytes, over %d", len(votes), n, budget)
	}
}

// BenchmarkVoteGate is the cost of a vote at the gate: a genuine one
// checked (a signature verified), and a forged one once its sender's
// checks are spent.
func BenchmarkVoteGate(b *testing.B) {
	s := newSignedSet(b, "a", "x", "v")
	a := s.engine(b, "a", t0)
	for _, id := range []string{"x", "v"} {
		a.Step(t0, id+":1", s.engine(b, id, t0).helloMsg())
	}
	hb, _ := a.State().Peer("x")
	vote := func(seq uint64, key *identity.Key) lsync.Vote {
		return s.vote(b, lsync.Vote{ID: "x", Generation: 1, Heartbeat: hb.Heartbeat, By: "v", Seq: seq}, key)
	}
	var seq uint64 // rising across the benchmark's runs
	run := func(b *testing.B, key *identity.Key, from string, want func(st RecordStats) uint64) {
		votes := make([]lsync.Vote, b.N)
		for i := range votes {
			seq++
			votes[i] = vote(seq, key)
		}
		before := want(a.RecordStats())
		b.ResetTimer()
		for i := range votes {
			m := lsync.Suspect{Cluster: "test", Votes: votes[i : i+1]}
			a.gateVotes(&m, from, t0.Add(time.Duration(seq+uint64(i))*time.Second), &Ready{})
		}
		b.StopTimer()
		if got := want(a.RecordStats()) - before; got != uint64(b.N) {
			b.Fatalf("%d of %d votes as wanted", got, b.N)
		}
	}
	b.Run("genuine", func(b *testing.B) {
		run(b, nil, "v:1", func(st RecordStats) uint64 { return st.VoteChecks })
	})
	b.Run("forged-spent", func(b *testing.B) {
		for range voteChecksPerSender {
			m := lsync.Suspect{Cluster: "test", Votes: []lsync.Vote{vote(1<<60, s.keys["x"])}}
			a.gateVotes(&m, "m:1", t0.Add(time.Hour), &Ready{})
		}
		votes := make([]lsync.Vote, b.N)
		for i := range votes {
			votes[i] = vote(1<<61+uint64(i), s.keys["x"])
		}
		before := a.RecordStats().VoteChecksDeferred
		b.ResetTimer()
		for i := range votes {
			m := lsync.Suspect{Cluster: "test", Votes: votes[i : i+1]}
			a.gateVotes(&m, "m:1", t0.Add(time.Hour), &Ready{})
		}
		b.StopTimer()
		if got := a.RecordStats().VoteChecksDeferred - before; got != uint64(b.N) {
			b.Fatalf("%d of %d forged votes deferred", got, b.N)
		}
	})
}

// TestVotePastChainIsNews: a vote quoting a heartbeat past the end of
// the chain of its node's record held (the node restarted, and its new
// record has not arrived yet) is dropped quietly; one within the chain
// and unproven is counted as bad_beat_proof.
func TestVotePastChainIsNews(t *testing.T) {
	for _, tc := range []struct {
		name string
		hb   func(c *votingCluster) uint64
		bad  uint64
	}{
		{"past the chain held", func(c *votingCluster) uint64 { return c.a.recs.held["x"].com.Last() + 1 }, 0},
		{"within it, unproven", func(c *votingCluster) uint64 { return c.hb + 1 }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newVotingCluster(t)
			rd := c.suspect(t, t0, c.s.vote(t, lsync.Vote{ID: "x", Generation: 1, Heartbeat: tc.hb(c), By: c.mon, Seq: 10}, nil))
			c.a.Check(t0.Add(time.Second))
			if c.a.Monitor().Verdict("x") {
				t.Fatal("an unproven vote made a verdict")
			}
			if st := c.a.RecordStats(); st.BadBeatProofs != tc.bad || uint64(len(rd.Rejected)) != tc.bad {
				t.Fatalf("%d counted as bad_beat_proof, rejected %+v; want %d", st.BadBeatProofs, rd.Rejected, tc.bad)
			}
		})
	}
}
