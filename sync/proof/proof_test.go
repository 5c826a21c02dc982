package proof

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math/rand"
	"slices"
	"testing"
)

// A received slice of a batch: its proof, its records, and the key and
// cache the receiver checks them with.
type received struct {
	p     *Proof
	recs  []Record
	pub   ed25519.PublicKey
	cache *Verified
}

func (r *received) verify() error {
	return r.p.Verify(r.pub, Leaves(r.p.Origin, r.recs), r.cache)
}

// Every alteration of what a sender relays is refused, with and without a
// cache that already verified the genuine header. The proof arrives in
// its wire form, without a root: the receiver rebuilds it.
func TestVerifyRefusesTampering(t *testing.T) {
	full, recs, leaves := sealed(t, 16)
	keep := []Span{{2, 6}, {9, 12}}
	sub, _, err := full.Subset(leaves, keep)
	if err != nil {
		t.Fatal(err)
	}
	other, otherRecs, _ := func() (*Proof, []Record, []Hash) {
		recs := testRecords(16, 17, 1) // the origin's next batch
		p, l, err := Seal(testKey(t, 1), testOrigin, testGen, recs)
		if err != nil {
			t.Fatal(err)
		}
		return p, recs, l
	}()
	forge := func(r *received) {
		r.recs[1].Value = []byte("forged")
	}
	for _, tc := range []struct {
		name   string
		tamper func(r *received)
		want   error
	}{
		{"value", forge, ErrBadSignature},
		{"tombstone", func(r *received) { r.recs[3].Tombstone = !r.recs[3].Tombstone }, ErrBadSignature},
		{"version", func(r *received) { r.recs[0].Version++ }, ErrBadSignature},
		{"key: a proof replayed for another key", func(r *received) { r.recs[2].Key = "key-other" }, ErrBadSignature},
		{"a record swapped for one of another batch", func(r *received) { r.recs[0] = otherRecs[0] }, ErrBadSignature},
		{"records reordered", func(r *received) { r.recs[0], r.recs[1] = r.recs[1], r.recs[0] }, ErrBadSignature},
		{"a record left out", func(r *received) { r.recs = r.recs[1:] }, ErrMismatch},
		{"a proof hash", func(r *received) { r.p.Hashes[1][0] ^= 1 }, ErrBadSignature},
		{"records moved to other leaves, same hash count", func(r *received) { r.p.Held = []Span{{2, 6}, {8, 11}} }, ErrBadSignature},
		{"records moved to other leaves", func(r *received) { r.p.Held = []Span{{3, 7}, {9, 12}} }, ErrMalformed},
		{"a root claimed for forged records", func(r *received) {
			forge(r)
			r.p.Header.Root = RootOf(Leaves(testOrigin, r.recs))
		}, ErrBadSignature},
		{"signature", func(r *received) { r.p.Signature[10] ^= 1 }, ErrBadSignature},
		{"origin", func(r *received) { r.p.Origin = "node-00002" }, ErrBadSignature},
		{"generation", func(r *received) { r.p.Generation++ }, ErrBadSignature},
		{"versions shifted", func(r *received) { r.p.First++; r.p.Last++ }, ErrBadSignature},
		{"first version out of range", func(r *received) { r.p.First = 0 }, ErrMalformed},
		{"last version", func(r *received) { r.p.Last++ }, ErrBadSignature},
		{"count", func(r *received) { r.p.Count-- }, ErrBadSignature},
		{"count past the versions", func(r *received) { r.p.Count++ }, ErrMalformed},
		{"signed by another key", func(r *received) {
			s, err := Sign(testKey(t, 2), sub.Header)
			if err != nil {
				t.Fatal(err)
			}
			r.p.Signature = s.Signature
		}, ErrBadSignature},
		{"checked with another key", func(r *received) { r.pub = testKey(t, 2).Public() }, ErrBadSignature},
		{"another batch's signature", func(r *received) { r.p.Signature = other.Signature }, ErrBadSignature},
		{"a key of the wrong size", func(r *received) { r.pub = r.pub[:31] }, ErrBadSignature},
	} {
		for _, cached := range []bool{false, true} {
			name := tc.name
			if cached {
				name += ", cached"
			}
			t.Run(name, func(t *testing.T) {
				r := &received{p: roundTrip(t, sub), recs: slices.Clone(pick(recs, keep)), pub: testKey(t, 1).Public()}
				if cached {
					r.cache = NewVerified(8)
					if err := r.verify(); err != nil {
						t.Fatalf("genuine refused: %v", err)
					}
				}
				tc.tamper(r)
				if err := r.verify(); !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
			})
		}
	}
}

