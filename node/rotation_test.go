package node

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/sync/identity"
)

// durableTrio starts ca, cb and cc of sc, signing, each on a data
// directory of dirs, cc's key file keyFile.
func durableTrio(t *testing.T, sc *signedCluster, dirs map[string]string, key string) []*Node {
	t.Helper()
	var nodes []*Node
	for i, id := range []string{"ca", "cb", "cc"} {
		cfg := sc.config(id, true, []string{key})
		cfg.InMemory, cfg.DataDir = false, dirs[id]
		if i > 0 {
			cfg.Seeds = []string{nodes[0].Addr()}
		}
		nodes = append(nodes, startNode(t, cfg))
	}
	eventually(t, 10*time.Second, func() error { return allAlive(nodes, "cc") })
	return nodes
}

// writeAll writes n keys prefix-i at node p and waits until every node
// holds them all; it returns their versions.
func writeAll(t *testing.T, nodes []*Node, p *Node, prefix string, n int) map[string]uint64 {
	t.Helper()
	vs := make(map[string]uint64)
	for i := range n {
		k := fmt.Sprintf("%s-%d", prefix, i)
		v, err := p.Set(context.Background(), k, []byte(k))
		if err != nil {
			t.Fatal(err)
		}
		vs[k] = v
	}
	eventually(t, 15*time.Second, func() error { return holdAll(nodes, p.ID(), vs) })
	return vs
}

// holdAll reports whether every node holds owner's keys at their
// versions.
func holdAll(nodes []*Node, owner string, vs map[string]uint64) error {
	for k, v := range vs {
		if err := converged(nodes, owner, k, v); err != nil {
			return err
		}
	}
	return nil
}

// restartAs stops old and starts it again on its port and the data
// directory dir, its key file keyFile, with trust pins; wipe runs between.
func restartAs(t *testing.T, sc *signedCluster, old *Node, dir, keyFile string, pins map[string][]string, key, seed string, wipe func()) *Node {
	t.Helper()
	_, port, _ := net.SplitHostPort(old.Addr())
	old.cfg.SkipLeave = true // a restart, not a leave
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	if wipe != nil {
		wipe()
	}
	cfg := sc.config(old.ID(), true, []string{key})
	cfg.InMemory, cfg.DataDir, cfg.KeyFile, cfg.TrustedKeys = false, dir, keyFile, pins
	cfg.Port, _ = strconv.Atoi(port)
	cfg.Seeds = []string{seed}
	return startNode(t, cfg)
}

// noRefusals checks that no node refused a node record, heartbeat or
// vote. Copies of records a node holds already, proven by a key its
// origin no longer uses, are refused as bad_record_proof after a
// rotation (TestSignedKeyRotationJoinerTakesOldRecords): logged only.
func noRefusals(t *testing.T, nodes []*Node) {
	t.Helper()
	for _, n := range nodes {
		for _, r := range []string{"bad_signature", "untrusted_key", "unsigned_claim", "bad_beat_proof", "bad_vote_signature"} {
			if c := rejectedCount(t, n, r); c > 0 {
				t.Errorf("%s refused %v with %s", n.ID(), c, r)
			}
		}
		if c := rejectedCount(t, n, "bad_record_proof"); c > 0 {
			t.Logf("%s refused %v deltas with bad_record_proof", n.ID(), c)
		}
	}
}

// recordKeyAt is the public key of id's record that n holds.
func recordKeyAt(n *Node, id string) []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r, ok := n.eng.Record(id); ok {
		return r.PublicKey
	}
	return nil
}

// TestSignedKeyRotationLosesNoData: P (cc) rotates its key as
// docs/security.md says, with signed = true: (1) its new key is pinned
// for its id beside the old one on every node, (2) P restarts on its data
// directory with the new key, (3) the old pin is dropped, a node at a
// time. P's records from before and after are held by every node at
// their versions throughout; every node holds P's record under the new
// key, P stays alive, and nothing is refused.
func TestSignedKeyRotationLosesNoData(t *testing.T) { rotateKey(t, false) }

