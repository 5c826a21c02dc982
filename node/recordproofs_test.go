package node

import (
	"context"
	"encoding/base64"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/store"
	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/proof"
	"github.com/leviathan-gossip/leviathan/sync/transport"
)

// sealFor seals recs as origin's at gen with key.
func sealFor(t *testing.T, key *identity.Key, origin string, gen uint64, recs []lsync.Record) *proof.Proof {
	t.Helper()
	prs := make([]proof.Record, len(recs))
	for i := range recs {
		prs[i] = proof.Record(recs[i])
	}
	p, _, err := proof.Seal(key, origin, gen, prs)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSignedRefusesForgedRecords: a member that holds the cluster key and
// a trusted key of its own, but not P's, pushes records in P's name to
// node A: unproven, proven with its own key, or P's genuine proof with a
// value altered. With signed = true each is refused (bad_record_proof),
// A keeps P's data as P wrote it, and P's next write still reaches A.
func TestSignedRefusesForgedRecords(t *testing.T) {
	key := testKeyB64(32)
	sc := newSignedCluster(t, "ca", "cb", "cc", "cm")
	nodes := startSignedTrio(t, sc, true, []string{key})
	a, p := nodes[0], nodes[2]
	k, _ := base64.StdEncoding.DecodeString(key)
	kr, err := transport.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	at := newAttacker(t, a.Addr(), kr)
	st := p.Status()
	held, _ := heldOf(a, "cc")
	forged := []lsync.Record{{Key: "k", Value: []byte("forged"), Version: held.MaxVersion + 1}}
	genuine := []lsync.Record{{Key: "k", Value: []byte("genuine"), Version: held.MaxVersion + 1}}
	for i, ps := range [][]*proof.Proof{
		nil,
		{sealFor(t, sc.keys["cm"], "cc", st.Generation, forged)},
		{sealFor(t, sc.keys["cc"], "cc", st.Generation, genuine)}, // P's proof of another value
	} {
		before := rejectedCount(t, a, "bad_record_proof")
		at.sendMsg(fmt.Sprint("forged records ", i), &lsync.Push{Cluster: "test", From: "cm", Hops: 1, Deltas: []lsync.NodeDelta{{
			ID: "cc", Generation: st.Generation, From: held.MaxVersion, To: held.MaxVersion + 1, Clean: held.MaxVersion + 1,
			Records: forged, Proofs: ps}}})
		eventually(t, 10*time.Second, func() error {
			if got := rejectedCount(t, a, "bad_record_proof"); got <= before {
				return fmt.Errorf("bad_record_proof at %v", got)
			}
			return nil
		})
		if e, err := a.Get(context.Background(), "cc", "k"); err != nil || string(e.Value) != "v" {
			t.Fatalf("forgery %d: a holds cc/k as %q (%v)", i, e.Value, err)
		}
	}
	v, err := p.Set(context.Background(), "k", []byte("after"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error { return converged(nodes, "cc", "k", v) })
	for _, n := range nodes[1:] {
		if got := rejectedCount(t, n, "bad_record_proof"); got > 0 {
			t.Errorf("%s refused %v genuine deltas", n.ID(), got)
		}
	}
}

// TestSignedCatchUpFromARelay: a node that catches up on P's records
// from a node other than P verifies each against P's key, and keeps the
// proofs to serve them on.
func TestSignedCatchUpFromARelay(t *testing.T) {
	sc := newSignedCluster(t, "ca", "cb", "cc")
	cfgA := sc.config("ca", true, nil)
	cfgA.SkipLeave = true
	a := startNode(t, cfgA)
	cfgB := sc.config("cb", true, nil)
	cfgB.Seeds = []string{a.Addr()}
	b := startNode(t, cfgB)
	const n = 3000
	var last uint64
	ctx := context.Background()
	for i := range n {
		v, err := a.Set(ctx, fmt.Sprintf("key-%05d", i%2500), []byte(fmt.Sprint("value ", i)))
		if err != nil {
			t.Fatal(err)
		}
		last = v
	}
	eventually(t, 20*time.Second, func() error { return converged([]*Node{b}, "ca", "key-00499", last) })
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	cfgC := sc.config("cc", true, nil)
	cfgC.Seeds = []string{b.Addr()}
	c := startNode(t, cfgC)
	eventually(t, 30*time.Second, func() error { return converged([]*Node{c}, "ca", "key-00499", last) })
	for _, nd := range []*Node{b, c} {
		if got := rejectedCount(t, nd, "bad_record_proof"); got > 0 {
			t.Errorf("%s refused %v genuine deltas", nd.ID(), got)
		}
	}
	// c holds a proof of each of a's records, by a's key alone.
	view, ok := c.eng.State().View("ca")
	if !ok {
		t.Fatal("c does not hold ca")
	}
	proven, records := 0, 0
	if _, err := c.signer.store.ScanProofs(view, 0, func(r *lsync.Record, rp lsync.RecordProof) bool {
		records++
		if rp.Tree != nil {
			p, _ := rp.Tree.Proof()
			if err := (&proof.Signed{Header: p.Header, Signature: p.Signature}).Verify(sc.keys["ca"].Public()); err == nil {
				proven++
			}
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if records != 2500 || proven != records {
		t.Fatalf("c holds %d of a's records, %d with a's proof", records, proven)
	}
}

// TestSignerSealsEachRecordOnce: own records handed to the signer again
// (as a commit at start hands those that sealStored read too) are not
// sealed into a second batch over the same versions: a delta reaching
// both batches would carry overlapping proofs, which no receiver takes.
func TestSignerSealsEachRecordOnce(t *testing.T) {
	sc := newSignedCluster(t, "ca")
	a := startNode(t, sc.config("ca", true, nil))
	ctx := context.Background()
	var again []lsync.Record
	for i := range 20 {
		key, val := fmt.Sprint("k", i), []byte(fmt.Sprint("v", i))
		v, err := a.Set(ctx, key, val)
		if err != nil {
			t.Fatal(err)
		}
		again = append(again, lsync.Record{Key: key, Value: val, Version: v})
	}
	eventually(t, 10*time.Second, func() error {
		if got := a.signer.records.Load(); got < 20 {
			return fmt.Errorf("%d of 20 sealed", got)
		}
		return nil
	})
	before := a.signer.records.Load()
	a.signer.mu.Lock()
	a.signer.recs = append(a.signer.recs, again...)
	a.signer.mu.Unlock()
	if _, err := a.Set(ctx, "new", []byte("v")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if got := a.signer.records.Load(); got <= before {
			return fmt.Errorf("%d sealed", got)
		}
		return nil
	})
	if got := a.signer.records.Load(); got != before+1 {
		t.Fatalf("%d records sealed after the new write, want %d: sealed again", got, before+1)
	}
}

// stalledProofs is an in-memory Badger whose AddProof, once armed, waits
// until released: an origin's disk busy when it stores its own proofs.
type stalledProofs struct {
	*store.Badger
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (s *stalledProofs) AddProof(p *proof.Proof, recs []lsync.Record) (int, error) {
	if s.armed.CompareAndSwap(true, false) {
		close(s.entered)
		select {
		case <-s.release:
		case <-time.After(30 * time.Second): // bounded: the test releases it first
		}
	}
	return s.Badger.AddProof(p, recs)
}

// TestSignedPushDoesNotWaitForProofStore: a signed write's pushes leave
// with their proof while the origin is still storing it. Exchanges serve
// a record only once its proof is stored, so the peers can have it this
// early only by push.
func TestSignedPushDoesNotWaitForProofStore(t *testing.T) {
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	st := &stalledProofs{Badger: db, entered: make(chan struct{}), release: make(chan struct{})}
	sc := newSignedCluster(t, "ca", "cb", "cc")
	var nodes []*Node
	for i, id := range []string{"ca", "cb", "cc"} {
		cfg := sc.config(id, true, nil)
		var opts []Option
		if i == 0 {
			opts = append(opts, WithStore(st))
		} else {
			cfg.Seeds = []string{nodes[0].Addr()}
		}
		nodes = append(nodes, startNode(t, cfg, opts...))
	}
	eventually(t, 10*time.Second, func() error { return allAlive(nodes, "ca") })
	eventually(t, 10*time.Second, func() error {
		for _, n := range nodes {
			if live := len(n.LivePeers()); live != 2 {
				return fmt.Errorf("%s sees %d live peers", n.ID(), live)
			}
		}
		// ca's pushes go to the peers its engine lists live, a list
		// brought up to date at its rounds.
		ca := nodes[0]
		ca.mu.Lock()
		live := ca.eng.Live()
		ca.mu.Unlock()
		if live != 2 {
			return fmt.Errorf("ca's engine lists %d peers live", live)
		}
		return nil
	})
	defer close(st.release)
	st.armed.Store(true)
	v, err := nodes[0].Set(context.Background(), "pushed", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-st.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the write's proof was never stored")
	}
	eventually(t, 10*time.Second, func() error { return converged(nodes, "ca", "pushed", v) })
}