// A header whose root, or any other field, was altered after signing
// does not verify: what a holder stores and a cache remembers is checked
// whole.
func TestSignedHeaderRefusesTampering(t *testing.T) {
	k := testKey(t, 1)
	full, _, err := Seal(k, testOrigin, testGen, testRecords(4, 10, 2))
	if err != nil {
		t.Fatal(err)
	}
	pub := k.Public()
	for _, tc := range []struct {
		name   string
		tamper func(s *Signed)
	}{
		{"root", func(s *Signed) { s.Header.Root[0] ^= 1 }},
		{"origin", func(s *Signed) { s.Origin = "node-00002" }},
		{"generation", func(s *Signed) { s.Generation-- }},
		{"first", func(s *Signed) { s.First++ }},
		{"last", func(s *Signed) { s.Last++ }},
		{"count", func(s *Signed) { s.Count-- }},
		{"signature", func(s *Signed) { s.Signature[63] ^= 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := full.Signed
			tc.tamper(&s)
			if err := s.Verify(pub); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("got %v", err)
			}
		})
	}
	if err := full.Signed.Verify(pub); err != nil {
		t.Fatalf("genuine refused: %v", err)
	}
}

// The per-record scheme refuses the same alterations.
func TestVerifyRecordRefusesTampering(t *testing.T) {
	k := testKey(t, 1)
	r := testRecords(1, 42, 1)[0]
	sig, err := SignRecord(k, testOrigin, testGen, &r)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyRecord(k.Public(), testOrigin, testGen, &r, &sig); err != nil {
		t.Fatalf("genuine refused: %v", err)
	}
	for _, tc := range []struct {
		name   string
		tamper func(r *Record, origin *string, gen *uint64, sig *[SignatureSize]byte, pub *ed25519.PublicKey)
	}{
		{"value", func(r *Record, _ *string, _ *uint64, _ *[SignatureSize]byte, _ *ed25519.PublicKey) {
			r.Value = []byte("forged")
		}},
		{"key", func(r *Record, _ *string, _ *uint64, _ *[SignatureSize]byte, _ *ed25519.PublicKey) { r.Key = "other" }},
		{"version", func(r *Record, _ *string, _ *uint64, _ *[SignatureSize]byte, _ *ed25519.PublicKey) { r.Version++ }},
		{"tombstone", func(r *Record, _ *string, _ *uint64, _ *[SignatureSize]byte, _ *ed25519.PublicKey) {
			r.Tombstone = !r.Tombstone
		}},
		{"origin", func(_ *Record, o *string, _ *uint64, _ *[SignatureSize]byte, _ *ed25519.PublicKey) { *o = "node-00002" }},
		{"generation", func(_ *Record, _ *string, g *uint64, _ *[SignatureSize]byte, _ *ed25519.PublicKey) { *g++ }},
		{"signature", func(_ *Record, _ *string, _ *uint64, s *[SignatureSize]byte, _ *ed25519.PublicKey) { s[0] ^= 1 }},
		{"another key", func(_ *Record, _ *string, _ *uint64, _ *[SignatureSize]byte, p *ed25519.PublicKey) {
			*p = testKey(t, 2).Public()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r2, origin, gen, sig2, pub := r, testOrigin, uint64(testGen), sig, k.Public()
			r2.Value = bytes.Clone(r.Value)
			tc.tamper(&r2, &origin, &gen, &sig2, &pub)
			if err := VerifyRecord(pub, origin, gen, &r2, &sig2); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("got %v, want ErrBadSignature", err)
			}
		})
	}
}

// A per-record signature is the batch signature of a batch of one: the
// two schemes agree.
func TestRecordSignatureIsABatchOfOne(t *testing.T) {
	k := testKey(t, 1)
	recs := testRecords(1, 9, 1)
	p, leaves, err := Seal(k, testOrigin, testGen, recs)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := SignRecord(k, testOrigin, testGen, &recs[0])
	if err != nil {
		t.Fatal(err)
	}
	if sig != p.Signature {
		t.Fatal("signatures differ")
	}
	if err := p.Verify(k.Public(), leaves, nil); err != nil {
		t.Fatal(err)
	}
}

