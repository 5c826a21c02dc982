package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/proof"
	"github.com/leviathan-gossip/leviathan/sync/transport"
)

// wipeConfig is sc's config of id on data directory dir; with collect,
// tombstones are collected within a tenth of a second.
func wipeConfig(sc *signedCluster, id, dir, key string, collect bool) Config {
	cfg := sc.config(id, true, []string{key})
	cfg.InMemory, cfg.DataDir = false, dir
	if collect {
		cfg.TombstoneGrace, cfg.ReduceVal = 50*time.Millisecond, 20*time.Millisecond
	}
	return cfg
}

// wipeTrio starts ca, cb and cc, signing, each on a data directory of
// dirs, and waits until they hold cc alive.
func wipeTrio(t *testing.T, collect bool) (*signedCluster, map[string]string, string, []*Node) {
	t.Helper()
	key := testKeyB64(32)
	sc := newSignedCluster(t, "ca", "cb", "cc")
	dirs := map[string]string{"ca": t.TempDir(), "cb": t.TempDir(), "cc": t.TempDir()}
	var nodes []*Node
	for i, id := range []string{"ca", "cb", "cc"} {
		cfg := wipeConfig(sc, id, dirs[id], key, collect)
		if i > 0 {
			cfg.Seeds = []string{nodes[0].Addr()}
		}
		nodes = append(nodes, startNode(t, cfg))
	}
	eventually(t, 10*time.Second, func() error { return allAlive(nodes, "cc") })
	return sc, dirs, key, nodes
}

// restartWiped stops p, wipes its data directory and starts it again on
// its port with its key file, seeded with seed.
func restartWiped(t *testing.T, sc *signedCluster, p *Node, dir, key, seed string, collect bool) *Node {
	t.Helper()
	return restartOn(t, sc, p, dir, key, seed, collect, func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	})
}

// restartOn stops p and starts it again on its port and data directory
// dir with its key file, seeded with seed; between runs between.
func restartOn(t *testing.T, sc *signedCluster, p *Node, dir, key, seed string, collect bool, between func()) *Node {
	t.Helper()
	_, port, _ := net.SplitHostPort(p.Addr())
	p.cfg.SkipLeave = true // a restart, not a leave
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if between != nil {
		between()
	}
	cfg := wipeConfig(sc, p.ID(), dir, key, collect)
	cfg.Port, _ = strconv.Atoi(port)
	cfg.Seeds = []string{seed}
	return startNode(t, cfg)
}

// takenBack waits until every node holds p (nodes[2]) alive at gen under
// its key, with its keys before at their versions, and checks that p
// holds a proof by its own key of each of its records (proven of them).
func takenBack(t *testing.T, sc *signedCluster, nodes []*Node, gen uint64, before map[string]uint64, proven int) {
	t.Helper()
	p := nodes[2]
	if got := ownRecord(t, p).Generation; got != gen {
		t.Fatalf("wiped node at generation %d, was %d", got, gen)
	}
	eventually(t, 15*time.Second, func() error {
		for _, n := range nodes[:2] {
			if q, ok := peerOf(n, p.ID()); !ok || q.Generation != gen {
				return fmt.Errorf("%s holds %s at generation %d", n.ID(), p.ID(), q.Generation)
			}
			if !bytes.Equal(recordKeyAt(n, p.ID()), sc.keys[p.ID()].Public()) {
				return fmt.Errorf("%s holds %s's record under another key", n.ID(), p.ID())
			}
		}
		if err := holdAll(nodes, p.ID(), before); err != nil {
			return err
		}
		return allAlive(nodes, p.ID())
	})
	if got := ownProofs(t, p); got != proven {
		t.Fatalf("%s holds the proofs of %d of its own records, want %d", p.ID(), got, proven)
	}
}

// writesAbove writes on p once it takes writes, checks that the versions
// are above top and that every node holds them and before.
func writesAbove(t *testing.T, nodes []*Node, top uint64, before map[string]uint64) {
	t.Helper()
	p := nodes[2]
	// Its first write may wait for the peers' last word on its data.
	after := map[string]uint64{"after-first": setWhenWritable(t, p, "after-first", "after-first")}
	for k, v := range writeAll(t, nodes, p, "after", 20) {
		after[k] = v
	}
	for k, v := range after {
		if v <= top {
			t.Fatalf("%s/%s written at version %d, not above %d from before the wipe", p.ID(), k, v, top)
		}
	}
	for _, vs := range []map[string]uint64{before, after} {
		if err := holdAll(nodes, p.ID(), vs); err != nil {
			t.Fatal(err)
		}
	}
}

