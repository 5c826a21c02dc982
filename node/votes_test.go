package node

import (
	"encoding/base64"
	"slices"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/transport"
)

// TestForgedVotesSuspectNoLiveNode: a member holding the cluster key and
// a trusted key of its own (cm), but not the other nodes' keys, votes a
// live P (cc) out every 10 ms for 3 s: in the names of P's monitors (ca,
// cb), at P's heartbeat with P's own proof of it, signed with its own key
// or not at all, to every node. Unsigned, such votes suspend P again and
// again (the control). With signed = true no forged vote is taken (their
// seqs are far above any genuine one, and no node holds one), so P is
// suspected no more than its peers, which nobody votes against (never,
// unless an overloaded host stalls the nodes), and the forgeries are
// counted as bad_vote_signature or, beyond the signature checks allowed
// per sender, vote_checks_spent.
func TestForgedVotesSuspectNoLiveNode(t *testing.T) {
	key := testKeyB64(32)
	run := func(t *testing.T, signed bool) (suspended, others int, forgeries int, refused, spent float64) {
		sc := newSignedCluster(t, "ca", "cb", "cc", "cm")
		nodes := startSignedTrio(t, sc, signed, []string{key})
		a, b, p := nodes[0], nodes[1], nodes[2]
		subs := []*Subscription{a.Subscribe(1024), b.Subscribe(1024)}
		k, _ := base64.StdEncoding.DecodeString(key)
		kr, err := transport.NewKeyring(k)
		if err != nil {
			t.Fatal(err)
		}
		at := map[*Node]*attacker{a: newAttacker(t, a.Addr(), kr), b: newAttacker(t, b.Addr(), kr), p: newAttacker(t, p.Addr(), kr)}
		const forgedSeqs = 1 << 62
		seq := uint64(forgedSeqs)
		vote := func(by string, e lsync.DigestEntry, sign bool) lsync.Vote {
			seq++
			v := lsync.Vote{ID: "cc", Generation: e.Generation, Heartbeat: e.Heartbeat, By: by, Proof: e.BeatProof, Seq: seq}
			if sign {
				c := identity.VoteClaim{Cluster: "test", ID: v.ID, Generation: v.Generation, Heartbeat: v.Heartbeat, Proof: v.Proof, By: by, Seq: seq}
				v.Sig = identity.SignVote(sc.keys["cm"], &c)
			}
			return v
		}
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for start := time.Now(); time.Since(start) < 3*time.Second; <-tick.C {
			e := entryOf(t, a, "cc")
			for n, to := range at {
				for _, by := range []string{"ca", "cb"} {
					if by == n.ID() {
						continue
					}
					at := to
					at.sendMsg("suspect", &lsync.Suspect{Cluster: "test", From: "cm", Votes: []lsync.Vote{vote(by, e, signed)}})
					forgeries++
					if signed {
						at.sendMsg("suspect", &lsync.Suspect{Cluster: "test", From: "cm", Votes: []lsync.Vote{vote(by, e, false)}})
						forgeries++
					}
				}
			}
		}
		for _, s := range subs {
			for drained := false; !drained; {
				select {
				case ev := <-s.C:
					if ev.Type == EventSuspend {
						if slices.Contains(ev.Peers, "cc") {
							suspended++
						}
						others += len(ev.Peers) - btoi(slices.Contains(ev.Peers, "cc"))
					}
				default:
					drained = true
				}
			}
		}
		for _, n := range nodes {
			n.mu.Lock()
			for _, by := range []string{"ca", "cb"} {
				if got := n.eng.VoteSeq(by, "cc"); got >= forgedSeqs {
					t.Errorf("%s took a forged vote by %s against cc (seq %d)", n.ID(), by, got)
				}
			}
			n.mu.Unlock()
		}
		for _, n := range nodes {
			refused += rejectedCount(t, n, "bad_vote_signature")
		}
		for _, n := range nodes {
			spent += rejectedCount(t, n, "vote_checks_spent")
		}
		return suspended, others, forgeries, refused, spent
	}
	if s, o, _, _, _ := run(t, false); s <= o {
		t.Fatalf("control: forged votes in an unsigned cluster suspended P %d times, its peers %d", s, o)
	} else {
		t.Logf("unsigned: P suspended %d times, its peers %d", s, o)
	}
	s, o, sent, refused, spent := run(t, true)
	t.Logf("signed: P suspended %d times, its peers %d; %d forgeries, %.0f counted bad_vote_signature, %.0f beyond the signature checks allowed",
		s, o, sent, refused, spent)
	// No forged vote was taken (checked above); an overloaded host can
	// still stall the nodes into suspecting each other, P included, so a
	// couple of suspicions more than its peers' are chance.
	if s > o+2 {
		t.Fatalf("signed: P suspended %d times, its peers %d", s, o)
	}
	if refused+spent < 0.9*float64(sent) || refused < 0.45*float64(sent) { // datagrams: a few may be lost
		t.Fatalf("signed: %.0f of %d forgeries counted as forged, %.0f as beyond the checks", refused, sent, spent)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