// Every subset of every small batch is proven, by a proof derived from
// the whole batch's or from a larger subset's, that survives the wire and
// verifies; two subsets' proofs merge into their union's, byte for byte.
func TestEverySubset(t *testing.T) {
	pub := testKey(t, 1).Public()
	for n := 1; n <= 8; n++ {
		full, recs, leaves := sealed(t, n)
		all := uint64(1)<<n - 1
		proofs := map[uint64]*Proof{all: full}
		for mask := uint64(1); mask <= all; mask++ {
			keep := spansOf(mask, n)
			p, l, err := full.Subset(leaves, keep)
			if err != nil {
				t.Fatalf("n=%d %v: %v", n, keep, err)
			}
			if !slices.Equal(l, pick(leaves, keep)) {
				t.Fatalf("n=%d %v: wrong leaves", n, keep)
			}
			if dropped := n - CountOf(keep); len(p.Hashes) > max(dropped, 0) {
				t.Fatalf("n=%d %v: %d hashes for %d records dropped", n, keep, len(p.Hashes), dropped)
			}
			p = roundTrip(t, p)
			if err := p.Verify(pub, Leaves(testOrigin, pick(recs, keep)), nil); err != nil {
				t.Fatalf("n=%d %v: %v", n, keep, err)
			}
			proofs[mask] = p
		}
		if n > 6 {
			continue
		}
		for outer := uint64(1); outer <= all; outer++ {
			po := proofs[outer]
			lo := pick(leaves, spansOf(outer, n))
			for inner := uint64(1); inner <= all; inner++ {
				if inner&^outer == 0 {
					checkDerived(t, n, outer, inner, po, lo, proofs[inner])
				}
				checkMerged(t, n, outer, inner, proofs, leaves)
			}
		}
	}
}

// checkDerived: the proof of inner, derived from outer's, is the one made
// from the whole batch.
func checkDerived(t *testing.T, n int, outer, inner uint64, po *Proof, lo []Hash, want *Proof) {
	t.Helper()
	// Positions of inner's leaves among outer's.
	var pos []Span
	j := 0
	for i := 0; i < n; i++ {
		if outer&(1<<i) == 0 {
			continue
		}
		if inner&(1<<i) != 0 {
			pos = appendSpan(pos, Span{j, j + 1})
		}
		j++
	}
	got, _, err := po.Subset(lo, pos)
	if err != nil {
		t.Fatalf("n=%d %b of %b: %v", n, inner, outer, err)
	}
	if !sameProof(got, want) {
		t.Fatalf("n=%d %b of %b: derived %+v, want %+v", n, inner, outer, got, want)
	}
}

func checkMerged(t *testing.T, n int, a, b uint64, proofs map[uint64]*Proof, leaves []Hash) {
	t.Helper()
	got, l, err := Merge(proofs[a], pick(leaves, spansOf(a, n)), proofs[b], pick(leaves, spansOf(b, n)))
	if err != nil {
		t.Fatalf("n=%d merge %b %b: %v", n, a, b, err)
	}
	if !sameProof(got, proofs[a|b]) || !slices.Equal(l, pick(leaves, spansOf(a|b, n))) {
		t.Fatalf("n=%d merge %b %b: %+v, want %+v", n, a, b, got, proofs[a|b])
	}
}

