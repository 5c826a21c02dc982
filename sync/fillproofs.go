package sync

import (
	"math/bits"

	"github.com/leviathan-gossip/leviathan/sync/proof"
)

// proofCut is the records of one signed batch that a delta carries: the
// storage's tree of the batch and their positions in it.
type proofCut struct {
	tree *proof.Tree
	pos  []proof.Span
}

// provenDelta is delta for a core that serves records with their proofs:
// it reads the records with their places in their batches' trees, stops
// at the first record without one (no receiver would take it), and cuts
// the proof of exactly the records it carries from each tree. The bytes
// of the proofs count in the budget: while reading, each new batch and
// each hole in a batch's run of records counts as much as its proof can
// add; once cut, what is over the budget is cut off the end.
func (f *DeltaFill) provenDelta(pl *plannedDelta, nd NodeDelta, used, budget int) (NodeDelta, int, bool) {
	view := &pl.view
	var cuts []proofCut
	reserve := 0 // bytes counted for the proofs while reading
	through, err := f.proofs.ScanProofs(*view, pl.from, func(r *Record, rp RecordProof) bool {
		if rp.Tree == nil || len(nd.Records) == 1<<16-1 {
			return false
		}
		sz, extra := recordSize(r), 0
		k := len(cuts) - 1
		fresh := k < 0 || cuts[k].tree != rp.Tree
		switch {
		case fresh:
			for i := range cuts {
				if cuts[i].tree == rp.Tree {
					return false // a batch met again after another: not one proof
				}
			}
			extra = proofHeadBound + pathBound(rp.Tree)
		case cuts[k].pos[len(cuts[k].pos)-1].Hi != rp.Pos:
			extra = pathBound(rp.Tree)
		}
		if used+sz+extra > budget {
			return false
		}
		switch {
		case fresh:
			cuts = append(cuts, proofCut{tree: rp.Tree, pos: []proof.Span{{Lo: rp.Pos, Hi: rp.Pos + 1}}})
		case extra == 0:
			cuts[k].pos[len(cuts[k].pos)-1].Hi++
		default:
			cuts[k].pos = append(cuts[k].pos, proof.Span{Lo: rp.Pos, Hi: rp.Pos + 1})
		}
		nd.Records = append(nd.Records, *r)
		used += sz + extra
		reserve += extra
		return true
	})
	if err != nil {
		f.errs++
		through = pl.from
		if len(nd.Records) > 0 {
			through = nd.Records[len(nd.Records)-1].Version
		}
	}
	if len(nd.Records) == 0 {
		if through >= view.MaxVersion {
			return nd, used, true
		}
		return NodeDelta{}, 0, false
	}
	ps, ok := cutAll(cuts)
	if !ok {
		f.errs++
		return NodeDelta{}, 0, false
	}
	nd.Proofs = ps
	used += proofsSize(ps) - reserve
	for used > budget && len(nd.Records) > 0 {
		// The bounds above hold for a batch the storage holds whole; one
		// with holes of its own may need more hashes. Give up a quarter.
		n := len(nd.Records) * 3 / 4
		for _, r := range nd.Records[n:] {
			used -= recordSize(&r)
		}
		used -= proofsSize(nd.Proofs)
		nd.Records = nd.Records[:n]
		cuts = trimCuts(cuts, n)
		if nd.Proofs, ok = cutAll(cuts); !ok {
			f.errs++
			return NodeDelta{}, 0, false
		}
		used += proofsSize(nd.Proofs)
		through = 0 // cut short
		if n > 0 {
			through = nd.Records[n-1].Version
		}
	}
	if len(nd.Records) == 0 {
		return NodeDelta{}, 0, false
	}
	if through >= view.MaxVersion {
		return nd, used, true
	}
	nd.To = through
	return nd, used, false
}

// proofHeadBound bounds a proof's wire size without its hashes: its bin
// header, array header, three integers, signature, spans header and
// hashes header.
const proofHeadBound = 3 + 1 + 3*9 + 2 + proof.SignatureSize + 3 + 5

// pathBound bounds what one run of records adds to a proof of a batch of
// the tree's size: a hash on each side of each level, and its span's two
// integers.
func pathBound(t *proof.Tree) int {
	return 2*bits.Len(uint(t.Count()))*len(proof.Hash{}) + 2*3
}

// cutAll cuts the proof of each cut's records.
func cutAll(cuts []proofCut) ([]*proof.Proof, bool) {
	ps := make([]*proof.Proof, 0, len(cuts))
	for _, c := range cuts {
		p, _, err := c.tree.Subset(c.pos)
		if err != nil {
			return nil, false
		}
		ps = append(ps, p)
	}
	return ps, true
}

// trimCuts keeps the cuts' first n records.
func trimCuts(cuts []proofCut, n int) []proofCut {
	out := cuts[:0]
	for _, c := range cuts {
		if n <= 0 {
			break
		}
		var pos []proof.Span
		for _, s := range c.pos {
			if n <= 0 {
				break
			}
			if s.Hi-s.Lo > n {
				s.Hi = s.Lo + n
			}
			n -= s.Hi - s.Lo
			pos = append(pos, s)
		}
		out = append(out, proofCut{tree: c.tree, pos: pos})
	}
	return out
}
