package node

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/transport"
	"github.com/leviathan-gossip/leviathan/sync/wire"
)

// TestSignedRefusesForgedWatermarks: a member that holds the cluster key
// but not P's private key forges P's GC horizon and watermark, in digest
// entries and deltas (a Reset among them), at node A and at P itself,
// and A's and P's own watermarks at themselves. With signed = true each
// forgery that would move something is refused or cut and counted
// (leviathan_rejected_total{reason="unsigned_watermark"}); A keeps P's
// data and tombstone at P's watermark and horizon, with no lag, and
// neither node's version floor moves.
func TestSignedRefusesForgedWatermarks(t *testing.T) {
	key := testKeyB64(32)
	sc := newSignedCluster(t, "ca", "cb", "cc", "cm")
	nodes := startSignedTrio(t, sc, true, []string{key})
	a, c := nodes[0], nodes[2]
	ctx := context.Background()
	setDeleted(t, c, nodes[:1])
	tombstoneAt := goneAt
	floor := func(n *Node) uint64 {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.eng.State().VersionFloor()
	}
	pAtA, _ := heldOf(a, "cc")
	pSelf, aSelf := c.Status(), a.Status()
	rec := ownRecord(t, c)
	cMax, aMax := pAtA.MaxVersion, aSelf.MaxVersion
	if cMax != pSelf.MaxVersion || pAtA.GCVersion != 0 {
		t.Fatalf("setup: a holds cc at %+v, cc is at %d", pAtA, pSelf.MaxVersion)
	}
	floorA, floorC := floor(a), floor(c)

	k, _ := base64.StdEncoding.DecodeString(key)
	kr, err := transport.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	atA, atC := newAttacker(t, a.Addr(), kr), newAttacker(t, c.Addr(), kr)
	entry := func(id, addr string, gen, hb, maxV, gc uint64) *lsync.Syn {
		return &lsync.Syn{Cluster: "test", From: "cb", Digest: []lsync.DigestEntry{
			{ID: id, Addr: addr, Generation: gen, Heartbeat: hb, MaxVersion: maxV, GCVersion: gc, RecordSeq: rec.Seq}}}
	}
	ack := func(nd lsync.NodeDelta) *lsync.Ack {
		return &lsync.Ack{Cluster: "test", From: "cb", Deltas: []lsync.NodeDelta{nd}}
	}
	const ahead = 1000
	forgeries := []struct {
		name    string
		at      *attacker
		target  *Node
		msg     lsync.Message
		counted bool
	}{
		{"P's horizon at its watermark, on P's record", atA, a,
			entry("cc", pAtA.Addr, pAtA.Generation, pAtA.Heartbeat, cMax, cMax), true},
		{"P's watermark far above, relayed", atA, a,
			entry("cc", pAtA.Addr, pAtA.Generation, pAtA.Heartbeat, cMax+ahead, 0), false},
		{"a Reset of P from a horizon above its watermark", atA, a,
			ack(lsync.NodeDelta{ID: "cc", Generation: pAtA.Generation, To: cMax + ahead, GCVersion: cMax + ahead, Clean: cMax + ahead, Reset: true}), true},
		{"P's watermark and horizon in a delta without records", atA, a,
			ack(lsync.NodeDelta{ID: "cc", Generation: pAtA.Generation, From: cMax, To: cMax + ahead, GCVersion: cMax, Clean: cMax + ahead}), true},
		{"A's own watermark and horizon, relayed to A", atA, a,
			entry("ca", aSelf.Addr, aSelf.Generation, 0, aMax+ahead, aMax+ahead), true},
		{"A's own watermark in a delta to A", atA, a,
			ack(lsync.NodeDelta{ID: "ca", Generation: aSelf.Generation, From: aMax, To: aMax + ahead, Clean: aMax + ahead}), true},
		{"P's own watermark and horizon, relayed to P", atC, c,
			entry("cc", pSelf.Addr, pSelf.Generation, 0, cMax+ahead, cMax+ahead), true},
		{"P's own watermark in a delta to P", atC, c,
			ack(lsync.NodeDelta{ID: "cc", Generation: pSelf.Generation, From: cMax, To: cMax + ahead, Clean: cMax + ahead}), true},
	}
	for i, f := range forgeries {
		before := rejectedCount(t, f.target, "unsigned_watermark")
		b, err := wire.Encode(f.msg)
		if err != nil {
			t.Fatal(err)
		}
		f.at.send(fmt.Sprint("forgery ", i), f.at.seal(b, f.at.addr()))
		if f.counted {
			eventually(t, 10*time.Second, func() error {
				if got := rejectedCount(t, f.target, "unsigned_watermark"); got <= before {
					return fmt.Errorf("%s: leviathan_rejected_total{reason=unsigned_watermark} at %v", f.name, got)
				}
				return nil
			})
		}
	}
	// The uncounted forgery lands within milliseconds, like the others:
	// for a second, a's view of P and both floors are watched.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(time.Second); time.Now().Before(end); <-tick.C {
		if p, _ := heldOf(a, "cc"); p.MaxVersion != cMax || p.GCVersion != 0 || p.Generation != pAtA.Generation {
			t.Fatalf("a holds cc at %+v, was %+v", p, pAtA)
		}
		if r, ok := tombstoneAt(a); !ok || !r.Tombstone {
			t.Fatalf("a dropped cc's tombstone: %+v %v", r, ok)
		}
		if p, _ := peerOf(a, "cc"); p.LagVersions != 0 {
			t.Fatalf("a sees cc %d versions behind", p.LagVersions)
		}
		if fa, fc := floor(a), floor(c); fa != floorA || fc != floorC {
			t.Fatalf("floors moved: a %d (was %d), cc %d (was %d)", fa, floorA, fc, floorC)
		}
	}
	for _, n := range nodes[:2] {
		if e, err := n.Get(ctx, "cc", "k"); err != nil || string(e.Value) != "v" {
			t.Fatalf("%s lost cc's data: %+v, %v", n.ID(), e, err)
		}
		if r, ok := tombstoneAt(n); !ok || !r.Tombstone {
			t.Fatalf("%s dropped cc's tombstone: %+v %v", n.ID(), r, ok)
		}
		if p, _ := heldOf(n, "cc"); p.GCVersion != 0 {
			t.Fatalf("%s holds cc's horizon at %d", n.ID(), p.GCVersion)
		}
	}
	if c.Status().MaxVersion != cMax || a.Status().MaxVersion != aMax {
		t.Fatalf("own watermarks moved: cc %d (was %d), ca %d (was %d)", c.Status().MaxVersion, cMax, a.Status().MaxVersion, aMax)
	}
	v, err := c.Set(ctx, "after", []byte("the forgery"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error { return converged(nodes, "cc", "after", v) })
	if r, ok := tombstoneAt(a); !ok || !r.Tombstone {
		t.Fatalf("a dropped cc's tombstone: %+v %v", r, ok)
	}
}

