package proof

import (
	"fmt"
	"math/bits"
)

// The tree of n leaves is that of RFC 6962: for n > 1, the left subtree
// holds the largest power of two of leaves below n, the right one the
// rest. Its shape depends on n alone, so a proof need not describe it.

// split is where the tree of n > 1 leaves divides: the largest power of
// two below n.
func split(n int) int { return 1 << (bits.Len(uint(n-1)) - 1) }

// RootOf returns the root of the tree over leaves (at least one).
func RootOf(leaves []Hash) Hash {
	// The tree of n leaves is the perfect subtrees of n's binary digits,
	// largest first, joined from the right. A stack of the subtrees
	// completed so far, merged as a binary counter carries, builds them
	// without allocating.
	var stack [bits.UintSize + 1]Hash
	top := 0
	for i := range leaves {
		stack[top] = leaves[i]
		top++
		for c := i + 1; c&1 == 0; c >>= 1 {
			top--
			stack[top-1] = inner(&stack[top-1], &stack[top])
		}
	}
	for top > 1 {
		top--
		stack[top-1] = inner(&stack[top-1], &stack[top])
	}
	return stack[0]
}

// Span is a run of leaf indices, Lo up to but not including Hi.
type Span struct{ Lo, Hi int }

// Len is the number of leaves in s.
func (s Span) Len() int { return s.Hi - s.Lo }

// CountOf is the number of leaves in spans.
func CountOf(spans []Span) int {
	n := 0
	for _, s := range spans {
		n += s.Len()
	}
	return n
}

// checkSpans reports whether spans are a canonical set of leaves of a
// tree of count: non-empty, ascending, apart (two touching spans are one)
// and within [0, count).
func checkSpans(spans []Span, count int) error {
	if len(spans) == 0 {
		return fmt.Errorf("%w: no leaves", ErrMalformed)
	}
	prev := -1
	for i, s := range spans {
		switch {
		case s.Lo <= prev || s.Lo < 0:
			return fmt.Errorf("%w: span %d at %d, not past %d", ErrMalformed, i, s.Lo, prev)
		case s.Hi <= s.Lo:
			return fmt.Errorf("%w: span %d empty", ErrMalformed, i)
		case s.Hi > count:
			return fmt.Errorf("%w: span %d ends at %d, beyond the %d leaves", ErrMalformed, i, s.Hi, count)
		}
		prev = s.Hi
	}
	return nil
}

// cursor walks a canonical span list in tree order: every question it is
// asked is about a range at or past the previous one.
type cursor struct {
	spans []Span
	i     int
}

// cover says how [lo, hi) meets the spans: none of its leaves are in
// them, all are (within one span), or some are.
func (c *cursor) cover(lo, hi int) (none, all bool) {
	for c.i < len(c.spans) && c.spans[c.i].Hi <= lo {
		c.i++
	}
	if c.i == len(c.spans) || c.spans[c.i].Lo >= hi {
		return true, false
	}
	s := c.spans[c.i]
	return false, s.Lo <= lo && hi <= s.Hi
}

// hashCount is how many hashes a proof of the leaves in spans, of a tree
// of count leaves, holds: one per maximal subtree with none of them. It
// walks a node per span and level, never a node per leaf, so a few bytes
// claiming a long span cost little.
func hashCount(count int, spans []Span) int {
	c := cursor{spans: spans}
	return c.hashes(0, count)
}

func (c *cursor) hashes(lo, hi int) int {
	none, all := c.cover(lo, hi)
	switch {
	case none:
		return 1
	case all:
		return 0
	}
	m := lo + split(hi-lo)
	return c.hashes(lo, m) + c.hashes(m, hi)
}

// rootWalk recomputes a root from the leaves a proof holds and its
// hashes, consuming both in tree order.
type rootWalk struct {
	c      cursor
	leaves []Hash
	hashes []Hash
}

func (w *rootWalk) node(lo, hi int) Hash {
	none, all := w.c.cover(lo, hi)
	switch {
	case none:
		h := w.hashes[0]
		w.hashes = w.hashes[1:]
		return h
	case all:
		h := RootOf(w.leaves[:hi-lo])
		w.leaves = w.leaves[hi-lo:]
		return h
	}
	m := lo + split(hi-lo)
	l := w.node(lo, m)
	r := w.node(m, hi)
	return inner(&l, &r)
}

// rootFrom computes the root of a tree of count leaves from the hashes of
// the leaves in spans (in order) and the proof's hashes. The caller has
// checked the spans, and that leaves and hashes have the lengths the
// spans call for.
func rootFrom(count int, spans []Span, leaves, hashes []Hash) Hash {
	w := rootWalk{c: cursor{spans: spans}, leaves: leaves, hashes: hashes}
	return w.node(0, count)
}