func sameProof(a, b *Proof) bool {
	x, err1 := a.AppendWire(nil)
	y, err2 := b.AppendWire(nil)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// A batch travels from its origin to a relay in two re-cut slices, is
// merged, compacted and collected there, and reaches a third node from the
// relay, never from the origin, in slices of another cut: the third node
// verifies every slice with the origin's key alone.
func TestRelayServesOn(t *testing.T) {
	for _, n := range []int{1, 2, 3, 100, 1024, 1500} {
		full, recs, leaves := sealed(t, n)
		pub := testKey(t, 1).Public()
		rng := rand.New(rand.NewSource(int64(n)))

		// Origin to relay: two slices cut at a random record.
		cut := rng.Intn(n + 1)
		var held *Proof
		var heldLeaves []Hash
		var heldRecs []Record
		for _, s := range []Span{{0, cut}, {cut, n}} {
			if s.Len() == 0 {
				continue
			}
			p, _, err := full.Subset(leaves, []Span{s})
			if err != nil {
				t.Fatal(err)
			}
			p = roundTrip(t, p)
			got := recs[s.Lo:s.Hi]
			gotLeaves := Leaves(testOrigin, got)
			if err := p.Verify(pub, gotLeaves, nil); err != nil {
				t.Fatalf("n=%d slice %v at the relay: %v", n, s, err)
			}
			if held == nil {
				held, heldLeaves, heldRecs = p, gotLeaves, slices.Clone(got)
				continue
			}
			held, heldLeaves, err = Merge(held, heldLeaves, p, gotLeaves)
			if err != nil {
				t.Fatal(err)
			}
			heldRecs = append(heldRecs, got...)
		}

		// Compaction at the relay: about half the records go.
		var keep []Span
		for j := range heldRecs {
			if rng.Intn(2) == 0 || j == 0 {
				keep = appendSpan(keep, Span{j, j + 1})
			}
		}
		var err error
		held, heldLeaves, err = held.Subset(heldLeaves, keep)
		if err != nil {
			t.Fatal(err)
		}
		heldRecs = pick(heldRecs, keep)
		// What the relay stores is the wire form; read back, its root is
		// rebuilt from the stored records.
		held = roundTrip(t, held)
		if err := held.Bind(heldLeaves); err != nil {
			t.Fatal(err)
		}

		// Relay to a third node, in slices of at most 7 records cut from
		// one tree.
		tree, err := NewTree(held, heldLeaves)
		if err != nil {
			t.Fatal(err)
		}
		if tree.Len() != len(heldRecs) {
			t.Fatalf("tree holds %d records, want %d", tree.Len(), len(heldRecs))
		}
		for lo := 0; lo < len(heldRecs); lo += 7 {
			s := Span{lo, min(lo+7, len(heldRecs))}
			p, _, err := tree.Subset([]Span{s})
			if err != nil {
				t.Fatal(err)
			}
			p = roundTrip(t, p)
			if err := p.Verify(pub, Leaves(testOrigin, heldRecs[s.Lo:s.Hi]), nil); err != nil {
				t.Fatalf("n=%d slice %v from the relay: %v", n, s, err)
			}
		}
	}
}

// A proof without a record can prove no slice with it, and proofs of two
// batches do not merge.
func TestDeriveRefuses(t *testing.T) {
	full, _, leaves := sealed(t, 10)
	half, hl, err := full.Subset(leaves, []Span{{0, 5}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		run  func() error
		want error
	}{
		{"a position past the held", func() error { _, _, err := half.Subset(hl, []Span{{4, 6}}); return err }, ErrMalformed},
		{"no position", func() error { _, _, err := half.Subset(hl, nil); return err }, ErrMalformed},
		{"too few leaves", func() error { _, _, err := half.Subset(hl[1:], []Span{{0, 1}}); return err }, ErrMismatch},
		{"wrong leaves", func() error {
			bad := slices.Clone(hl)
			bad[4][0] ^= 1
			_, _, err := half.Subset(bad, []Span{{0, 1}})
			return err
		}, ErrMismatch},
		{"merge of two batches", func() error {
			other, ol, err := Seal(testKey(t, 1), testOrigin, testGen, testRecords(10, 11, 1))
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = Merge(full, leaves, other, ol)
			return err
		}, ErrMismatch},
		{"merge with wrong leaves", func() error {
			bad := slices.Clone(hl)
			bad[0][0] ^= 1
			_, _, err := Merge(full, leaves, half, bad)
			return err
		}, ErrMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// Batches whose versions are not contiguous (a clock versioner's) prove
// their records the same way, by index.
func TestSparseVersions(t *testing.T) {
	k := testKey(t, 1)
	recs := testRecords(40, 1<<30, 1<<16+3)
	full, leaves, err := Seal(k, testOrigin, testGen, recs)
	if err != nil {
		t.Fatal(err)
	}
	keep := []Span{{3, 4}, {20, 33}}
	p, _, err := full.Subset(leaves, keep)
	if err != nil {
		t.Fatal(err)
	}
	p = roundTrip(t, p)
	if err := p.Verify(k.Public(), Leaves(testOrigin, pick(recs, keep)), nil); err != nil {
		t.Fatal(err)
	}
	for j, want := range []int{3, 20, 32} {
		pos := []int{0, 1, 13}[j]
		if got := p.Index(pos); got != want {
			t.Fatalf("Index(%d) = %d, want %d", pos, got, want)
		}
	}
}

func TestSealRefuses(t *testing.T) {
	k := testKey(t, 1)
	for _, tc := range []struct {
		name   string
		origin string
		recs   []Record
	}{
		{"no records", testOrigin, nil},
		{"too many", testOrigin, testRecords(MaxLeaves+1, 1, 1)},
		{"versions not ascending", testOrigin, append(testRecords(2, 5, 1), testRecords(1, 5, 1)...)},
		{"version 0", testOrigin, testRecords(2, 0, 1)},
		{"no origin", "", testRecords(2, 1, 1)},
		{"origin too long", string(make([]byte, 256)), testRecords(2, 1, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := Seal(k, tc.origin, testGen, tc.recs); err == nil {
				t.Fatal("sealed")
			}
		})
	}
}