func topVersion(vs map[string]uint64) uint64 {
	var top uint64
	for _, v := range vs {
		top = max(top, v)
	}
	return top
}

// wipeAndRestart drives TestSignedWipedNodeKeepsItsIdentity: P (cc)
// writes, deletes one key (with collect, P collects its tombstone and
// restarts, so that its record states its horizon and every node
// collects it: peers then refill P from their current state), its data
// directory is wiped and it restarts with its key file.
func wipeAndRestart(t *testing.T, collect bool) {
	sc, dirs, key, nodes := wipeTrio(t, collect)
	p := nodes[2]
	before := writeAll(t, nodes, p, "before", 20)
	if _, err := p.Delete(context.Background(), "before-0"); err != nil {
		t.Fatal(err)
	}
	delete(before, "before-0")
	collected := func(nodes []*Node) error {
		for _, n := range nodes {
			n.mu.Lock()
			_, held := n.eng.Get("cc", "before-0")
			n.mu.Unlock()
			if held {
				return fmt.Errorf("%s still holds the tombstone", n.ID())
			}
		}
		return nil
	}
	eventually(t, 10*time.Second, func() error {
		if err := deletedAll(nodes, "cc", "before-0"); err != nil || !collect {
			return err
		}
		return collected(nodes[2:])
	})
	if collect {
		// Peers collect P's tombstones as far as P's record states its
		// horizon, which a restart signs at once.
		nodes[2] = restartOn(t, sc, p, dirs["cc"], key, nodes[0].Addr(), collect, nil)
		p = nodes[2]
		eventually(t, 10*time.Second, func() error { return collected(nodes) })
	}
	gen, horizon := ownRecord(t, p).Generation, ownRecord(t, p).GCVersion
	if collect && horizon == 0 {
		t.Fatal("setup: cc's record states no horizon")
	}

	nodes[2] = restartWiped(t, sc, p, dirs["cc"], key, nodes[0].Addr(), collect)
	// Peers that collected under that horizon refill P past it only as
	// far as P's record states it: its first record must.
	if got := ownRecord(t, nodes[2]).GCVersion; got != horizon {
		t.Fatalf("wiped node's record states horizon %d, want %d from before the wipe", got, horizon)
	}
	proven := len(before) + 1 // the tombstone of before-0
	if collect {
		proven = len(before)
	}
	takenBack(t, sc, nodes, gen, before, proven)
	if err := deletedAll(nodes, "cc", "before-0"); err != nil {
		t.Fatal(err)
	}
	writesAbove(t, nodes, topVersion(before), before)
	noRefusals(t, nodes)
}

// TestSignedWipeAfterRefutation: P refutes a newer generation of itself
// and relabels its data to a generation above; its identity state follows, so
// P wiped afterwards comes back at that generation and loses nothing.
func TestSignedWipeAfterRefutation(t *testing.T) {
	sc, dirs, key, nodes := wipeTrio(t, false)
	p := nodes[2]
	before := writeAll(t, nodes, p, "before", 10)
	old := ownRecord(t, p)
	claimed := old.Generation + 1000
	k, _ := base64.StdEncoding.DecodeString(key)
	kr, err := transport.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	// A node's entry of itself goes to its core, signed or not: a newer
	// generation is refuted.
	at := newAttacker(t, p.Addr(), kr)
	at.sendMsg("an earlier life", &lsync.Syn{Cluster: "test", From: "ca", Digest: []lsync.DigestEntry{
		{ID: "cc", Addr: old.Addr, Generation: claimed, Heartbeat: 1 << 32}}})
	var gen uint64
	eventually(t, 10*time.Second, func() error {
		if gen = p.Status().Generation; gen <= claimed {
			return fmt.Errorf("cc at generation %d, claimed %d", gen, claimed)
		}
		st, ok, err := readIdentityState(identityStatePath(sc.files["cc"]))
		if err != nil || !ok || st.Generation != gen {
			return fmt.Errorf("identity state %+v (%v, %v), want generation %d", st, ok, err, gen)
		}
		return nil
	})
	// Peers take the new generation (dropping the old one's data) and
	// refill it from P.
	eventually(t, 10*time.Second, func() error {
		for _, n := range nodes[:2] {
			if q, ok := peerOf(n, "cc"); !ok || q.Generation != gen {
				return fmt.Errorf("%s holds cc at generation %d, want %d", n.ID(), q.Generation, gen)
			}
		}
		return holdAll(nodes, "cc", before)
	})

	nodes[2] = restartWiped(t, sc, p, dirs["cc"], key, nodes[0].Addr(), false)
	takenBack(t, sc, nodes, gen, before, len(before))
	writesAbove(t, nodes, topVersion(before), before)
	// The refutation's record commits to no heartbeat chain until the new
	// generation's is built, and beats sent meanwhile are refused
	// (bad_beat_proof): logged only.
	for _, n := range nodes {
		for _, r := range []string{"bad_signature", "untrusted_key", "unsigned_claim", "bad_record_proof", "bad_vote_signature"} {
			if c := rejectedCount(t, n, r); c > 0 {
				t.Errorf("%s refused %v with %s", n.ID(), c, r)
			}
		}
		t.Logf("%s refused %v beats with bad_beat_proof", n.ID(), rejectedCount(t, n, "bad_beat_proof"))
	}
}

