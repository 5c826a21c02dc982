package identity

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/leviathan-gossip/leviathan/internal/canon"
)

// Heartbeat chains. A signature per heartbeat would cost 64 bytes on the
// wire and a signature check at every receiver, for a message sent every
// beat to every monitor and relayed in every digest. Instead a node
// commits, in its signed node record, to the end of a one-way hash chain
// and proves each heartbeat by revealing the chain's values backwards: 16
// bytes, checked by hashing forward to a value already known.

// Heartbeat chain errors.
var (
	// ErrMalformedBeatChain: bytes that are not a heartbeat chain
	// commitment of a known version, or a commitment with a field out of
	// its limits.
	ErrMalformedBeatChain = errors.New("identity: malformed heartbeat chain")
	// ErrBeatOutOfRange: a heartbeat no chain given covers.
	ErrBeatOutOfRange = errors.New("identity: heartbeat outside its chain")
	// ErrBeatTooFar: a heartbeat further from every verified point of its
	// chain than the steps allowed, left unchecked.
	ErrBeatTooFar = errors.New("identity: heartbeat too far from a verified one")
	// ErrBeatProof: a value that is not the chain's for the heartbeat it
	// claims: forged.
	ErrBeatProof = errors.New("identity: bad heartbeat proof")
)

const (
	// BeatValueSize is the size of a chain value: what a heartbeat's
	// proof costs on the wire.
	BeatValueSize = 16
	// BeatCommitmentVersion is the format version BeatCommitment.Marshal
	// writes and the only one ParseBeatCommitment accepts.
	BeatCommitmentVersion = 1
	// MaxBeatChainLength is the longest chain: its values are indexed by
	// a uint32 in the hash, and its owner computes all of them to commit
	// to it.
	MaxBeatChainLength = 1 << 24
	// DefaultBeatChainLength is the chain length a node should use:
	// about 29 hours of heartbeats at one per 100 ms, 12 days at one per
	// second.
	DefaultBeatChainLength = 1 << 20
	// MaxBeatCommitmentSize is the largest encoded commitment.
	MaxBeatCommitmentSize = 1 + 1 + 9 + 5 + 5 + (2 + BeatValueSize)
)

// beatChainDomain and beatSeedDomain separate the chain's hashes, and the
// seed derived from a node key, from every other use of SHA-256 and of
// the key.
const (
	beatChainDomain = "leviathan heartbeat chain v1"
	beatSeedDomain  = "leviathan heartbeat chain seed v1"
)

// BeatValue is one value of a heartbeat chain: the proof of one
// heartbeat.
type BeatValue [BeatValueSize]byte

// BeatCommitment is what a node's signed record says of its heartbeat
// chain: heartbeat Base+d, for d in 1..Length, is proven by the chain's
// value at index Length-d, and AnchorBeat's value is Anchor. A verifier
// hashes a claimed value forward to Anchor or to a value it verified
// before. ID and Generation are the record's; the encoding holds the
// rest.
type BeatCommitment struct {
	ID         string
	Generation uint64
	// Base is the heartbeat below the chain's first: the chain proves
	// Base+1 to Base+Length.
	Base   uint64
	Length uint64
	// AnchorBeat is the heartbeat Anchor proves: Base for a new chain,
	// later once the owner re-anchors it so that a verifier who has seen
	// none of its values has fewer steps to hash.
	AnchorBeat uint64
	Anchor     BeatValue
}

// Last is the highest heartbeat c's chain proves.
func (c *BeatCommitment) Last() uint64 { return c.Base + c.Length }

// Covers reports whether c's chain proves heartbeat h: from its anchor
// to its last.
func (c *BeatCommitment) Covers(h uint64) bool { return h >= c.AnchorBeat && h <= c.Last() }

// check reports a field out of its limits: what no chain holds, and what
// would let the arithmetic on heartbeats wrap.
func (c *BeatCommitment) check() error {
	switch {
	case c.ID == "" || len(c.ID) > MaxIDBytes:
		return fmt.Errorf("id of %d bytes: want 1 to %d", len(c.ID), MaxIDBytes)
	case c.Length == 0 || c.Length > MaxBeatChainLength:
		return fmt.Errorf("length %d: want 1 to %d", c.Length, MaxBeatChainLength)
	case c.Base > math.MaxUint64-c.Length:
		return fmt.Errorf("base %d: the chain would run past the largest heartbeat", c.Base)
	case c.AnchorBeat < c.Base || c.AnchorBeat > c.Last():
		return fmt.Errorf("anchor at heartbeat %d: outside %d to %d", c.AnchorBeat, c.Base, c.Last())
	}
	return nil
}