// TestSignedKeyRotationJoinerTakesOldRecords: a node that joins after P's
// rotation takes P's records signed by the old key.
func TestSignedKeyRotationJoinerTakesOldRecords(t *testing.T) {
	t.Skip("not yet: a node re-signs none of its records under a new key, and record proofs verify against " +
		"the key of the origin's newest record only, so a node that joins after the rotation refuses " +
		"P's records from before it (bad_record_proof), and with them the rest of the delta")
	rotateKey(t, true)
}

func rotateKey(t *testing.T, joinAfter bool) {
	key := testKeyB64(32)
	sc := newSignedCluster(t, "ca", "cb", "cc", "cd")
	newFile := filepath.Join(sc.dir, "cc-new.key")
	newKey, _, err := identity.LoadOrCreate(newFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	newPin := identity.FormatPublicKey(newKey.Public())
	sc.pins["cc"] = append(sc.pins["cc"], newPin) // (1), before the nodes start
	dirs := map[string]string{"ca": t.TempDir(), "cb": t.TempDir(), "cc": t.TempDir()}
	nodes := durableTrio(t, sc, dirs, key)
	before := writeAll(t, nodes, nodes[2], "before", 50)

	nodes[2] = restartAs(t, sc, nodes[2], dirs["cc"], newFile, sc.pins, key, nodes[0].Addr(), nil) // (2)
	eventually(t, 15*time.Second, func() error {
		for _, n := range nodes[:2] {
			if !bytes.Equal(recordKeyAt(n, "cc"), newKey.Public()) {
				return fmt.Errorf("%s holds cc's record under another key", n.ID())
			}
		}
		return allAlive(nodes, "cc")
	})
	after := writeAll(t, nodes, nodes[2], "after", 50)
	if err := holdAll(nodes, "cc", before); err != nil {
		t.Fatalf("after the restart with the new key: %v", err)
	}
	if joinAfter {
		// A node that joins now must take P's records from before the
		// rotation, signed by the old key, as well as those after.
		cfg := sc.config("cd", true, []string{key})
		cfg.Seeds = []string{nodes[0].Addr()}
		joiner := startNode(t, cfg)
		eventually(t, 15*time.Second, func() error {
			if err := holdAll([]*Node{joiner}, "cc", after); err != nil {
				return err
			}
			return holdAll([]*Node{joiner}, "cc", before)
		})
		nodes = append(nodes, joiner)
	}

	// (3) cb drops the old pin (a restart with the new config).
	pins := make(map[string][]string)
	for id, ks := range sc.pins {
		pins[id] = ks
	}
	pins["cc"] = []string{newPin}
	nodes[1] = restartAs(t, sc, nodes[1], dirs["cb"], sc.files["cb"], pins, key, nodes[0].Addr(), nil)
	eventually(t, 15*time.Second, func() error {
		if err := allAlive(nodes, "cc"); err != nil {
			return err
		}
		return allAlive(nodes, "cb")
	})
	more := writeAll(t, nodes, nodes[2], "more", 10)
	for _, vs := range []map[string]uint64{before, after, more} {
		if err := holdAll(nodes, "cc", vs); err != nil {
			t.Fatalf("after the old pin was dropped: %v", err)
		}
	}
	noRefusals(t, nodes)
}

// TestSignedWipedNodeKeepsItsIdentity: P's data directory is wiped and P
// comes back with the same key file (signed = true). P keeps its
// generation and takes its records back from its peers, each verified
// under its own key; every node, P included, holds them at their
// versions, P stays alive, its new writes (above the old versions) reach
// every node, and nothing is refused (wipe_test.go).
func TestSignedWipedNodeKeepsItsIdentity(t *testing.T) {
	t.Run("tombstone held", func(t *testing.T) { wipeAndRestart(t, false) })
	t.Run("tombstone collected", func(t *testing.T) { wipeAndRestart(t, true) })
}