// TestSignedWatermarksHonest: in an honest signed cluster, with
// overwrites and deletes, and a node that joins late and catches up from
// relays, no watermark is cut or refused: every delta's watermark is what
// its proofs bear out, and every node ends at each owner's own.
func TestSignedWatermarksHonest(t *testing.T) {
	sc := newSignedCluster(t, "ca", "cb", "cc", "cd")
	nodes := startSignedTrio(t, sc, true, nil)
	ctx := context.Background()
	for i, n := range nodes {
		for k := range 30 {
			key := fmt.Sprintf("key-%02d", k%12) // overwritten
			var err error
			if k%7 == 6 {
				_, err = n.Delete(ctx, key)
			} else {
				_, err = n.Set(ctx, key, []byte(fmt.Sprint(i, k)))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg := sc.config("cd", true, nil)
	cfg.Seeds = []string{nodes[1].Addr()}
	nodes = append(nodes, startNode(t, cfg))
	eventually(t, 20*time.Second, func() error {
		for _, owner := range nodes[:3] {
			want := owner.Status().MaxVersion
			for _, n := range nodes {
				if n == owner {
					continue
				}
				if p, ok := heldOf(n, owner.ID()); !ok || p.MaxVersion != want {
					return fmt.Errorf("%s holds %s at %d, want %d", n.ID(), owner.ID(), p.MaxVersion, want)
				}
			}
		}
		return nil
	})
	for _, n := range nodes {
		if got := rejectedCount(t, n, "unsigned_watermark"); got > 0 {
			t.Errorf("%s cut or refused %v honest watermarks", n.ID(), got)
		}
		if got := rejectedCount(t, n, "bad_record_proof"); got > 0 {
			t.Errorf("%s refused %v genuine deltas", n.ID(), got)
		}
	}
}

// TestSignedHorizonAfterRestart: a signed node that collected its
// tombstones shows the horizon its record states, so its peers keep the
// tombstones; restarted, it signs its record with the horizon it holds,
// and its peers drop them, refusing no watermark on the way.
func TestSignedHorizonAfterRestart(t *testing.T) {
	sc := newSignedCluster(t, "ca", "cb", "cc")
	dir := t.TempDir()
	config := func(id string, seeds ...string) Config {
		cfg := sc.config(id, true, nil)
		cfg.TombstoneGrace, cfg.ReduceVal, cfg.Seeds = 50*time.Millisecond, 20*time.Millisecond, seeds
		if id == "cc" {
			cfg.InMemory, cfg.DataDir = false, dir
		}
		return cfg
	}
	a := startNode(t, config("ca"))
	nodes := []*Node{a, startNode(t, config("cb", a.Addr())), startNode(t, config("cc", a.Addr()))}
	eventually(t, 10*time.Second, func() error { return allAlive(nodes, "cc") })
	c := nodes[2]
	dv := setDeleted(t, c, nodes[:2])
	held := goneAt
	horizon := func(n *Node, id string) uint64 {
		n.mu.Lock()
		defer n.mu.Unlock()
		p, _ := n.eng.State().Peer(id)
		return p.GCVersion
	}
	eventually(t, 10*time.Second, func() error {
		if gc := horizon(c, "cc"); gc < dv {
			return fmt.Errorf("cc collected up to %d, want %d", gc, dv)
		}
		return nil
	})
	gc := horizon(c, "cc")
	if rec := ownRecord(t, c); rec.GCVersion != 0 {
		t.Fatalf("cc's record states horizon %d within ten minutes of its start", rec.GCVersion)
	}
	for _, n := range nodes[:2] {
		if r, ok := held(n); !ok || !r.Tombstone || horizon(n, "cc") != 0 {
			t.Fatalf("%s dropped cc's tombstone before cc's record states the horizon: %+v %v", n.ID(), r, ok)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = startNode(t, config("cc", a.Addr()))
	nodes[2] = c
	if rec := ownRecord(t, c); rec.GCVersion != gc {
		t.Fatalf("restarted, cc's record states horizon %d, want %d", rec.GCVersion, gc)
	}
	eventually(t, 10*time.Second, func() error {
		for _, n := range nodes[:2] {
			if r, ok := held(n); ok || horizon(n, "cc") != gc {
				return fmt.Errorf("%s holds cc's gone as %+v at horizon %d, want none at %d", n.ID(), r, horizon(n, "cc"), gc)
			}
		}
		return nil
	})
	for _, n := range nodes {
		if got := rejectedCount(t, n, "unsigned_watermark"); got > 0 {
			t.Errorf("%s cut or refused %v honest watermarks", n.ID(), got)
		}
	}
}

// setDeleted sets cc's key "gone" at c and deletes it, and waits until
// every node of holders holds the tombstone; it returns its version.
func setDeleted(t *testing.T, c *Node, holders []*Node) uint64 {
	t.Helper()
	ctx := context.Background()
	if _, err := c.Set(ctx, "gone", []byte("soon")); err != nil {
		t.Fatal(err)
	}
	dv, err := c.Delete(ctx, "gone")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		for _, n := range holders {
			if r, ok := goneAt(n); !ok || !r.Tombstone || r.Version != dv {
				return fmt.Errorf("%s holds cc's gone as %+v %v", n.ID(), r, ok)
			}
		}
		return nil
	})
	return dv
}

// goneAt is cc's record of key "gone" that n holds.
func goneAt(n *Node) (lsync.Record, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.eng.State().Get("cc", "gone")
}