// Marshal encodes c for its node record's BeatChain field: a msgpack
// array of [version, base, length, anchor beat - base, anchor (bin 16)],
// each in its shortest form, so that a commitment has one encoding. The
// id and generation are the record's and are not repeated.
func (c *BeatCommitment) Marshal() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("identity: marshal heartbeat chain: %w", err)
	}
	b := make([]byte, 0, MaxBeatCommitmentSize)
	b = append(b, 0x95, BeatCommitmentVersion) // fixarray of 5, positive fixint
	b = canon.AppendUint(b, c.Base)
	b = canon.AppendUint(b, c.Length)
	b = canon.AppendUint(b, c.AnchorBeat-c.Base)
	return canon.AppendBin(b, c.Anchor[:]), nil
}

// ParseBeatCommitment decodes what Marshal encodes, for the node record
// of id and generation, and nothing else: any other length, type, version
// or encoding of a field, trailing bytes, or a field out of its limits is
// ErrMalformedBeatChain. It treats b as hostile: it never panics and reads
// at most MaxBeatCommitmentSize bytes. Nothing in it is believed before
// the record that holds it verifies.
func ParseBeatCommitment(id string, generation uint64, b []byte) (BeatCommitment, error) {
	if len(b) > MaxBeatCommitmentSize {
		return BeatCommitment{}, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformedBeatChain, len(b), MaxBeatCommitmentSize)
	}
	rd := reader{b: b}
	if h := rd.byte(); h != 0x95 {
		return BeatCommitment{}, fmt.Errorf("%w: not an array of 5 (0x%02x)", ErrMalformedBeatChain, h)
	}
	if v := rd.byte(); v != BeatCommitmentVersion {
		return BeatCommitment{}, fmt.Errorf("%w: version %d, want %d", ErrMalformedBeatChain, v, BeatCommitmentVersion)
	}
	c := BeatCommitment{ID: id, Generation: generation, Base: rd.uint("base"), Length: rd.uint("length")}
	offset := rd.uint("anchor beat")
	copy(c.Anchor[:], rd.bin("anchor", BeatValueSize))
	switch {
	case rd.err != nil:
		return BeatCommitment{}, fmt.Errorf("%w: %w", ErrMalformedBeatChain, rd.err)
	case len(rd.b) > 0:
		return BeatCommitment{}, fmt.Errorf("%w: %d bytes after the commitment", ErrMalformedBeatChain, len(rd.b))
	case offset > c.Length:
		return BeatCommitment{}, fmt.Errorf("%w: anchor %d beats into a chain of %d", ErrMalformedBeatChain, offset, c.Length)
	}
	c.AnchorBeat = c.Base
	if err := c.check(); err != nil {
		return BeatCommitment{}, fmt.Errorf("%w: %w", ErrMalformedBeatChain, err)
	}
	c.AnchorBeat += offset // within Base+Length, which check found in range
	if again, err := c.Marshal(); err != nil || !bytes.Equal(again, b) {
		return BeatCommitment{}, fmt.Errorf("%w: not in its shortest encoding", ErrMalformedBeatChain)
	}
	return c, nil
}

// beatTag names one chain in every hash of it: the node, its generation,
// the chain's base and length. A value of one chain is therefore no value
// of any other, and each step hashes its own index too, so that an
// attacker inverting "some" value faces one target per step, not every
// value ever revealed.
type beatTag [sha256.Size]byte

func (c *BeatCommitment) tag() beatTag {
	h := sha256.New()
	h.Write([]byte(beatChainDomain))
	var buf [binary.MaxVarintLen64 + 3*8]byte
	n := binary.PutUvarint(buf[:], uint64(len(c.ID)))
	h.Write(buf[:n])
	h.Write([]byte(c.ID))
	binary.BigEndian.PutUint64(buf[0:], c.Generation)
	binary.BigEndian.PutUint64(buf[8:], c.Base)
	binary.BigEndian.PutUint64(buf[16:], c.Length)
	h.Write(buf[:24])
	return beatTag(h.Sum(nil))
}

// step returns the chain's value at index i from the one at i-1: the
// first 16 bytes of SHA-256(tag, i, v), 52 bytes, one SHA-256 block.
func (t *beatTag) step(i uint32, v BeatValue) BeatValue {
	var buf [sha256.Size + 4 + BeatValueSize]byte
	copy(buf[:], t[:])
	binary.BigEndian.PutUint32(buf[sha256.Size:], i)
	copy(buf[sha256.Size+4:], v[:])
	sum := sha256.Sum256(buf[:])
	return BeatValue(sum[:BeatValueSize])
}

// walk returns the value at index i+n from v, the value at index i. The
// caller keeps i+n within the chain, so that an index fits its uint32.
func (t *beatTag) walk(i uint64, v BeatValue, n uint64) BeatValue {
	for j := i + 1; j <= i+n; j++ {
		v = t.step(uint32(j), v)
	}
	return v
}

// index is the chain index of heartbeat h's value, for h that c covers:
// the values run backwards, so the highest heartbeat has index 0.
func (c *BeatCommitment) index(h uint64) uint64 { return c.Last() - h }
