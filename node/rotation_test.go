package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
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
// vote; deltas refused for their proofs are logged (noProofRefusals
// checks them).
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

// noProofRefusals checks that no node refused a delta for its proofs.
func noProofRefusals(t *testing.T, nodes []*Node) {
	t.Helper()
	for _, n := range nodes {
		if c := rejectedCount(t, n, "bad_record_proof"); c > 0 {
			t.Errorf("%s refused %v deltas with bad_record_proof", n.ID(), c)
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
// directory with the new key, and its record names the old key as
// retired, (3) the old pin is dropped, a node at a time. P's records
// from before and after are held by every node at their versions
// throughout; every node holds P's record under the new key, P stays
// alive, and nothing is refused, not even a copy of P's records proven
// by the old key.
func TestSignedKeyRotationLosesNoData(t *testing.T) { rotateKey(t, false) }

// TestSignedKeyRotationJoinerTakesOldRecords: nodes that join after P's
// rotation, one trusting both of P's keys and one only the new, take P's
// records signed by the old key, as well as those after.
func TestSignedKeyRotationJoinerTakesOldRecords(t *testing.T) { rotateKey(t, true) }

func rotateKey(t *testing.T, joinAfter bool) {
	key := testKeyB64(32)
	sc := newSignedCluster(t, "ca", "cb", "cc", "cd", "ce")
	oldKey := sc.keys["cc"]
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
	rec := ownRecord(t, nodes[2])
	if len(rec.Retired) != 1 || !rec.Retired[0].PublicKey.Equal(oldKey.Public()) || rec.Retired[0].Generation != rec.Generation ||
		rec.Retired[0].Through < maxOf(before) {
		t.Fatalf("cc's record names %+v as retired, want its old key through version %d at least", rec.Retired, maxOf(before))
	}
	after := writeAll(t, nodes, nodes[2], "after", 50)
	if err := holdAll(nodes, "cc", before); err != nil {
		t.Fatalf("after the restart with the new key: %v", err)
	}
	servesUnder(t, nodes[2], newKey.Public(), len(before)+len(after))
	if joinAfter {
		// A node that joins now must take P's records from before the
		// rotation, signed by the old key, as well as those after.
		nodes = append(nodes, joinHolding(t, sc, "cd", key, nil, nodes[0].Addr(), before, after))
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
	if joinAfter {
		// A node that trusts only the new key joins now.
		nodes = append(nodes, joinHolding(t, sc, "ce", key, pins, nodes[1].Addr(), before, after))
	}
	more := writeAll(t, nodes, nodes[2], "more", 10)
	for _, vs := range []map[string]uint64{before, after, more} {
		if err := holdAll(nodes, "cc", vs); err != nil {
			t.Fatalf("after the old pin was dropped: %v", err)
		}
	}
	noRefusals(t, nodes)
	noProofRefusals(t, nodes)
	verifyFeed(t, nodes[0], "cc", len(before)+len(after)+len(more))
}

// verifyFeed checks that n's changefeed of origin, which n took before
// the origin rotated its key, proves all want records: those proven by
// the retired key with the origin's record, which names it, and not
// without it.
func verifyFeed(t *testing.T, n *Node, origin string, want int) {
	t.Helper()
	page, err := n.Changes(context.Background(), origin, Cursor{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Deltas) != want || page.OriginRecord == nil {
		t.Fatalf("%s's page of %s: %d deltas, origin record %x; want %d and a record", n.ID(), origin, len(page.Deltas), page.OriginRecord, want)
	}
	if err := VerifyPage(page, page.OriginKey); err != nil {
		t.Fatalf("%s's page of %s: %v", n.ID(), origin, err)
	}
	rec := page.OriginRecord
	page.OriginRecord = nil
	if err := VerifyPage(page, page.OriginKey); !errors.Is(err, ErrPageUnproven) {
		t.Fatalf("%s's page of %s without the origin record: %v; want its old records unproven", n.ID(), origin, err)
	}
	page.OriginRecord = bytes.Clone(rec)
	page.OriginRecord[len(rec)-1] ^= 1 // its signature
	if err := VerifyPage(page, page.OriginKey); !errors.Is(err, ErrPageUnproven) {
		t.Fatalf("%s's page of %s with a forged origin record: %v", n.ID(), origin, err)
	}
}

// servesUnder checks that n, which rotated its key to pub, serves all
// want of its own records under pub alone: it signed its stored proofs
// again, and both copies of its key history (in its data directory and
// beside its key file) hold no mark left to do so.
func servesUnder(t *testing.T, n *Node, pub ed25519.PublicKey, want int) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		page, err := n.Changes(context.Background(), n.ID(), Cursor{}, 1000)
		if err != nil {
			return err
		}
		if len(page.Deltas) != want {
			return fmt.Errorf("%d of its own records, want %d", len(page.Deltas), want)
		}
		page.OriginRecord = nil
		if err := VerifyPage(page, pub); err != nil {
			return err
		}
		for _, path := range []string{filepath.Join(n.dataDir(), keyHistoryFile), n.cfg.KeyFile + keyHistorySuffix} {
			h, err := identity.LoadKeyHistory(path)
			if err != nil {
				return err
			}
			if !h.Current.Equal(pub) || len(h.Retired) != 1 || h.Rekey {
				return fmt.Errorf("key history %s: %+v", path, h)
			}
		}
		return nil
	})
}

// maxOf is the highest version of vs.
func maxOf(vs map[string]uint64) uint64 {
	var m uint64
	for _, v := range vs {
		m = max(m, v)
	}
	return m
}

// TestSignedWipedNodeKeepsItsIdentity: P's data directory is wiped and P
// comes back with the same key file (signed = true). P keeps its
// generation and takes its records back from its peers, each verified
// under its own key; every node, P included, holds them at their
// versions, P stays alive, its new writes (above the old versions) reach
// every node, and nothing is refused (wipe_test.go).
func TestSignedWipedNodeKeepsItsIdentity(t *testing.T) {
	t.Run("tombstone held", func(t *testing.T) { wipeAndRestart(t, false) })
	t.Run("tombstone collected", func(t *testing.T) {
		wipeAndRestart(t, true)
	})
}

// TestSignedWipeAfterRotation: P (cc) rotates its key, then its data
// directory is wiped and it restarts with the new key file. Its key
// history, kept beside the key file, still names the old key, so P takes
// back its records from before the rotation, which its peers hold under
// the old key's proofs, and so does a node that joins then trusting only
// the new key; nothing is refused.
func TestSignedWipeAfterRotation(t *testing.T) {
	key := testKeyB64(32)
	sc := newSignedCluster(t, "ca", "cb", "cc", "cd")
	oldKey := sc.keys["cc"]
	newFile := filepath.Join(sc.dir, "cc-new.key")
	newKey, _, err := identity.LoadOrCreate(newFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	newPin := identity.FormatPublicKey(newKey.Public())
	sc.pins["cc"] = append(sc.pins["cc"], newPin)
	dirs := map[string]string{"ca": t.TempDir(), "cb": t.TempDir(), "cc": t.TempDir()}
	nodes := durableTrio(t, sc, dirs, key)
	before := writeAll(t, nodes, nodes[2], "before", 30)

	nodes[2] = restartAs(t, sc, nodes[2], dirs["cc"], newFile, sc.pins, key, nodes[0].Addr(), nil)
	after := writeAll(t, nodes, nodes[2], "after", 10)
	servesUnder(t, nodes[2], newKey.Public(), len(before)+len(after))
	gen := ownRecord(t, nodes[2]).Generation

	nodes[2] = restartAs(t, sc, nodes[2], dirs["cc"], newFile, sc.pins, key, nodes[0].Addr(), func() {
		if err := os.RemoveAll(dirs["cc"]); err != nil {
			t.Fatal(err)
		}
	})
	p := nodes[2]
	rec := ownRecord(t, p)
	if rec.Generation != gen || len(rec.Retired) != 1 || !rec.Retired[0].PublicKey.Equal(oldKey.Public()) ||
		rec.Retired[0].Through < maxOf(before) {
		t.Fatalf("wiped node's record: generation %d (was %d), retired %+v; want its old key through version %d at least",
			rec.Generation, gen, rec.Retired, maxOf(before))
	}
	eventually(t, 15*time.Second, func() error {
		if err := holdAll(nodes, "cc", before); err != nil {
			return err
		}
		if err := holdAll(nodes, "cc", after); err != nil {
			return err
		}
		return allAlive(nodes, "cc")
	})
	more := map[string]uint64{"more": setWhenWritable(t, p, "more", "more")}
	if more["more"] <= maxOf(after) {
		t.Fatalf("written at version %d after the wipe, not above %d", more["more"], maxOf(after))
	}

	// A joiner that trusts only the new key, seeded with P.
	pins := make(map[string][]string)
	for id, ks := range sc.pins {
		pins[id] = ks
	}
	pins["cc"] = []string{newPin}
	cfg := sc.config("cd", true, []string{key})
	cfg.TrustedKeys = pins
	cfg.Seeds = []string{p.Addr()}
	nodes = append(nodes, startNode(t, cfg))
	eventually(t, 15*time.Second, func() error {
		for _, vs := range []map[string]uint64{before, after, more} {
			if err := holdAll(nodes, "cc", vs); err != nil {
				return err
			}
		}
		return nil
	})
	noRefusals(t, nodes)
	noProofRefusals(t, nodes)
}

// joinHolding starts node id of sc, seeded by seed, trusting pins (sc's
// when nil), and waits until it holds cc's keys of every map in vss.
func joinHolding(t *testing.T, sc *signedCluster, id, key string, pins map[string][]string, seed string, vss ...map[string]uint64) *Node {
	t.Helper()
	cfg := sc.config(id, true, []string{key})
	if pins != nil {
		cfg.TrustedKeys = pins
	}
	cfg.Seeds = []string{seed}
	joiner := startNode(t, cfg)
	eventually(t, 15*time.Second, func() error {
		for _, vs := range vss {
			if err := holdAll([]*Node{joiner}, "cc", vs); err != nil {
				return err
			}
		}
		return nil
	})
	return joiner
}
