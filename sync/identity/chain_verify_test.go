package identity

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
)

// beatStep is one claim put to a cache and what it must answer.
type beatStep struct {
	name  string
	com   BeatCommitment
	h     uint64
	v     BeatValue
	walk  uint64 // 0: Verify; else VerifyWalk with this bound
	want  error  // nil: verified
	best  uint64 // the node's best heartbeat after it (0: unchecked)
	count int    // ids held after it
}

func runBeatSteps(t *testing.T, c *BeatCache, steps []beatStep) {
	t.Helper()
	for _, s := range steps {
		var err error
		if s.walk == 0 {
			err = c.Verify(&s.com, s.h, s.v)
		} else {
			err = c.VerifyWalk(&s.com, s.h, s.v, s.walk)
		}
		if (s.want == nil) != (err == nil) || (s.want != nil && !errors.Is(err, s.want)) {
			t.Errorf("%s: %v, want %v", s.name, err, s.want)
		}
		if s.best != 0 {
			if _, h, _, ok := c.Best(s.com.ID); !ok || h != s.best {
				t.Errorf("%s: best %d (%v), want %d", s.name, h, ok, s.best)
			}
		}
		if s.count != 0 && c.Len() != s.count {
			t.Errorf("%s: %d ids held, want %d", s.name, c.Len(), s.count)
		}
	}
}

