package identity

import (
	"cmp"
	"container/list"
	"fmt"
	"slices"
	"sync"
)

const (
	// DefaultBeatCacheSize is NewBeatCache's bound on node ids when given
	// none.
	DefaultBeatCacheSize = 4096
	// DefaultBeatMaxSteps is how many hashes Verify spends on a claim per
	// chain, when NewBeatCache is given no bound: about what one
	// signature check costs, and far more beats than a node misses
	// between two gossip rounds.
	DefaultBeatMaxSteps = 256
	// beatChainsPerID is how many chains the cache keeps per node: the
	// current one and the one before, so that heartbeats proven under
	// the old chain while the new record spreads still verify.
	beatChainsPerID = 2
)

// BeatCache verifies heartbeat proofs and remembers, per chain, the
// highest heartbeat it verified and its value, so that each proof costs
// the hashes from that heartbeat up, usually a few. It keeps the last
// beatChainsPerID chains it was given for each node id, and at most its
// bound of ids, dropping the least recently used: a member can fill only
// its own id's slots with records of its own, not push out another's
// chain. It is safe for concurrent use; hashing is done outside its lock.
//
// The commitments given to it must come from node records that verified:
// a chain is only as good as the signature over its commitment.
type BeatCache struct {
	limit    int
	maxSteps uint64

	mu  sync.Mutex
	ids map[string]*list.Element // of *beatPeer
	lru list.List                // front: the most recently used
}

// beatPeer is what the cache holds of one node: its chains, most recently
// given first.
type beatPeer struct {
	id     string
	chains []*beatPoint
}

// beatPoint is the highest heartbeat verified of one chain, and its value.
type beatPoint struct {
	com   BeatCommitment
	tag   beatTag
	beat  uint64
	value BeatValue
}

// NewBeatCache remembers the chains of at most limit node ids
// (DefaultBeatCacheSize when limit < 1) and spends at most maxSteps
// hashes per chain on a claim in Verify (DefaultBeatMaxSteps when 0).
func NewBeatCache(limit int, maxSteps uint64) *BeatCache {
	if limit < 1 {
		limit = DefaultBeatCacheSize
	}
	if maxSteps == 0 {
		maxSteps = DefaultBeatMaxSteps
	}
	return &BeatCache{limit: limit, maxSteps: maxSteps, ids: make(map[string]*list.Element)}
}

// Verify checks that v proves heartbeat h of com's node: that hashing it
// forward reaches com's anchor, a value verified before, or (for h below
// the highest verified or the anchor) that hashing that value or the
// anchor forward reaches v. It hashes from the nearest such point, in
// com's chain or in the chain of the same node given before, and refuses
// a claim more than the cache's step bound beyond the nearest
// (ErrBeatTooFar) unhashed: a forged claim costs at most that many hashes
// per chain. Other errors: ErrMalformedBeatChain for a commitment out of
// its limits, ErrBeatOutOfRange, ErrBeatProof.
//
// A heartbeat from the chain's base up to its anchor is checked too,
// although anyone can compute its value from the anchor: the signed
// record that names the anchor says its node reached the anchor's
// heartbeat, so a lower one is true, and an honest relay that holds an
// older record of the chain quotes such heartbeats with their proofs.
func (c *BeatCache) Verify(com *BeatCommitment, h uint64, v BeatValue) error {
	return c.verify(com, h, v, c.maxSteps)
}

// VerifyWalk is Verify with its own step bound, for a walk the caller
// chooses to pay for: a node that has just learnt a peer's record hears
// heartbeats as far from its anchor as the owner's re-anchoring allows.
// The caller bounds how often it allows one (once per peer and record,
// say); a chain's length bounds each.
func (c *BeatCache) VerifyWalk(com *BeatCommitment, h uint64, v BeatValue, maxSteps uint64) error {
	return c.verify(com, h, v, maxSteps)
}

// beatCheck is one way to check a claim: from a known point of a chain,
// in a number of hashes.
type beatCheck struct {
	point beatPoint // a copy, hashed outside the lock
	steps uint64
}

func (c *BeatCache) verify(com *BeatCommitment, h uint64, v BeatValue, maxSteps uint64) error {
	if err := com.check(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedBeatChain, err)
	}
	all, n := c.checks(com, h)
	checks := all[:n]
	if n == 0 {
		return fmt.Errorf("%w: heartbeat %d of %q, chain from %d to %d", ErrBeatOutOfRange, h, com.ID, com.Base, com.Last())
	}
	tooFar := false
	for i := range checks {
		if checks[i].steps > maxSteps {
			tooFar = true
			continue
		}
		if p := &checks[i].point; p.proves(h, v) {
			c.raise(p.com, h, v)
			return nil
		}
	}
	if tooFar {
		return fmt.Errorf("%w: heartbeat %d of %q, more than %d steps from a verified one", ErrBeatTooFar, h, com.ID, maxSteps)
	}
	return fmt.Errorf("%w: heartbeat %d of %q", ErrBeatProof, h, com.ID)
}

// checks holds com as the newest chain of its node and returns, nearest
// first, a check of h in each of the node's n chains that cover it.
func (c *BeatCache) checks(com *BeatCommitment, h uint64) (checks [beatChainsPerID]beatCheck, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, pt := range c.peer(com).chains {
		if pt.com.reaches(h) {
			checks[n] = beatCheck{point: *pt, steps: pt.steps(h)}
			n++
		}
	}
	slices.SortFunc(checks[:n], func(a, b beatCheck) int { return cmp.Compare(a.steps, b.steps) })
	return checks, n
}

