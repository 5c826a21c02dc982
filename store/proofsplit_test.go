package store

import (
	"testing"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// TestSplitAtSignedBatches: a batch too large for one transaction is
// split between its signed batches, each smaller than a transaction:
// after every transaction, each proof entry holds its batch whole, so no
// entry is cut for a part; and every record is served with its proof.
func TestSplitAtSignedBatches(t *testing.T) {
	k := testKey(t, 1)
	s := openDir(t, t.TempDir())
	defer mustClose(t, s)
	rs := recs("k", 0, 20_000, 100)
	batches := sealAll(t, k, "p", 1, rs, 500)
	m := meta("p", 1, 20_000)
	runs, cut := 0, 0
	s.afterRun = func() error {
		runs++
		for _, h := range proofEntries(t, s, "p") {
			if len(h.versions) != h.p.Count {
				cut++
			}
		}
		return nil
	}
	mustApply(t, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: m, Records: rs, Proofs: proofsOf(t, batches, 0, len(rs))}}})
	if runs == 0 {
		t.Fatal("the batch fit one transaction; it must not")
	}
	if cut > 0 {
		t.Fatalf("%d proof entries held part of their batch after a transaction (%d transactions)", cut, runs+1)
	}
	if v, u := verifyServed(t, k.Public(), m, scanProofs(t, s, m, 0), 1000); v != len(rs) || u != 0 {
		t.Fatalf("%d verified, %d unsigned, of %d", v, u, len(rs))
	}
}
