package store

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/proof"
)

// testKey derives an identity key from seed, the same each run.
func testKey(t testing.TB, seed byte) *identity.Key {
	t.Helper()
	k, err := identity.Generate(bytes.NewReader(bytes.Repeat([]byte{seed}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sealedBatch is one batch an origin signed: its full proof, its leaves
// and where its records start in the records it was cut from.
type sealedBatch struct {
	p      *proof.Proof
	leaves []proof.Hash
	start  int
}

// sealAll signs rs (ascending) as origin at gen in batches of size.
func sealAll(t testing.TB, k *identity.Key, origin string, gen uint64, rs []lsync.Record, size int) []sealedBatch {
	t.Helper()
	var out []sealedBatch
	for start := 0; start < len(rs); start += size {
		end := min(start+size, len(rs))
		prs := make([]proof.Record, end-start)
		for i := range prs {
			prs[i] = proof.Record(rs[start+i])
		}
		p, leaves, err := proof.Seal(k, origin, gen, prs)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sealedBatch{p: p, leaves: leaves, start: start})
	}
	return out
}

// proofsOf returns the proofs of rs[lo:hi] cut from the batches they were
// signed in, as a delta carrying that slice would hold them.
func proofsOf(t testing.TB, batches []sealedBatch, lo, hi int) []*proof.Proof {
	t.Helper()
	var out []*proof.Proof
	for _, sb := range batches {
		a, z := max(lo, sb.start)-sb.start, min(hi, sb.start+sb.p.Count)-sb.start
		if a >= z {
			continue
		}
		p, _, err := sb.p.Subset(sb.leaves, []proof.Span{{Lo: a, Hi: z}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// applyInMessages applies rs of origin, with their proofs, in messages of
// at most per records, each with the proofs of its slice.
func applyInMessages(t testing.TB, s *Badger, m lsync.PeerMeta, rs []lsync.Record, batches []sealedBatch, per int) {
	t.Helper()
	for lo := 0; lo < len(rs); lo += per {
		hi := min(lo+per, len(rs))
		mm := m
		mm.MaxVersion = rs[hi-1].Version
		mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: mm, Records: rs[lo:hi], Proofs: proofsOf(t, batches, lo, hi)}}})
	}
}

// served is a record a scan served, with its proof.
type served struct {
	rec lsync.Record
	p   lsync.RecordProof
}

func scanProofs(t testing.TB, s *Badger, view lsync.PeerMeta, after uint64) []served {
	t.Helper()
	var out []served
	if _, err := s.ScanProofs(view, after, func(r *lsync.Record, p lsync.RecordProof) bool {
		out = append(out, served{*r, p})
		return true
	}); err != nil {
		t.Fatalf("ScanProofs: %v", err)
	}
	return out
}

// cutSlice cuts the proofs of a slice of served records, one per batch,
// in their wire form, as a sender would; records without a proof have
// none. It returns the wire forms in order with the records each proves.
func cutSlice(t testing.TB, slice []served) (wires [][]byte, proven [][]lsync.Record, unsigned int) {
	t.Helper()
	for i := 0; i < len(slice); {
		tree := slice[i].p.Tree
		if tree == nil {
			unsigned++
			i++
			continue
		}
		var keep []proof.Span
		var rs []lsync.Record
		for ; i < len(slice) && slice[i].p.Tree == tree; i++ {
			pos := slice[i].p.Pos
			if n := len(keep); n > 0 && keep[n-1].Hi == pos {
				keep[n-1].Hi++
			} else {
				keep = append(keep, proof.Span{Lo: pos, Hi: pos + 1})
			}
			rs = append(rs, slice[i].rec)
		}
		p, _, err := tree.Subset(keep)
		if err != nil {
			t.Fatalf("Subset: %v", err)
		}
		w, err := p.AppendWire(nil)
		if err != nil {
			t.Fatal(err)
		}
		wires, proven = append(wires, w), append(proven, rs)
	}
	return wires, proven, unsigned
}

// verifyWire parses a proof's wire form as a receiver does and verifies
// rs against the origin's key; it returns the verified proof.
func verifyWire(pub ed25519.PublicKey, origin string, gen uint64, w []byte, rs []lsync.Record, cache *proof.Verified) (*proof.Proof, error) {
	p, err := proof.Parse(w, origin, gen)
	if err != nil {
		return nil, err
	}
	leaves := make([]proof.Hash, len(rs))
	for i := range rs {
		leaves[i] = proof.LeafHash(origin, (*proof.Record)(&rs[i]))
	}
	return p, p.Verify(pub, leaves, cache)
}

// verifyServed cuts the proofs of everything served in slices of at most
// per records and verifies each against pub; it returns how many records
// verified and how many came without a proof.
func verifyServed(t testing.TB, pub ed25519.PublicKey, view lsync.PeerMeta, all []served, per int) (verified, unsigned int) {
	t.Helper()
	for lo := 0; lo < len(all); lo += per {
		wires, proven, u := cutSlice(t, all[lo:min(lo+per, len(all))])
		unsigned += u
		for i := range wires {
			if _, err := verifyWire(pub, view.ID, view.Generation, wires[i], proven[i], nil); err != nil {
				t.Fatalf("slice at %d: proof of %d records: %v", lo, len(proven[i]), err)
			}
			verified += len(proven[i])
		}
	}
	return verified, unsigned
}

// spaced makes n records with versions from+step, from+2*step...
func spaced(n int, from, step uint64, valueLen int) []lsync.Record {
	rs := recs("k", 0, n, valueLen)
	for i := range rs {
		rs[i].Version = from + uint64(i+1)*step
	}
	return rs
}

// proofEntries reads every proof entry of peer.
func proofEntries(t testing.TB, s *Badger, peer string) []*heldBatch {
	t.Helper()
	var out []*heldBatch
	err := s.db.View(func(txn *badger.Txn) error {
		return eachHeld(txn, peer, func(_ []byte, h *heldBatch, err error) error {
			if err == nil {
				out = append(out, h)
			}
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func heldCount(hs []*heldBatch) int {
	n := 0
	for _, h := range hs {
		n += len(h.versions)
	}
	return n
}

// TestProofsRoundTrip: records applied with their proofs, in messages
// that cut their signed batches anywhere (so the store joins the slices
// of a batch), are all served with a proof that, cut for any slice, the
// origin's key verifies; the store holds one entry per batch.
func TestProofsRoundTrip(t *testing.T) {
	k := testKey(t, 1)
	const n = 2000
	for _, tc := range []struct {
		name  string
		batch int
		step  uint64 // version step: 1 contiguous, 3 a clock's gaps
		per   int    // records per message
		disk  bool
	}{
		{"batch 1", 1, 1, 500, false},
		{"batch 16", 16, 1, 500, false},
		{"batch 128 gaps", 128, 3, 77, false},
		{"batch 1024", 1024, 1, 300, false},
		{"batch 1024 whole messages", 1024, 1, 1024, false},
		{"batch 1024 gaps on disk", 1024, 3, 1000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s *Badger
			if tc.disk {
				s = openDir(t, t.TempDir())
				defer mustClose(t, s)
			} else {
				s = openMem(t)
			}
			rs := spaced(n, 0, tc.step, 100)
			batches := sealAll(t, k, "p", 5, rs, tc.batch)
			m := meta("p", 5, rs[n-1].Version)
			applyInMessages(t, s, m, rs, batches, tc.per)

			if got, want := len(proofEntries(t, s, "p")), len(batches); got != want {
				t.Fatalf("%d proof entries, want %d", got, want)
			}
			all := scanProofs(t, s, m, 0)
			if len(all) != n {
				t.Fatalf("served %d records, want %d", len(all), n)
			}
			for _, per := range []int{1, 11, 500, n} {
				if v, u := verifyServed(t, k.Public(), m, all, per); v != n || u != 0 {
					t.Fatalf("slices of %d: %d verified, %d unsigned, want %d and 0", per, v, u, n)
				}
			}
			// A scan from within a batch serves its proof too.
			from := scanProofs(t, s, m, rs[n/2].Version)
			if v, u := verifyServed(t, k.Public(), m, from, 7); v != len(from) || u != 0 {
				t.Fatalf("from the middle: %d verified, %d unsigned, of %d", v, u, len(from))
			}
			// Under another key nothing verifies.
			wires, proven, _ := cutSlice(t, all[:5])
			if _, err := verifyWire(testKey(t, 2).Public(), "p", 5, wires[0], proven[0], nil); err == nil {
				t.Fatal("a proof verified under another key")
			}
		})
	}
}

// TestProofsUnsignedAndMixed: a change without proofs is stored and
// served as before, with no proof entry; records between signed batches
// are served unsigned beside the signed ones.
func TestProofsUnsignedAndMixed(t *testing.T) {
	k := testKey(t, 1)
	s := openMem(t)
	rs := recs("k", 0, 100, 20)
	m := meta("p", 1, 100)
	batches := sealAll(t, k, "p", 1, rs[10:40], 16) // versions 11 to 40
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m, Records: rs, Proofs: proofsOf(t, batches, 0, 30)}}})
	all := scanProofs(t, s, m, 0)
	if v, u := verifyServed(t, k.Public(), m, all, 13); v != 30 || u != 70 {
		t.Fatalf("%d verified, %d unsigned, want 30 and 70", v, u)
	}
	s2 := openMem(t)
	mustApply(t, s2, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m, Records: rs}}})
	if n := countPrefix(t, s2, []byte(proofPrefix)); n != 0 {
		t.Fatalf("%d proof entries for an unsigned change", n)
	}
	if v, u := verifyServed(t, k.Public(), m, scanProofs(t, s2, m, 0), 50); v != 0 || u != 100 {
		t.Fatalf("unsigned: %d verified, %d unsigned", v, u)
	}
}

