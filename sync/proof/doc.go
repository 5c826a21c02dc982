// Package proof proves that records are their origin's: that the node
// named as a record's writer wrote it, exactly so, whoever relays it. It
// is pure: no I/O, no clock, no goroutines.
//
// # Leaves
//
// LeafHash is a record's SHA-256 under the prefix 0x00 and a tag, over
// its origin id, version, tombstone flag, key and value, every length
// prefixed. It does not hold the generation: the signed header does.
//
// # Signed batches
//
// An origin signs each batch of its records once (Seal, Sign): a Header
// of its id, generation, first and last version, record count and the
// root of the tree over the leaves in version order, signed with its
// identity key in domain identity.DomainRecords. The tree is RFC 6962's
// (inner nodes hash 0x01 and their two children), whose shape follows
// from the count alone.
//
// A Proof is a signed header, the records it covers (Held: spans of
// indices in the batch) and the hash of every maximal subtree holding
// none of them, in tree order. With the held records it rebuilds the
// root, and Verify checks that the origin signed the header with that
// root, once per header with a Verified cache.
//
// The proof of the records a holder keeps of a batch is what it stores,
// and what it cuts the proof of any slice from (Subset, or a Tree built
// once for many slices); Merge joins two proofs of one batch. So
// compaction, tombstone collection, slicing at any byte budget and
// catch-up from a node other than the origin all keep every record
// provable by the origin's key alone.
//
// SignRecord and VerifyRecord are the per-record alternative: the header
// of a batch of one record, whose root is its leaf, signed.
//
// # Wire form
//
// AppendWire and Parse encode a proof as a msgpack array of the first
// version, the last one's distance from it, the count, the signature,
// the held spans as (gap, length) pairs and the hashes, each in its
// shortest form. The origin and generation are left to the
// carrying message, which names them once, and the root to the receiver,
// which rebuilds it from the records (Verify): a root that is not the
// signed one fails the signature. Parse treats its input as hostile,
// bounds what it allocates by the input's size and never panics;
// FuzzParse fuzzes it.
package proof