// peer returns com's node, used now, with com's chain first among its
// chains (new: at its anchor). A commitment re-anchored from a chain held
// is that chain, not another: its anchor is a point verified, so that
// re-anchoring never pushes a node's previous chain out. Under c.mu.
func (c *BeatCache) peer(com *BeatCommitment) *beatPeer {
	var p *beatPeer
	if el, ok := c.ids[com.ID]; ok {
		c.lru.MoveToFront(el)
		p = el.Value.(*beatPeer)
	} else {
		p = &beatPeer{id: com.ID}
		c.ids[com.ID] = c.lru.PushFront(p)
		for c.lru.Len() > c.limit {
			back := c.lru.Back()
			delete(c.ids, back.Value.(*beatPeer).id)
			c.lru.Remove(back)
		}
	}
	i := slices.IndexFunc(p.chains, func(pt *beatPoint) bool { return pt.com.sameChain(com) })
	if i >= 0 {
		// Both anchors are the owner's word: keep the lower, whose range
		// is wider, and take the higher as a point verified.
		pt, hi := p.chains[i], *com
		if com.AnchorBeat < pt.com.AnchorBeat {
			hi, pt.com = pt.com, *com
		}
		if hi.AnchorBeat > pt.beat {
			pt.beat, pt.value = hi.AnchorBeat, hi.Anchor
		}
	}
	switch {
	case i == 0:
	case i > 0:
		pt := p.chains[i]
		copy(p.chains[1:i+1], p.chains[:i])
		p.chains[0] = pt
	default:
		pt := &beatPoint{com: *com, tag: com.tag(), beat: com.AnchorBeat, value: com.Anchor}
		p.chains = slices.Insert(p.chains, 0, pt)
		if len(p.chains) > beatChainsPerID {
			p.chains = p.chains[:beatChainsPerID]
		}
	}
	return p
}

// reaches reports whether a claim of heartbeat h can be checked against
// c's chain: from its base, whose value hashing the anchor forward gives,
// to its last.
func (c *BeatCommitment) reaches(h uint64) bool { return h >= c.Base && h <= c.Last() }

// steps is how many hashes checking heartbeat h from p costs: from the
// claim up to the highest verified heartbeat; for a claim below it, the
// fewer of the claim up to the anchor and the verified value up to the
// claim; for one below the anchor, the anchor up to the claim.
func (p *beatPoint) steps(h uint64) uint64 {
	switch {
	case h >= p.beat:
		return h - p.beat
	case h >= p.com.AnchorBeat:
		return min(h-p.com.AnchorBeat, p.beat-h)
	default:
		return p.com.AnchorBeat - h
	}
}

// proves reports whether v is the value of heartbeat h in p's chain, by
// the walk steps chose.
func (p *beatPoint) proves(h uint64, v BeatValue) bool {
	com := &p.com
	switch {
	case h >= p.beat:
		return p.tag.walk(com.index(h), v, h-p.beat) == p.value
	case h < com.AnchorBeat:
		return p.tag.walk(com.index(com.AnchorBeat), com.Anchor, com.AnchorBeat-h) == v
	case h-com.AnchorBeat <= p.beat-h:
		return p.tag.walk(com.index(h), v, h-com.AnchorBeat) == com.Anchor
	default:
		return p.tag.walk(com.index(p.beat), p.value, p.beat-h) == v
	}
}

// raise records h as verified in com's chain, if the chain is still held
// and h is above its highest.
func (c *BeatCache) raise(com BeatCommitment, h uint64, v BeatValue) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.ids[com.ID]
	if !ok {
		return
	}
	for _, pt := range el.Value.(*beatPeer).chains {
		if pt.com.sameChain(&com) && h > pt.beat && h <= pt.com.Last() {
			pt.beat, pt.value = h, v
		}
	}
}

// sameChain reports whether c and o commit to one chain, anchored at the
// same heartbeat or not: the same node, generation, base and length.
func (c *BeatCommitment) sameChain(o *BeatCommitment) bool {
	return c.ID == o.ID && c.Generation == o.Generation && c.Base == o.Base && c.Length == o.Length
}

// Best returns the highest heartbeat of node id verified in any chain
// held, its value and its chain's commitment: what a vote against the
// node quotes as its last proven heartbeat. ok is false for a node none
// of whose chains are held.
func (c *BeatCache) Best(id string) (com BeatCommitment, h uint64, v BeatValue, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, found := c.ids[id]
	if !found {
		return BeatCommitment{}, 0, BeatValue{}, false
	}
	for _, pt := range el.Value.(*beatPeer).chains {
		if !ok || pt.beat > h {
			com, h, v, ok = pt.com, pt.beat, pt.value, true
		}
	}
	return com, h, v, ok
}

// Reaching is how many of the chains held of node id reach heartbeat h:
// whether a claim that failed was checked against every chain that may
// prove it, or the chain before the one given may prove it unseen.
func (c *BeatCache) Reaching(id string, h uint64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.ids[id]
	if !ok {
		return 0
	}
	n := 0
	for _, pt := range el.Value.(*beatPeer).chains {
		if pt.com.reaches(h) {
			n++
		}
	}
	return n
}

// Forget drops what the cache holds of node id: for a node gone, or whose
// key is no longer trusted.
func (c *BeatCache) Forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.ids[id]; ok {
		delete(c.ids, id)
		c.lru.Remove(el)
	}
}

// Len is the number of node ids whose chains are held.
func (c *BeatCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
