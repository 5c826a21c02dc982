package node

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/transport"
)

// beatForger is a member holding the cluster key and a key of its own,
// but not P's, that raises P's heartbeat at some nodes: in digests,
// member lists held up, and beats in P's name, each with a made-up
// proof, one beat higher each time, as a live P's would rise.
type beatForger struct {
	at   []*attacker
	p    lsync.DigestEntry // P as the forger last stated it
	sent int
}

func newBeatForger(t *testing.T, key string, p lsync.DigestEntry, targets ...*Node) *beatForger {
	t.Helper()
	k, _ := base64.StdEncoding.DecodeString(key)
	kr, err := transport.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	f := &beatForger{p: p}
	for _, n := range targets {
		f.at = append(f.at, newAttacker(t, n.Addr(), kr))
	}
	return f
}

// forge sends one round of forgeries to every target.
func (f *beatForger) forge() {
	f.sent++
	e := f.p
	e.Heartbeat += uint64(f.sent)
	e.BeatProof = lsync.BeatProof{0: byte(f.sent), 1: byte(f.sent >> 8), 15: 0x5a}
	for _, a := range f.at {
		a.sendMsg("digest", &lsync.Syn{Cluster: "test", From: "cm", Digest: []lsync.DigestEntry{e}})
		a.sendMsg("members", &lsync.Members{Cluster: "test", From: "cm", Up: 1, Members: []lsync.DigestEntry{e}})
		a.sendMsg("beat", &lsync.Beat{Cluster: "test", From: e.ID, Generation: e.Generation, Heartbeat: e.Heartbeat, Proof: e.BeatProof})
	}
}

// entryOf is id's digest entry as n holds it, with its proof.
func entryOf(t *testing.T, n *Node, id string) lsync.DigestEntry {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, e := range n.eng.Syn().Digest {
		if e.ID == id {
			return e
		}
	}
	info, ok := n.eng.State().Peer(id)
	if !ok {
		t.Fatalf("%s does not know %s", n.ID(), id)
	}
	gen, hb, proof, _ := n.eng.State().HeldBeat(id)
	return lsync.DigestEntry{ID: id, Addr: info.Addr, Generation: gen, Heartbeat: hb, BeatProof: proof}
}

// ownHeartbeat is n's heartbeat as it states it.
func ownHeartbeat(n *Node) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.eng.State().Heartbeat()
}

// downAt reports whether every node of nodes holds id as down (suspended
// or dead).
func downAt(nodes []*Node, id string) error {
	for _, n := range nodes {
		if p, ok := peerOf(n, id); !ok || p.State == StateAlive {
			return fmt.Errorf("%s holds %s %v", n.ID(), id, p.State)
		}
	}
	return nil
}

// TestSignedForgedBeatsKeepNoCrashedNodeAlive: with signed = true, a
// member raising a crashed P's heartbeat at the other nodes, as fast as a
// live P's would rise, does not keep P alive: both suspect it as they do
// with no forger.
func TestSignedForgedBeatsKeepNoCrashedNodeAlive(t *testing.T) {
	key := testKeyB64(32)
	suspectedIn := func(t *testing.T, forged bool) (time.Duration, bool) {
		sc := newSignedCluster(t, "ca", "cb", "cc", "cm")
		nodes := startSignedTrio(t, sc, true, []string{key})
		a, b, c := nodes[0], nodes[1], nodes[2]
		rec := rejectedCount(t, a, "bad_beat_proof")
		f := newBeatForger(t, key, entryOf(t, a, "cc"), a, b)
		c.cfg.SkipLeave = true // a crash, not a leave
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		crashed := time.Now()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for time.Since(crashed) < 10*time.Second {
			if forged {
				f.forge()
			}
			if downAt(nodes[:2], "cc") == nil {
				if forged && rejectedCount(t, a, "bad_beat_proof") <= rec {
					t.Errorf("no bad_beat_proof counted for %d forgeries", f.sent)
				}
				return time.Since(crashed), true
			}
			<-tick.C
		}
		return 0, false
	}
	quiet, ok := suspectedIn(t, false)
	if !ok {
		t.Fatal("a crashed node not suspected within 10 s")
	}
	attacked, ok := suspectedIn(t, true)
	if !ok {
		t.Fatal("forged heartbeats kept a crashed node alive for 10 s")
	}
	t.Logf("crashed P suspected by both others in %v with no forger, %v with forged heartbeats", quiet, attacked)
}

// TestSignedForgedBeatsOfLiveNodeRefused: with signed = true, a member
// raising a live P's heartbeat far above P's own is refused at every
// step: no node ever holds P above the heartbeat P stated, the forgeries
// are counted, and P stays alive.
func TestSignedForgedBeatsOfLiveNodeRefused(t *testing.T) {
	key := testKeyB64(32)
	sc := newSignedCluster(t, "ca", "cb", "cc", "cm")
	nodes := startSignedTrio(t, sc, true, []string{key})
	a, b, c := nodes[0], nodes[1], nodes[2]
	p := entryOf(t, a, "cc")
	p.Heartbeat += 1000 // far above: a refutation would have to climb
	f := newBeatForger(t, key, p, a, b)
	rec := rejectedCount(t, a, "bad_beat_proof")
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(time.Second); time.Now().Before(end); <-tick.C {
		f.forge()
		for _, n := range nodes[:2] {
			held, _ := heldOf(n, "cc")
			if own := ownHeartbeat(c); held.Heartbeat > own {
				t.Fatalf("%s holds cc at %d, above cc's own %d", n.ID(), held.Heartbeat, own)
			}
		}
	}
	if got := rejectedCount(t, a, "bad_beat_proof"); got <= rec {
		t.Fatalf("bad_beat_proof at %v after %d forgeries", got, f.sent)
	}
	if own, start := ownHeartbeat(c), p.Heartbeat-1000; own > start+1000 {
		t.Fatalf("cc climbed to %d from %d under the forgeries", own, start)
	}
	eventually(t, 10*time.Second, func() error { return allAlive(nodes, "cc") })
	// cc heard no forgery: whatever it refused was a genuine heartbeat.
	if got := rejectedCount(t, c, "bad_beat_proof"); got > 0 {
		t.Errorf("cc refused %v genuine heartbeats", got)
	}
}