// TestProofsRejected: proofs that do not prove the change's records are
// refused before anything is written.
func TestProofsRejected(t *testing.T) {
	k := testKey(t, 1)
	rs := recs("k", 0, 32, 10)
	batches := sealAll(t, k, "p", 1, rs, 16)
	full := proofsOf(t, batches, 0, 32)
	other := sealAll(t, k, "q", 1, rs, 16)
	altered := append([]lsync.Record(nil), rs...)
	altered[3].Value = []byte("forged")
	for _, tc := range []struct {
		name   string
		recs   []lsync.Record
		proofs []*proof.Proof
		gen    uint64
	}{
		{"a record altered", altered, full, 1},
		{"a record missing", rs[1:], full, 1},
		{"another origin's", rs, proofsOf(t, other, 0, 32), 1},
		{"another generation", rs, full, 2},
		{"out of order", rs, []*proof.Proof{full[1], full[0]}, 1},
		{"nil", rs, []*proof.Proof{nil}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openMem(t)
			err := s.Apply(&lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("p", tc.gen, 32), Records: tc.recs, Proofs: tc.proofs}}})
			if err == nil {
				t.Fatal("applied")
			}
			if n := rawRecordCount(t, s, "p"); n != 0 {
				t.Fatalf("%d records written by a refused batch", n)
			}
		})
	}
}

