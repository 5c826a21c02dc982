package sync_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/proof"
	"github.com/leviathan-gossip/leviathan/sync/wire"
)

// The tests of package sync run with the real codec; see UseCodec.
func init() { lsync.UseCodec(wire.Encode, wire.Decode) }

// TestSizesMatchEncoding keeps the budget arithmetic exact: a message is
// filled by these sizes, and must never come out larger than its budget.
func TestSizesMatchEncoding(t *testing.T) {
	if lsync.HeaderSize != wire.HeaderSize {
		t.Fatalf("header sized %d, encoded %d", lsync.HeaderSize, wire.HeaderSize)
	}
	rng := rand.New(rand.NewSource(1))
	lens := []int{0, 1, 31, 32, 255, 256, 70000}
	nums := []uint64{0, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<64 - 1}
	for i := 0; i < 500; i++ {
		r := lsync.Record{
			Key:       strings.Repeat("k", lens[rng.Intn(len(lens))]),
			Version:   nums[rng.Intn(len(nums))],
			Tombstone: rng.Intn(2) == 0,
		}
		if n := lens[rng.Intn(len(lens))]; rng.Intn(4) > 0 {
			r.Value = make([]byte, n)
		}
		e := lsync.DigestEntry{ID: r.Key, Addr: strings.Repeat("a", lens[rng.Intn(3)]), Generation: nums[rng.Intn(len(nums))], Heartbeat: r.Version, MaxVersion: nums[rng.Intn(len(nums))]}
		if rng.Intn(2) == 0 {
			e.RecordSeq = nums[rng.Intn(len(nums))]
		}
		if rng.Intn(2) == 0 {
			e.BeatProof[rng.Intn(len(e.BeatProof))] = byte(1 + rng.Intn(255))
		}
		one, err := wire.Encode(&lsync.Ack{Deltas: []lsync.NodeDelta{{ID: "x", Records: []lsync.Record{r}}}})
		if err != nil {
			t.Fatal(err)
		}
		none, _ := wire.Encode(&lsync.Ack{Deltas: []lsync.NodeDelta{{ID: "x", Records: []lsync.Record{}}}})
		if got, want := len(one)-len(none), lsync.RecordSize(&r); got != want {
			t.Fatalf("record %d key, %d value, v%d: encoded %d, sized %d", len(r.Key), len(r.Value), r.Version, got, want)
		}
		withE, _ := wire.Encode(&lsync.Syn{Digest: []lsync.DigestEntry{e}})
		without, _ := wire.Encode(&lsync.Syn{Digest: []lsync.DigestEntry{}})
		if got, want := len(withE)-len(without), lsync.EntrySize(&e); got != want {
			t.Fatalf("entry: encoded %d, sized %d", got, want)
		}
	}
}

// TestProofsSizeMatchesEncoding: the bytes the core counts for a delta's
// proofs are the bytes the codec writes.
func TestProofsSizeMatchesEncoding(t *testing.T) {
	k := testIdentityKey(t, 3)
	for _, n := range []int{1, 2, 3, 17, 300} {
		recs := make([]lsync.Record, n)
		prs := make([]proof.Record, n)
		for i := range recs {
			recs[i] = lsync.Record{Key: fmt.Sprintf("k%d", i), Value: []byte("v"), Version: uint64(1 + 2*i)}
			prs[i] = proof.Record(recs[i])
		}
		p, leaves, err := proof.Seal(k, "x", 1<<40, prs)
		if err != nil {
			t.Fatal(err)
		}
		ps := []*proof.Proof{p}
		if n > 2 {
			q, _, err := p.Subset(leaves, []proof.Span{{Lo: 1, Hi: 2}})
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, q) // not a valid pair for a delta: sizes only
		}
		nd := lsync.NodeDelta{ID: "x", Generation: 1 << 40, Records: recs}
		without, _ := wire.Encode(&lsync.Ack{Deltas: []lsync.NodeDelta{nd}})
		nd.Proofs = ps
		with, err := wire.Encode(&lsync.Ack{Deltas: []lsync.NodeDelta{nd}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(with)-len(without), lsync.ProofsSize(ps); got != want {
			t.Fatalf("%d records: proofs encoded in %d bytes, sized %d", n, got, want)
		}
	}
}

func testIdentityKey(t *testing.T, seed byte) *identity.Key {
	t.Helper()
	k, err := identity.Generate(bytes.NewReader(bytes.Repeat([]byte{seed}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