func proof(t *testing.T, c *BeatChain, h uint64) BeatValue {
	t.Helper()
	v, err := c.Proof(h)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestBeatCacheVerify(t *testing.T) {
	key, other := testKey(t, 3), testKey(t, 4)
	const base, length = 3 << 32, 5000
	chain := newTestChain(t, key, "p", 1, base, length)
	com := chain.Commitment()
	forger := newTestChain(t, other, "p", 1, base, length) // a member's chain for p's id, never signed by p
	q := newTestChain(t, other, "q", 1, base, length)
	p := func(h uint64) BeatValue { return proof(t, chain, h) }
	flip := func(v BeatValue) BeatValue { v[0] ^= 1; return v }
	runBeatSteps(t, NewBeatCache(8, 100), []beatStep{
		{name: "the anchor itself", com: com, h: base, v: com.Anchor, best: base, count: 1},
		{name: "one step", com: com, h: base + 1, v: p(base + 1), best: base + 1},
		{name: "the same again", com: com, h: base + 1, v: p(base + 1), best: base + 1},
		{name: "ten steps", com: com, h: base + 11, v: p(base + 11), best: base + 11},
		{name: "a flipped bit", com: com, h: base + 12, v: flip(p(base + 12)), want: ErrBeatProof, best: base + 11},
		{name: "a value one heartbeat off", com: com, h: base + 13, v: p(base + 12), want: ErrBeatProof},
		{name: "another chain's value for p", com: com, h: base + 12, v: proof(t, forger, base+12), want: ErrBeatProof},
		{name: "q's value for p", com: com, h: base + 12, v: proof(t, q, base+12), want: ErrBeatProof},
		{name: "p's verified value claimed higher", com: com, h: base + 12, v: p(base + 11), want: ErrBeatProof},
		{name: "exactly the step bound", com: com, h: base + 111, v: p(base + 111), best: base + 111},
		{name: "one beyond it, left unchecked", com: com, h: base + 212, v: p(base + 212), want: ErrBeatTooFar, best: base + 111},
		{name: "a forgery beyond it costs nothing", com: com, h: base + 4000, v: BeatValue{}, want: ErrBeatTooFar},
		{name: "the caller allows the walk", com: com, h: base + 212, v: p(base + 212), walk: 101, best: base + 212},
		{name: "below the best, near it", com: com, h: base + 200, v: p(base + 200), best: base + 212},
		{name: "below the best, near the anchor", com: com, h: base + 5, v: p(base + 5), best: base + 212},
		{name: "below the best, forged", com: com, h: base + 200, v: flip(p(base + 200)), want: ErrBeatProof},
		{name: "the last heartbeat", com: com, h: base + length, v: p(base + length), walk: length, best: base + length},
		{name: "above the chain", com: com, h: base + length + 1, v: BeatValue{}, want: ErrBeatOutOfRange},
		{name: "below the base", com: com, h: base - 1, v: BeatValue{}, want: ErrBeatOutOfRange},
		{name: "the largest heartbeat", com: com, h: math.MaxUint64, v: BeatValue{}, want: ErrBeatOutOfRange},
		{name: "a commitment out of its limits", com: BeatCommitment{ID: "p", Base: math.MaxUint64, Length: 2}, h: 1, want: ErrMalformedBeatChain, count: 1},
		{name: "a commitment without an id", com: BeatCommitment{Length: 2}, h: 1, want: ErrMalformedBeatChain, count: 1},
	})
}

// A re-anchored commitment shortens the walk of a verifier that has seen
// none of the chain's values; a verifier that has keeps using its point.
// The two commitments are one chain to the cache: the re-anchored one's
// anchor is a point verified, and the older anchor's range still counts.
func TestBeatCacheReanchor(t *testing.T) {
	const base, length = 1 << 32, 3000
	chain := newTestChain(t, testKey(t, 3), "p", 1, base, length)
	com := chain.Commitment()
	re, err := chain.Reanchor(base + 2000)
	if err != nil {
		t.Fatal(err)
	}
	p := func(h uint64) BeatValue { return proof(t, chain, h) }
	runBeatSteps(t, NewBeatCache(8, 50), []beatStep{
		{name: "far from the old anchor", com: com, h: base + 2010, v: p(base + 2010), want: ErrBeatTooFar},
		{name: "near the new one", com: re, h: base + 2010, v: p(base + 2010), best: base + 2010},
		{name: "below the new anchor, near the best: the old anchor's range", com: re, h: base + 1990, v: p(base + 1990), best: base + 2010},
		{name: "below the new anchor, far from both", com: re, h: base + 1000, v: p(base + 1000), want: ErrBeatTooFar},
		{name: "the old anchor's range, near it", com: com, h: base + 10, v: p(base + 10), best: base + 2010},
		{name: "forged near the best", com: re, h: base + 2011, v: p(base + 2010), want: ErrBeatProof},
	})
	// A verifier that learns the chain at its re-anchored commitment still
	// checks a heartbeat just below the new anchor, which a relay holding
	// the older record quotes: hashing the anchor forward gives its value.
	runBeatSteps(t, NewBeatCache(8, 50), []beatStep{
		{name: "one below the anchor, first seen", com: re, h: base + 1999, v: p(base + 1999), best: base + 2000},
		{name: "one below the anchor, forged", com: re, h: base + 1999, v: p(base + 1998), want: ErrBeatProof},
		{name: "below the anchor, at the step bound", com: re, h: base + 1950, v: p(base + 1950), best: base + 2000},
		{name: "below the anchor, beyond the step bound", com: re, h: base + 1949, v: p(base + 1949), want: ErrBeatTooFar},
		{name: "the base, walked to", com: re, h: base, v: com.Anchor, walk: 2000},
		{name: "below the base", com: re, h: base - 1, v: com.Anchor, want: ErrBeatOutOfRange},
	})
	// A verifier that is given the re-anchored commitment first and the
	// original after holds one chain, not two: a third chain does not
	// push the first out.
	c := NewBeatCache(8, 50)
	for _, k := range []BeatCommitment{re, com} {
		if err := c.Verify(&k, base+2005, p(base+2005)); err != nil {
			t.Fatal(err)
		}
	}
	other := newTestChain(t, testKey(t, 3), "p", 1, base+length, length).Commitment()
	if err := c.Verify(&other, base+length, other.Anchor); err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(&re, base+2020, p(base+2020)); err != nil {
		t.Fatalf("the first chain was pushed out by its re-anchoring: %v", err)
	}
}

// While a new chain's record spreads, heartbeats proven in the old chain
// still verify, and count for its best: the cache keeps a node's last two chains, a third drops
// the oldest.
func TestBeatCacheChainSwitch(t *testing.T) {
	key := testKey(t, 3)
	const base = 1 << 32
	old := newTestChain(t, key, "p", 1, base, 1000)
	next := newTestChain(t, key, "p", 1, base+900, 1000) // started at heartbeat 900 of the old one
	third := newTestChain(t, key, "p", 1, base+1800, 1000)
	o := func(h uint64) BeatValue { return proof(t, old, h) }
	n := func(h uint64) BeatValue { return proof(t, next, h) }
	oc, nc, tc := old.Commitment(), next.Commitment(), third.Commitment()
	runBeatSteps(t, NewBeatCache(8, 100), []beatStep{
		{name: "old chain", com: oc, h: base + 890, v: o(base + 890), walk: 1000, best: base + 890},
		{name: "the new record arrives", com: nc, h: base + 901, v: n(base + 901), best: base + 901},
		{name: "a relay still proves in the old chain", com: nc, h: base + 895, v: o(base + 895), best: base + 901},
		{name: "the old chain above the new base", com: nc, h: base + 905, v: o(base + 905), best: base + 905},
		{name: "the new chain", com: nc, h: base + 950, v: n(base + 950), best: base + 950},
		{name: "a third chain", com: tc, h: base + 1801, v: proof(t, third, base+1801), best: base + 1801},
		{name: "the oldest is dropped", com: tc, h: base + 896, v: o(base + 896), want: ErrBeatOutOfRange},
		{name: "the one before is kept", com: tc, h: base + 960, v: n(base + 960), best: base + 1801},
	})
	// Reaching tells a claim checked against both chains that may prove
	// it from one checked against the newer alone.
	c := NewBeatCache(8, 100)
	for _, s := range []struct {
		com  BeatCommitment
		h    uint64
		want int
	}{{nc, base + 905, 1}, {oc, base + 905, 2}, {oc, base + 850, 1}, {nc, base + 1901, 0}} {
		_ = c.Verify(&s.com, s.h, BeatValue{})
		if got := c.Reaching("p", s.h); got != s.want {
			t.Errorf("after a claim of %d: %d chains reach it, want %d", s.h, got, s.want)
		}
	}
	if got := c.Reaching("q", base+905); got != 0 {
		t.Errorf("%d chains of a node never given", got)
	}
}

// The cache holds at most its bound of ids, least recently used out, and
// a member flooding records of its own id takes no other id's place.
func TestBeatCacheBounds(t *testing.T) {
	key := testKey(t, 3)
	const base = 1 << 32
	chains := make(map[string]*BeatChain)
	for _, id := range []string{"a", "b", "c"} {
		chains[id] = newTestChain(t, key, id, 1, base, 300)
	}
	step := func(id string, h uint64, count int) beatStep {
		return beatStep{name: fmt.Sprintf("%s at %d", id, h), com: chains[id].Commitment(), h: h, v: proof(t, chains[id], h), count: count}
	}
	c := NewBeatCache(2, 0)
	runBeatSteps(t, c, []beatStep{step("a", base+5, 1), step("b", base+5, 2), step("a", base+6, 2), step("c", base+5, 2)})
	if _, _, _, ok := c.Best("b"); ok {
		t.Error("b, least recently used, still held")
	}
	if _, h, _, ok := c.Best("a"); !ok || h != base+6 {
		t.Errorf("a: best %d (%v), want %d", h, ok, base+6)
	}
	for i := range uint64(50) {
		m := newTestChain(t, key, "m", 1, base+i*10, 10)
		com := m.Commitment()
		if err := c.Verify(&com, base+i*10+1, proof(t, m, base+i*10+1)); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() != 2 {
		t.Errorf("%d ids held, want 2", c.Len())
	}
	if el, ok := c.ids["m"]; !ok || len(el.Value.(*beatPeer).chains) != beatChainsPerID {
		t.Errorf("m: %v held", ok)
	}
	c.Forget("m")
	if _, _, _, ok := c.Best("m"); ok || c.Len() != 1 {
		t.Errorf("m held after Forget (%d ids)", c.Len())
	}
}

func TestBeatCacheConcurrent(t *testing.T) {
	const base, length = 1 << 32, 2000
	chain := newTestChain(t, testKey(t, 3), "p", 1, base, length)
	com := chain.Commitment()
	values := make([]BeatValue, length+1)
	for h := range uint64(length + 1) {
		values[h] = proof(t, chain, base+h)
	}
	c := NewBeatCache(0, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range uint64(4) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := w; h <= length; h += 3 {
				// Workers run ahead of each other: the walk is allowed
				// whatever the others verified last.
				if err := c.VerifyWalk(&com, base+h, values[h], length); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, h, v, ok := c.Best("p"); !ok || h != base+length || v != values[length] {
		t.Errorf("best %d (%v), want %d", h, ok, base+length)
	}
}