// TestProofsOverwriteAndCollect: records overwritten, deleted and their
// tombstones collected drop out of their batches' proofs; the rest stay
// provable before and after the sweep, which cuts them out of the stored
// proofs and deletes an entry left with nothing.
func TestProofsOverwriteAndCollect(t *testing.T) {
	k := testKey(t, 1)
	s := openMem(t)
	rs := recs("k", 0, 64, 30) // versions 1..64 in batches of 16
	m := meta("p", 1, 64)
	batches := sealAll(t, k, "p", 1, rs, 16)
	applyInMessages(t, s, m, rs, batches, 64)

	// Overwrite every key of the first batch, and k0000020..k0000023 of
	// the second; delete k0000040..k0000047 of the third. Signed in
	// batches too.
	var next []lsync.Record
	ver := uint64(64)
	add := func(key string, tomb bool) {
		ver++
		r := lsync.Record{Key: key, Version: ver, Value: []byte("v2-" + key)}
		if tomb {
			r.Value, r.Tombstone = lsync.TombstoneValue(1), true
		}
		next = append(next, r)
	}
	for i := range 16 {
		add(fmt.Sprintf("k%07d", i), false)
	}
	for i := 20; i < 24; i++ {
		add(fmt.Sprintf("k%07d", i), false)
	}
	for i := 40; i < 48; i++ {
		add(fmt.Sprintf("k%07d", i), true)
	}
	m2 := meta("p", 1, ver)
	nb := sealAll(t, k, "p", 1, next, 16)
	applyInMessages(t, s, m2, next, nb, 10)

	check := func(view lsync.PeerMeta, want int) {
		t.Helper()
		all := scanProofs(t, s, view, 0)
		if len(all) != want {
			t.Fatalf("served %d records, want %d", len(all), want)
		}
		if v, u := verifyServed(t, k.Public(), view, all, 9); v != want || u != 0 {
			t.Fatalf("%d verified, %d unsigned, of %d", v, u, want)
		}
	}
	check(m2, 64)
	if got := heldCount(proofEntries(t, s, "p")); got != 64+len(next) {
		t.Fatalf("before the sweep the entries hold %d records, want %d", got, 64+len(next))
	}
	if err := s.GC(); err != nil {
		t.Fatal(err)
	}
	es := proofEntries(t, s, "p")
	if got := heldCount(es); got != 64 {
		t.Fatalf("after the sweep the entries hold %d records, want 64", got)
	}
	if len(es) != len(batches)-1+len(nb) {
		t.Fatalf("%d entries after the sweep, want %d: the first batch's is gone", len(es), len(batches)-1+len(nb))
	}
	check(m2, 64)

	// Collect the tombstones: their records go, and so do they from
	// their batch's proof.
	m3 := m2
	m3.GCVersion = ver
	var drop []string
	for i := 40; i < 48; i++ {
		drop = append(drop, fmt.Sprintf("k%07d", i))
	}
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m3, Drop: drop}}})
	check(m3, 56)
	if err := s.GC(); err != nil {
		t.Fatal(err)
	}
	if got := heldCount(proofEntries(t, s, "p")); got != 56 {
		t.Fatalf("after collection the entries hold %d records, want 56", got)
	}
	check(m3, 56)
}

