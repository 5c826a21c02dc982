package proof

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// Hash is a SHA-256 digest: of a record (a leaf) or of a subtree.
type Hash [sha256.Size]byte

// String renders h in hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Record is one record of an origin as the origin wrote it. Its fields are
// those of package sync's Record, in the same order, so that either
// converts to the other.
type Record struct {
	Key       string
	Value     []byte
	Version   uint64
	Tombstone bool
}

// Prefix bytes keep the two kinds of hash apart, so that an inner node can
// never be passed off as a leaf or a leaf as an inner node.
const (
	leafPrefix  = 0x00
	innerPrefix = 0x01
)

// leafTag follows the leaf prefix: it names what a leaf holds and its
// layout, so that no other SHA-256 the project computes can equal a leaf.
const leafTag = "leviathan record v1"

// flagTombstone marks a deletion in a leaf.
const flagTombstone = 1

// leafStack is the longest leaf encoding hashed from a buffer on the
// stack; a longer one (a large value) is streamed into the hash.
const leafStack = 512

// LeafHash is the hash that stands for r, written by origin, in its
// batch's tree. It binds the origin, version, key, tombstone flag and
// value, each length-prefixed or of fixed width, so that no two distinct
// records share an encoding. It does not bind the generation: the signed
// header does, so the tree of a batch stays the same when only its
// generation is re-signed.
func LeafHash(origin string, r *Record) Hash {
	n := 1 + len(leafTag) + 3*binary.MaxVarintLen64 + len(origin) + 8 + 1 + len(r.Key) + len(r.Value)
	if n <= leafStack {
		var buf [leafStack]byte
		return sha256.Sum256(appendLeaf(buf[:0], origin, r, true))
	}
	h := sha256.New()
	var buf [leafStack]byte
	h.Write(appendLeaf(buf[:0], origin, r, false))
	h.Write(r.Value)
	var out Hash
	h.Sum(out[:0])
	return out
}

// appendLeaf appends r's leaf encoding, its value included or not (the
// caller then hashes the value right after).
func appendLeaf(b []byte, origin string, r *Record, value bool) []byte {
	b = append(b, leafPrefix)
	b = append(b, leafTag...)
	b = binary.AppendUvarint(b, uint64(len(origin)))
	b = append(b, origin...)
	b = binary.BigEndian.AppendUint64(b, r.Version)
	var flags byte
	if r.Tombstone {
		flags |= flagTombstone
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(r.Key)))
	b = append(b, r.Key...)
	b = binary.AppendUvarint(b, uint64(len(r.Value)))
	if value {
		b = append(b, r.Value...)
	}
	return b
}

// Leaves returns the leaf hash of each record of recs, written by origin.
func Leaves(origin string, recs []Record) []Hash {
	out := make([]Hash, len(recs))
	for i := range recs {
		out[i] = LeafHash(origin, &recs[i])
	}
	return out
}

// inner is the hash of a subtree from its two halves' hashes.
func inner(l, r *Hash) Hash {
	var buf [1 + 2*sha256.Size]byte
	buf[0] = innerPrefix
	copy(buf[1:], l[:])
	copy(buf[1+sha256.Size:], r[:])
	return sha256.Sum256(buf[:])
}
