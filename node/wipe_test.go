package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/proof"
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

// wipeAndRestart drives TestSignedWipedNodeKeepsItsIdentity: P (cc)
// writes, deletes one key (with collect, every node collects its
// tombstone, so peers refill P from their current state), its data
// directory is wiped and it restarts with its key file.
func wipeAndRestart(t *testing.T, collect bool) {
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
	p := nodes[2]
	before := writeAll(t, nodes, p, "before", 20)
	if _, err := p.Delete(context.Background(), "before-0"); err != nil {
		t.Fatal(err)
	}
	delete(before, "before-0")
	eventually(t, 10*time.Second, func() error {
		if err := deletedAll(nodes, "cc", "before-0"); err != nil || !collect {
			return err
		}
		for _, n := range nodes {
			n.mu.Lock()
			_, held := n.eng.Get("cc", "before-0")
			n.mu.Unlock()
			if held {
				return fmt.Errorf("%s still holds the tombstone", n.ID())
			}
		}
		return nil
	})
	oldGen := ownRecord(t, p).Generation
	var top uint64
	for _, v := range before {
		top = max(top, v)
	}

	_, port, _ := net.SplitHostPort(p.Addr())
	p.cfg.SkipLeave = true // a restart, not a leave
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dirs["cc"]); err != nil {
		t.Fatal(err)
	}
	cfg := wipeConfig(sc, "cc", dirs["cc"], key, collect)
	cfg.Port, _ = strconv.Atoi(port)
	cfg.Seeds = []string{nodes[0].Addr()}
	p = startNode(t, cfg)
	nodes[2] = p
	if gen := ownRecord(t, p).Generation; gen != oldGen {
		t.Fatalf("wiped node at generation %d, was %d", gen, oldGen)
	}
	eventually(t, 15*time.Second, func() error {
		for _, n := range nodes[:2] {
			if q, ok := peerOf(n, "cc"); !ok || q.Generation != oldGen {
				return fmt.Errorf("%s holds cc at generation %d", n.ID(), q.Generation)
			}
			if !bytes.Equal(recordKeyAt(n, "cc"), sc.keys["cc"].Public()) {
				return fmt.Errorf("%s holds cc's record under another key", n.ID())
			}
		}
		if err := holdAll(nodes, "cc", before); err != nil {
			return err
		}
		return allAlive(nodes, "cc")
	})
	if err := deletedAll(nodes, "cc", "before-0"); err != nil {
		t.Fatal(err)
	}
	want := len(before) + 1 // the tombstone of before-0
	if collect {
		want = len(before)
	}
	if got := ownProofs(t, p); got != want {
		t.Fatalf("cc holds the proofs of %d of its own records, want %d", got, want)
	}

	// Its first write may wait for the peers' last word on its data.
	after := map[string]uint64{"after-first": setWhenWritable(t, p, "after-first", "after-first")}
	for k, v := range writeAll(t, nodes, p, "after", 20) {
		after[k] = v
	}
	for k, v := range after {
		if v <= top {
			t.Fatalf("cc/%s written at version %d, not above %d from before the wipe", k, v, top)
		}
	}
	for _, vs := range []map[string]uint64{before, after} {
		if err := holdAll(nodes, "cc", vs); err != nil {
			t.Fatal(err)
		}
	}
	noRefusals(t, nodes)
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