// TestProofsRelay: a node that caught up from the origin serves on what it
// verified, and a third node catching up from it, in deltas of any size,
// verifies every record against the origin's key and holds the same.
func TestProofsRelay(t *testing.T) {
	k := testKey(t, 1)
	origin := openMem(t)
	rs := spaced(1000, 0, 2, 50)
	m := meta("p", 3, rs[len(rs)-1].Version)
	applyInMessages(t, origin, m, rs, sealAll(t, k, "p", 3, rs, 128), 1000)

	from := origin
	for hop, per := range []int{37, 500, 1} {
		to := openMem(t)
		relay(t, from, to, m, per, k.Public())
		all := scanProofs(t, to, m, 0)
		if v, u := verifyServed(t, k.Public(), m, all, 64); v != len(rs) || u != 0 {
			t.Fatalf("hop %d: %d verified, %d unsigned, of %d", hop, v, u, len(rs))
		}
		if a, b := heldCount(proofEntries(t, from, "p")), heldCount(proofEntries(t, to, "p")); a != b {
			t.Fatalf("hop %d: the relay's entries hold %d records, the receiver's %d", hop, a, b)
		}
		from = to
	}
}

// relay sends what from holds of view to to in deltas of at most per
// records, each with its proofs in their wire form, verified and applied
// as a receiver does.
func relay(t *testing.T, from, to *Badger, view lsync.PeerMeta, per int, pub ed25519.PublicKey) {
	t.Helper()
	cache := proof.NewVerified(64)
	var after uint64
	for after < view.MaxVersion {
		var slice []served
		through, err := from.ScanProofs(view, after, func(r *lsync.Record, p lsync.RecordProof) bool {
			if len(slice) == per {
				return false
			}
			slice = append(slice, served{*r, p})
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		wires, proven, unsigned := cutSlice(t, slice)
		if unsigned != 0 {
			t.Fatalf("%d records without a proof", unsigned)
		}
		var proofs []*proof.Proof
		for i := range wires {
			p, err := verifyWire(pub, view.ID, view.Generation, wires[i], proven[i], cache)
			if err != nil {
				t.Fatal(err)
			}
			proofs = append(proofs, p)
		}
		mm := view
		mm.MaxVersion = through
		var rs []lsync.Record
		for _, sv := range slice {
			rs = append(rs, sv.rec)
		}
		mustApply(t, to, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: mm, Records: rs, Proofs: proofs}}})
		after = through
	}
}

