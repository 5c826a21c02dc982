package sync

import (
	"github.com/leviathan-gossip/leviathan/sync/proof"
)

// Record proofs in the core. A received delta's proofs are verified by
// the driver's engine before the core sees them; the core only carries
// them along with the records it takes (a delta's records above the
// watermark, a push's newest per key), cutting them to exactly those
// records, so that what it hands the store, and pushes on, proves what it
// holds and nothing more.

// proofsSize is the wire size of a delta's proofs field: nothing when
// there are none.
func proofsSize(ps []*proof.Proof) int {
	if len(ps) == 0 {
		return 0
	}
	n := sizeArr(len(ps))
	for _, p := range ps {
		n += BinSize(p.WireSize())
	}
	return n
}

// ProofsSize is the bytes ps adds to a delta on the wire.
func ProofsSize(ps []*proof.Proof) int { return proofsSize(ps) }

// inRange returns the records of recs (ascending) within p's versions.
func inRange(p *proof.Proof, recs []Record) (lo, hi int) {
	for lo < len(recs) && recs[lo].Version < p.First {
		lo++
	}
	hi = lo
	for hi < len(recs) && recs[hi].Version <= p.Last {
		hi++
	}
	return lo, hi
}

func leavesOf(origin string, recs []Record) []proof.Hash {
	out := make([]proof.Hash, len(recs))
	for i := range recs {
		out[i] = proof.LeafHash(origin, (*proof.Record)(&recs[i]))
	}
	return out
}

// CutProofs returns the proofs of exactly sub, given ps, proofs with their
// roots of the records of recs in their ranges (each the records of recs
// in its version range, all and in order), and sub, records of recs
// (ascending, each at a version of recs). A proof none of whose records
// sub keeps is left out; one that keeps some is cut (Proof.Subset). False
// if a proof does not match its records.
func CutProofs(origin string, ps []*proof.Proof, recs, sub []Record) ([]*proof.Proof, bool) {
	if len(ps) == 0 {
		return nil, true
	}
	out := make([]*proof.Proof, 0, len(ps))
	j := 0 // next record of sub
	for _, p := range ps {
		lo, hi := inRange(p, recs)
		if hi-lo != p.Len() {
			return nil, false
		}
		var keep []proof.Span
		for i := lo; i < hi; i++ {
			for j < len(sub) && sub[j].Version < recs[i].Version {
				j++
			}
			if j == len(sub) || sub[j].Version != recs[i].Version {
				continue
			}
			if n := len(keep); n > 0 && keep[n-1].Hi == i-lo {
				keep[n-1].Hi++
			} else {
				keep = append(keep, proof.Span{Lo: i - lo, Hi: i - lo + 1})
			}
		}
		switch proof.CountOf(keep) {
		case 0:
			continue
		case hi - lo:
			out = append(out, p)
			continue
		}
		q, _, err := p.Subset(leavesOf(origin, recs[lo:hi]), keep)
		if err != nil {
			return nil, false
		}
		out = append(out, q)
	}
	return out, true
}

// joinProofs adds bs, the proofs of some of bRecs, to as, those of some of
// aRecs, for one change that holds aRecs then bRecs (all of bRecs above
// aRecs): the proofs of the change's records, in order and not
// overlapping, two proofs of one signed batch merged. False if a proof of
// bs overlaps a proof of as of another batch, which no honest origin
// signs.
func joinProofs(origin string, as []*proof.Proof, aRecs []Record, bs []*proof.Proof, bRecs []Record) ([]*proof.Proof, bool) {
	if len(bs) == 0 {
		return as, true
	}
	if len(as) == 0 {
		return append([]*proof.Proof(nil), bs...), true
	}
	last, first := as[len(as)-1], bs[0]
	if first.First > last.Last {
		return append(append([]*proof.Proof(nil), as...), bs...), true
	}
	if first.Signed != last.Signed {
		return nil, false
	}
	alo, ahi := inRange(last, aRecs)
	blo, bhi := inRange(first, bRecs)
	m, _, err := proof.Merge(last, leavesOf(origin, aRecs[alo:ahi]), first, leavesOf(origin, bRecs[blo:bhi]))
	if err != nil {
		return nil, false
	}
	out := append([]*proof.Proof(nil), as[:len(as)-1]...)
	out = append(out, m)
	return append(out, bs[1:]...), true
}
