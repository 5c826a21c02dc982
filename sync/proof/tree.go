package proof

import (
	"fmt"
)

// Tree is what a holder knows of one signed batch's tree: the hash of
// every subtree its proofs let it compute, and which records it holds.
// Built once from the proof it stores (O(count) hashes), it cuts the
// proof of any slice of its records with a lookup per hash, so a sender
// that splits a batch into many messages pays for the tree once.
// It takes 33 bytes per node, 66 per record of the batch. Subset and
// Proof only read it; Add must not run beside them.
type Tree struct {
	signed Signed
	nodes  []Hash // by position: leaf i at 2i, the inner node that splits at m at 2m-1
	have   []bool
	held   []Span
}

// pos is the position of subtree [lo, hi) in a Tree's arrays. An inner
// node is named by the leaf boundary it splits at, which no other inner
// node splits at.
func pos(lo, hi int) int {
	if hi-lo == 1 {
		return 2 * lo
	}
	return 2*(lo+split(hi-lo)) - 1
}

// NewTree builds the tree of p's batch as far as p and leaves, the hashes
// of p's held records, tell it. p must have its root (from Seal, Verify
// or Bind); leaves that do not rebuild it are ErrMismatch.
func NewTree(p *Proof, leaves []Hash) (*Tree, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	t := &Tree{signed: p.Signed, nodes: make([]Hash, 2*p.Count-1), have: make([]bool, 2*p.Count-1)}
	if err := t.add(p, leaves); err != nil {
		return nil, err
	}
	return t, nil
}

// Add adds what q, another proof of the same batch, and leaves, the hashes
// of its held records, tell: the tree then holds the records of both.
func (t *Tree) Add(q *Proof, leaves []Hash) error {
	if err := q.check(); err != nil {
		return err
	}
	if q.Signed != t.signed {
		return fmt.Errorf("%w: a proof of another batch", ErrMismatch)
	}
	return t.add(q, leaves)
}

func (t *Tree) add(q *Proof, leaves []Hash) error {
	if n := q.Len(); len(leaves) != n {
		return fmt.Errorf("%w: %d leaf hashes for a proof of %d", ErrMismatch, len(leaves), n)
	}
	w := fill{t: t, c: cursor{spans: q.Held}, leaves: leaves, hashes: q.Hashes}
	if root := w.node(0, q.Count); root != q.Header.Root || w.conflict {
		return fmt.Errorf("%w: batch of %q at versions %d to %d", ErrMismatch, q.Origin, q.First, q.Last)
	}
	t.held = union(t.held, q.Held)
	return nil
}

// fill walks a proof, recording every hash it gives or allows computing.
type fill struct {
	t        *Tree
	c        cursor
	leaves   []Hash
	hashes   []Hash
	conflict bool // a hash that differs from one another proof gave
}

func (w *fill) node(lo, hi int) Hash {
	var h Hash
	switch none, _ := w.c.cover(lo, hi); {
	case none:
		h, w.hashes = w.hashes[0], w.hashes[1:]
	case hi-lo == 1:
		h, w.leaves = w.leaves[0], w.leaves[1:]
	default:
		m := lo + split(hi-lo)
		l := w.node(lo, m)
		r := w.node(m, hi)
		h = inner(&l, &r)
	}
	at := pos(lo, hi)
	if w.t.have[at] && w.t.nodes[at] != h {
		w.conflict = true
	}
	w.t.nodes[at], w.t.have[at] = h, true
	return h
}

// Count is the number of records of the tree's batch, held or not.
func (t *Tree) Count() int { return t.signed.Count }

// Len is the number of records the tree holds.
func (t *Tree) Len() int { return CountOf(t.held) }

// Proof returns the proof of every record the tree holds, and their leaf
// hashes.
func (t *Tree) Proof() (*Proof, []Hash) { return t.cut(t.held) }

// Subset returns the proof of the records at the positions keep (spans of
// positions among the records the tree holds, 0 to Len), and their leaf
// hashes.
func (t *Tree) Subset(keep []Span) (*Proof, []Hash, error) {
	if err := checkSpans(keep, t.Len()); err != nil {
		return nil, nil, fmt.Errorf("proof: subset: %w", err)
	}
	p, leaves := t.cut(indices(t.held, keep))
	return p, leaves, nil
}

// cut builds the proof of the leaves in target, all held. Every subtree
// it asks the hash of holds no target leaf while its parent holds one, so
// it is at or above what some proof covered: the tree has its hash.
func (t *Tree) cut(target []Span) (*Proof, []Hash) {
	p := &Proof{Signed: t.signed, Held: target}
	leaves := make([]Hash, 0, CountOf(target))
	c := cursor{spans: target}
	var walk func(lo, hi int)
	walk = func(lo, hi int) {
		switch none, all := c.cover(lo, hi); {
		case none:
			p.Hashes = append(p.Hashes, t.nodes[pos(lo, hi)])
		case all:
			for i := lo; i < hi; i++ {
				leaves = append(leaves, t.nodes[2*i])
			}
		default:
			m := lo + split(hi-lo)
			walk(lo, m)
			walk(m, hi)
		}
	}
	walk(0, t.signed.Count)
	return p, leaves
}

// indices maps spans of positions among the records in held to spans of
// batch indices.
func indices(held, pos []Span) []Span {
	var out []Span
	h, base := 0, 0 // held[h] starts at position base
	for _, s := range pos {
		for lo := s.Lo; lo < s.Hi; {
			for lo >= base+held[h].Len() {
				base += held[h].Len()
				h++
			}
			hi := min(s.Hi, base+held[h].Len())
			out = appendSpan(out, Span{held[h].Lo + lo - base, held[h].Lo + hi - base})
			lo = hi
		}
	}
	return out
}

// appendSpan appends s, joined to the last span if they touch.
func appendSpan(spans []Span, s Span) []Span {
	if k := len(spans) - 1; k >= 0 && spans[k].Hi == s.Lo {
		spans[k].Hi = s.Hi
		return spans
	}
	return append(spans, s)
}

// union is the canonical span list of the leaves in a or b.
func union(a, b []Span) []Span {
	out := make([]Span, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		var s Span
		if len(b) == 0 || len(a) > 0 && a[0].Lo <= b[0].Lo {
			s, a = a[0], a[1:]
		} else {
			s, b = b[0], b[1:]
		}
		if k := len(out) - 1; k >= 0 && s.Lo <= out[k].Hi {
			out[k].Hi = max(out[k].Hi, s.Hi)
			continue
		}
		out = append(out, s)
	}
	return out
}