// TestProofsResetAndRemove: a reset or a removal deletes the node's proofs
// with its records.
func TestProofsResetAndRemove(t *testing.T) {
	k := testKey(t, 1)
	for _, remove := range []bool{false, true} {
		t.Run(fmt.Sprintf("remove=%v", remove), func(t *testing.T) {
			s := openMem(t)
			rs := recs("k", 0, 40, 10)
			applyInMessages(t, s, meta("p", 1, 40), rs, sealAll(t, k, "p", 1, rs, 16), 40)
			c := lsync.PeerChange{Meta: meta("p", 2, 0), Reset: true}
			if remove {
				c = lsync.PeerChange{Meta: meta("p", 1, 40), Remove: true}
			}
			mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{c}})
			if n := countPrefix(t, s, proofPeerPrefix("p")); n != 0 {
				t.Fatalf("%d proof entries left", n)
			}
		})
	}
}

// TestProofsRelabel: a relabel keeps the records and their proofs, which
// name the old generation: they are served unsigned at the new one until
// the origin signs the headers again (Resign), then verify at it, before
// and after the roll-forward and the sweep.
func TestProofsRelabel(t *testing.T) {
	k := testKey(t, 1)
	s := openMem(t)
	rs := recs("k", 0, 100, 10)
	m := meta("me", 1, 100)
	applyInMessages(t, s, m, rs, sealAll(t, k, "me", 1, rs, 32), 100)
	mustApply(t, s, relabelBatch(m, 1, 2))
	m2 := m
	m2.Generation = 2
	if v, u := verifyServed(t, k.Public(), m2, scanProofs(t, s, m2, 0), 50); v != 0 || u != 100 {
		t.Fatalf("before signing again: %d verified, %d unsigned", v, u)
	}
	waitNoMarker(t, s)
	if err := s.GC(); err != nil {
		t.Fatal(err)
	}
	n, err := s.Resign("me", func(h proof.Header) (proof.Signed, error) { return proof.Sign(k, h) })
	if err != nil || n != 4 {
		t.Fatalf("Resign: %d, %v; want 4 batches", n, err)
	}
	if v, u := verifyServed(t, k.Public(), m2, scanProofs(t, s, m2, 0), 50); v != 100 || u != 0 {
		t.Fatalf("after signing again: %d verified, %d unsigned", v, u)
	}
}

// TestProofsRekey: after its key changed, an origin signs every stored
// header again with the new key (Rekey), at its generation; Resign, which
// signs only headers of another generation, signs none of them.
func TestProofsRekey(t *testing.T) {
	old, cur := testKey(t, 1), testKey(t, 2)
	s := openMem(t)
	rs := recs("k", 0, 100, 10)
	m := meta("me", 1, 100)
	applyInMessages(t, s, m, rs, sealAll(t, old, "me", 1, rs, 32), 100)
	sign := func(h proof.Header) (proof.Signed, error) { return proof.Sign(cur, h) }
	if n, err := s.Resign("me", sign); err != nil || n != 0 {
		t.Fatalf("Resign at the same generation: %d, %v; want none", n, err)
	}
	if v, _ := verifyServed(t, old.Public(), m, scanProofs(t, s, m, 0), 50); v != 100 {
		t.Fatalf("%d verified under the old key before Rekey", v)
	}
	n, err := s.Rekey("me", sign)
	if err != nil || n != 4 {
		t.Fatalf("Rekey: %d, %v; want 4 batches", n, err)
	}
	if v, u := verifyServed(t, cur.Public(), m, scanProofs(t, s, m, 0), 50); v != 100 || u != 0 {
		t.Fatalf("after Rekey: %d verified, %d unsigned", v, u)
	}
}

