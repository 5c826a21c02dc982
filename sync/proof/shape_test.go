package proof

import (
	"math/rand"
	"testing"
)

// refRoot is the tree's definition, recursively.
func refRoot(leaves []Hash) Hash {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := refRoot(leaves[:k]), refRoot(leaves[k:])
	return inner(&l, &r)
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct{ n, want int }{{2, 1}, {3, 2}, {4, 2}, {5, 4}, {8, 4}, {9, 8}, {1 << 16, 1 << 15}, {1<<16 + 1, 1 << 16}} {
		if got := split(tc.n); got != tc.want {
			t.Errorf("split(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}

func TestRootOfIsTheRecursiveTree(t *testing.T) {
	leaves := Leaves(testOrigin, testRecords(140, 1, 1))
	for n := 1; n <= len(leaves); n++ {
		if got, want := RootOf(leaves[:n]), refRoot(leaves[:n]); got != want {
			t.Fatalf("%d leaves: %s, want %s", n, got, want)
		}
	}
}

// refHashCount counts the maximal subtrees without a held leaf, leaf by
// leaf.
func refHashCount(lo, hi int, held map[int]bool) int {
	any := false
	for i := lo; i < hi; i++ {
		any = any || held[i]
	}
	if !any {
		return 1
	}
	if hi-lo == 1 {
		return 0
	}
	m := lo + split(hi-lo)
	return refHashCount(lo, m, held) + refHashCount(m, hi, held)
}

func TestHashCount(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for iter := 0; iter < 500; iter++ {
		n := 1 + rng.Intn(300)
		held := map[int]bool{}
		var spans []Span
		for i := 0; i < n; i++ {
			if rng.Intn(3) == 0 {
				held[i] = true
				spans = appendSpan(spans, Span{i, i + 1})
			}
		}
		if len(spans) == 0 {
			continue
		}
		if got, want := hashCount(n, spans), refHashCount(0, n, held); got != want {
			t.Fatalf("%d leaves, held %v: %d hashes, want %d", n, spans, got, want)
		}
	}
}

func TestCheckSpans(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spans []Span
		ok    bool
	}{
		{"one", []Span{{0, 1}}, true},
		{"all", []Span{{0, 10}}, true},
		{"apart", []Span{{0, 2}, {3, 4}, {9, 10}}, true},
		{"none", nil, false},
		{"empty", []Span{{2, 2}}, false},
		{"reversed", []Span{{3, 2}}, false},
		{"negative", []Span{{-1, 2}}, false},
		{"touching", []Span{{0, 2}, {2, 3}}, false},
		{"overlapping", []Span{{0, 3}, {2, 4}}, false},
		{"descending", []Span{{5, 6}, {1, 2}}, false},
		{"past the end", []Span{{9, 11}}, false},
	} {
		if err := checkSpans(tc.spans, 10); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
