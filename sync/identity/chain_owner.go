package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"sync"
)

// beatCheckpointGap is how far apart the owner keeps chain values: a
// proof costs at most this many hashes less one, and the chain's memory
// is one value per gap.
const beatCheckpointGap = 256

// BeatChain is the owner's side of a heartbeat chain: it commits to the
// chain (Commitment, for the node record) and proves each heartbeat the
// chain covers (Proof). It keeps every beatCheckpointGap-th value and
// the values of the gap last proven in, so a proof costs at most 255
// hashes and, for heartbeats proven in rising order, one hash each on
// average. It is safe for concurrent use.
//
// Memory is 16 bytes per 256 beats plus 4 KiB: 8 KiB for a chain of 2^16,
// 68 KiB for 2^20. Setting a chain up hashes its whole length once.
type BeatChain struct {
	com         BeatCommitment // anchored at Base
	tag         beatTag
	checkpoints []BeatValue // checkpoints[k]: the value at index k*beatCheckpointGap

	mu   sync.Mutex
	gap  uint64                       // which gap vals holds
	vals [beatCheckpointGap]BeatValue // vals[r]: the value at index gap*beatCheckpointGap+r
}

// NewBeatChain sets up the chain that proves heartbeats base+1 to
// base+length of node id in generation, for the node's key k. The chain's
// secret start is derived from k and those four values: the same key and
// values always give the same chain, so nothing but the key file is
// secret and nothing needs storing, and a chain of another node,
// generation, base or length shares no value with it. It hashes length
// times (DefaultBeatChainLength, about 0.3 s of one core, when length is
// 0).
func NewBeatChain(k *Key, id string, generation, base, length uint64) (*BeatChain, error) {
	if length == 0 {
		length = DefaultBeatChainLength
	}
	c := &BeatChain{com: BeatCommitment{ID: id, Generation: generation, Base: base, Length: length, AnchorBeat: base}}
	if err := c.com.check(); err != nil {
		return nil, fmt.Errorf("identity: new heartbeat chain: %w", err)
	}
	c.tag = c.com.tag()
	c.checkpoints = make([]BeatValue, length/beatCheckpointGap+1)

	// Walk the whole chain up from its start to its anchor, keeping the
	// checkpoints and the last gap's values: the first proofs, of the
	// heartbeats just above base, fall in that gap.
	last := length / beatCheckpointGap
	c.gap = last
	v := c.seed(k)
	for i := uint64(0); ; i++ {
		if i%beatCheckpointGap == 0 {
			c.checkpoints[i/beatCheckpointGap] = v
		}
		if i >= last*beatCheckpointGap {
			c.vals[i-last*beatCheckpointGap] = v
		}
		if i == length {
			break
		}
		v = c.tag.step(uint32(i+1), v)
	}
	c.com.Anchor = v
	return c, nil
}

// seed is the chain's value at index 0, the proof of its last heartbeat:
// an HMAC, keyed by the node's private key seed, of the chain's tag. No
// one without the key can compute it, and the key never leaves it.
func (c *BeatChain) seed(k *Key) BeatValue {
	mac := hmac.New(sha256.New, k.priv.Seed())
	mac.Write([]byte(beatSeedDomain))
	mac.Write(c.tag[:])
	return BeatValue(mac.Sum(nil)[:BeatValueSize])
}

// Commitment is the chain's commitment anchored at its base: what the
// node's record carries when the chain starts.
func (c *BeatChain) Commitment() BeatCommitment { return c.com }

// Last is the highest heartbeat the chain proves. Beyond it the node
// needs a new chain, based at its heartbeat then, in a new node record
// (seq+1); it should sign that record well before, so that peers hold it
// when the first heartbeat above Last reaches them.
func (c *BeatChain) Last() uint64 { return c.com.Last() }

// Proof returns the value that proves heartbeat h, for h from the chain's
// base to its last heartbeat (ErrBeatOutOfRange otherwise). Revealing it
// lets anyone prove h and every heartbeat below it, never one above.
func (c *BeatChain) Proof(h uint64) (BeatValue, error) {
	if !c.com.Covers(h) {
		return BeatValue{}, fmt.Errorf("%w: heartbeat %d, chain of %d to %d", ErrBeatOutOfRange, h, c.com.Base+1, c.com.Last())
	}
	i := c.com.index(h)
	gap, r := i/beatCheckpointGap, i%beatCheckpointGap
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gap != gap {
		c.fill(gap)
	}
	return c.vals[r], nil
}

// fill computes the values of one gap from its checkpoint.
func (c *BeatChain) fill(gap uint64) {
	first := gap * beatCheckpointGap
	c.vals[0] = c.checkpoints[gap]
	for r := uint64(1); r < beatCheckpointGap && first+r <= c.com.Length; r++ {
		c.vals[r] = c.tag.step(uint32(first+r), c.vals[r-1])
	}
	c.gap = gap
}

// Reanchor returns the chain's commitment anchored at heartbeat h, for a
// new node record: a verifier that has seen none of the chain's values
// then hashes from h, not from the base, which bounds what a node that
// joins late pays per peer. It reveals h's proof, so h must be a
// heartbeat the node has reached.
func (c *BeatChain) Reanchor(h uint64) (BeatCommitment, error) {
	v, err := c.Proof(h)
	if err != nil {
		return BeatCommitment{}, fmt.Errorf("identity: reanchor heartbeat chain: %w", err)
	}
	com := c.com
	com.AnchorBeat, com.Anchor = h, v
	return com, nil
}