// TestAddProof: an origin that signs records after writing them stores
// the proof of those still held as signed; one overwritten meanwhile is
// left out, and the rest verify.
func TestAddProof(t *testing.T) {
	k := testKey(t, 1)
	s := openMem(t)
	rs := recs("k", 0, 20, 10)
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("me", 1, 20), Records: rs}}})
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("me", 1, 21), Records: []lsync.Record{{Key: rs[4].Key, Value: []byte("new"), Version: 21}}}}})
	sb := sealAll(t, k, "me", 1, rs, 20)[0]
	n, err := s.AddProof(sb.p, rs)
	if err != nil || n != 19 {
		t.Fatalf("AddProof: %d, %v; want 19", n, err)
	}
	m := meta("me", 1, 21)
	if v, u := verifyServed(t, k.Public(), m, scanProofs(t, s, m, 0), 6); v != 19 || u != 1 {
		t.Fatalf("%d verified, %d unsigned, want 19 and 1", v, u)
	}
	if _, err := s.AddProof(sealAll(t, k, "me", 2, rs, 20)[0].p, rs); err == nil {
		t.Fatal("a proof of another generation was stored")
	}
}

// TestProofsCrashInSplitBatch: a batch too large for one transaction, its
// signed batches straddling transactions, cut short after any of them:
// every record the reopened store serves has its proof, and the rest of
// the batch sent again completes both.
func TestProofsCrashInSplitBatch(t *testing.T) {
	k := testKey(t, 1)
	for cut := 1; cut <= 3; cut++ {
		t.Run(fmt.Sprintf("cut=%d", cut), func(t *testing.T) {
			dir := t.TempDir()
			s := openDir(t, dir)
			rs := recs("k", 0, 20_000, 100)
			batches := sealAll(t, k, "p", 1, rs, 3000) // straddle the cuts
			m := meta("p", 1, 20_000)
			batch := &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m, Records: rs, Proofs: proofsOf(t, batches, 0, len(rs))}}}
			s = applyCut(t, s, dir, batch, cut)
			defer mustClose(t, s)
			var view lsync.PeerMeta
			if err := s.LoadMeta(func(m lsync.PeerMeta) error {
				view = m
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if view.MaxVersion == 0 || view.MaxVersion >= m.MaxVersion {
				t.Fatalf("watermark %d is not an intermediate one", view.MaxVersion)
			}
			all := scanProofs(t, s, view, 0)
			if v, u := verifyServed(t, k.Public(), view, all, 1000); v != int(view.MaxVersion) || u != 0 {
				t.Fatalf("watermark %d: %d verified, %d unsigned", view.MaxVersion, v, u)
			}
			if got := heldCount(proofEntries(t, s, "p")); got != int(view.MaxVersion) {
				t.Fatalf("the entries hold %d records, the watermark is %d", got, view.MaxVersion)
			}
			lo := int(view.MaxVersion)
			mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m, Records: rs[lo:], Proofs: proofsOf(t, batches, lo, len(rs))}}})
			all = scanProofs(t, s, m, 0)
			if v, u := verifyServed(t, k.Public(), m, all, 1000); v != len(rs) || u != 0 {
				t.Fatalf("after the rest: %d verified, %d unsigned", v, u)
			}
		})
	}
}

// TestProofsSplitBatchInMemory: a batch of the largest signed batch and
// more, in one message too large for one transaction, in memory, where
// Badger counts every value in full: its proof entries fit the
// transactions, and every record verifies.
func TestProofsSplitBatchInMemory(t *testing.T) {
	k := testKey(t, 1)
	s := openMem(t)
	rs := recs("k", 0, 20_000, 100)
	batches := sealAll(t, k, "p", 1, rs, proof.MaxLeaves)
	m := meta("p", 1, 20_000)
	batch := &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m, Records: rs, Proofs: proofsOf(t, batches, 0, len(rs))}}}
	if s.fitsOneTxn(encodeBatch(batch, nil, nil)) {
		t.Fatal("the batch fits one transaction; it must not")
	}
	mustApply(t, s, batch)
	if v, u := verifyServed(t, k.Public(), m, scanProofs(t, s, m, 0), 4096); v != len(rs) || u != 0 {
		t.Fatalf("%d verified, %d unsigned, of %d", v, u, len(rs))
	}
}