// deletedAll reports whether every node holds owner's key deleted.
func deletedAll(nodes []*Node, owner, key string) error {
	for _, n := range nodes {
		if _, err := n.Get(context.Background(), owner, key); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%s: %s/%s: %v, want deleted", n.ID(), owner, key, err)
		}
	}
	return nil
}

// ownProofs counts n's own records whose stored proof verifies under n's
// key.
func ownProofs(t *testing.T, n *Node) int {
	t.Helper()
	n.mu.Lock()
	view, ok := n.eng.State().View(n.ID())
	n.mu.Unlock()
	if !ok {
		t.Fatalf("%s does not hold itself", n.ID())
	}
	pub := n.ident.key.Public()
	proven := 0
	if _, err := n.signer.store.ScanProofs(view, 0, func(_ *lsync.Record, rp lsync.RecordProof) bool {
		if rp.Tree != nil {
			p, _ := rp.Tree.Proof()
			if (&proof.Signed{Header: p.Header, Signature: p.Signature}).Verify(pub) == nil {
				proven++
			}
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return proven
}

// TestSignedWipedWithoutHolders: P's state survives but no node holds
// its data (the whole cluster was wiped, or P is seeded by a node that
// never knew it). P starts at its generation, refuses writes while peers
// may still answer for its data, and takes them once the bounded wait
// has passed, however its one peer answers.
func TestSignedWipedWithoutHolders(t *testing.T) {
	for _, withPeer := range []bool{false, true} {
		t.Run(fmt.Sprintf("peer %v", withPeer), func(t *testing.T) {
			sc := newSignedCluster(t, "cc", "cq")
			dir := t.TempDir()
			cfg := wipeConfig(sc, "cc", dir, testKeyB64(32), false)
			key := cfg.EncryptKeys[0]
			p := startNode(t, cfg)
			if _, err := p.Set(context.Background(), "old", []byte("1")); err != nil {
				t.Fatal(err)
			}
			gen := p.Status().Generation
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			cfg = wipeConfig(sc, "cc", dir, key, false)
			if withPeer {
				q := startNode(t, wipeConfig(sc, "cq", t.TempDir(), key, false))
				cfg.Seeds = []string{q.Addr()}
			}
			start := time.Now()
			p = startNode(t, cfg)
			if got := p.Status().Generation; got != gen {
				t.Fatalf("generation %d, was %d", got, gen)
			}
			if _, err := p.Set(context.Background(), "early", nil); !errors.Is(err, ErrRecovering) {
				t.Fatalf("write at once after the wipe: %v, want ErrRecovering", err)
			}
			setWhenWritable(t, p, "new", "2")
			if took, wait := time.Since(start), lostTailWait(cfg.GossipVal); took < wait {
				t.Fatalf("writable after %v, before the wait of %v", took, wait)
			}
		})
	}
}

// TestSignedKeyFileLocked: a second node with the same key file is
// refused while the first runs, whatever its data directory; once the
// first is closed it starts. A state file that is not one stops the start.
func TestSignedKeyFileLocked(t *testing.T) {
	sc := newSignedCluster(t, "cc")
	key := testKeyB64(32)
	first := startNode(t, wipeConfig(sc, "cc", t.TempDir(), key, false))
	second := wipeConfig(sc, "cc", t.TempDir(), key, false)
	if n, err := New(second, WithLogger(testLogger(t))); keyFileLocking && !errors.Is(err, errKeyInUse) {
		if n != nil {
			n.Close()
		}
		t.Fatalf("second start with the key file of a running node: %v, want %v", err, errKeyInUse)
	} else if n != nil {
		n.Close()
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	n, err := New(second, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatalf("start once the first closed: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(identityStatePath(sc.files["cc"]), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := New(second, WithLogger(testLogger(t))); !errors.Is(err, errIdentityState) {
		if n != nil {
			n.Close()
		}
		t.Fatalf("start with a broken identity state: %v, want %v", err, errIdentityState)
	}
}

// TestSignedWipedNodeTakesBackManyRecords: a wiped P with 5,000 records
// of 100 bytes, more than the first answer carries, takes them all back
// over many exchanges before its first write, each under its proof.
func TestSignedWipedNodeTakesBackManyRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 records written and refilled: seconds")
	}
	sc, dirs, key, nodes := wipeTrio(t, false)
	p := nodes[2]
	const n, chunk = 5000, 500
	value := bytes.Repeat([]byte("v"), 100)
	before := make(map[string]uint64, n)
	for i := 0; i < n; i += chunk {
		kvs := make([]KV, chunk)
		for j := range kvs {
			kvs[j] = KV{Key: fmt.Sprintf("k%05d", i+j), Value: value}
		}
		vs, err := p.SetMany(context.Background(), kvs)
		if err != nil {
			t.Fatal(err)
		}
		for j, v := range vs {
			before[kvs[j].Key] = v
		}
	}
	top := topVersion(before)
	eventually(t, 30*time.Second, func() error { return converged(nodes, "cc", fmt.Sprintf("k%05d", n-1), top) })
	gen := ownRecord(t, p).Generation

	start := time.Now()
	nodes[2] = restartWiped(t, sc, p, dirs["cc"], key, nodes[0].Addr(), false)
	v := setWhenWritable(t, nodes[2], "after", "1")
	took := time.Since(start)
	if got := nodes[2].Status().MaxVersion; v <= top || got != v {
		t.Fatalf("first write after the wipe at version %d (watermark %d), not above %d", v, got, top)
	}
	takenBack(t, sc, nodes, gen, before, n+1)
	t.Logf("%d records taken back, first write after %v", n, took)
	noRefusals(t, nodes)
}

// TestSignedWipedRestartBeforeRecovered: P, wiped, is restarted before
// it took its data back (here: built, never started, closed). Its store
// is no longer new, yet the next start takes the data back all the same,
// and only P's first write ends that.
func TestSignedWipedRestartBeforeRecovered(t *testing.T) {
	sc, dirs, key, nodes := wipeTrio(t, false)
	p := nodes[2]
	before := writeAll(t, nodes, p, "before", 20)
	gen := ownRecord(t, p).Generation
	_, port, _ := net.SplitHostPort(p.Addr())
	p.cfg.SkipLeave = true
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dirs["cc"]); err != nil {
		t.Fatal(err)
	}
	early, err := New(wipeConfig(sc, "cc", dirs["cc"], key, false), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := early.Close(); err != nil {
		t.Fatal(err)
	}
	state := func() identityState {
		st, ok, err := readIdentityState(identityStatePath(sc.files["cc"]))
		if err != nil || !ok {
			t.Fatalf("identity state: %v (%v)", err, ok)
		}
		return st
	}
	if st := state(); !st.Recovering || st.Generation != gen {
		t.Fatalf("identity state %+v after a start on a wiped store, want recovering at generation %d", st, gen)
	}

	cfg := wipeConfig(sc, "cc", dirs["cc"], key, false)
	cfg.Port, _ = strconv.Atoi(port)
	cfg.Seeds = []string{nodes[0].Addr()}
	nodes[2] = startNode(t, cfg)
	takenBack(t, sc, nodes, gen, before, len(before))
	writesAbove(t, nodes, topVersion(before), before)
	eventually(t, 5*time.Second, func() error {
		if st := state(); st.Recovering {
			return fmt.Errorf("identity state %+v after the first write", st)
		}
		return nil
	})
	noRefusals(t, nodes)
}
