// Package store persists a Leviathan node's view of the cluster in Badger:
// its own identity, one meta per known peer (the local node included) and
// every record of every peer. Every batch the sync state machine produces is
// made durable here before the state reflects it, so nothing is served or
// announced that a crash could take back.
//
// # Key layout
//
//	m/self                        id, generation, boot counter
//	p/<peer id>                   alias, addr, generation, max version
//	r/<u16 BE len(id)><id><key>   generation, version, flags, value
//
// Strings and integers are encoded with encoding/binary (uvarints,
// length-prefixed strings); flags bit 0 marks a tombstone. The length in
// record keys keeps the record ranges of two peers apart (records of "a" are
// never a prefix scan of "ab"), and each peer's records form one contiguous
// range that a prefix scan reads. The generation is stored in the record
// value, not its key, so a record of a new generation replaces the old one
// of the same key in place.
//
// # Ordering rule
//
// A peer meta's MaxVersion is a watermark: it claims that every record of
// the peer up to that version is held. It must never run ahead of the data
// after a crash, or the node would serve, and peers would trust, a prefix
// with holes that nobody ever resends.
//
// A batch that fits one Badger transaction is committed as one, which is
// atomic. A larger batch cannot be (Badger's WriteBatch is not atomic
// across its internal commits either), so it is written in three steps,
// each committed before the next starts:
//
//  1. for peers whose stored records the batch overwrites, a meta with the
//     watermark lowered below the oldest overwritten version (a reset
//     lowers it to 0 under the new generation): overwriting destroys the
//     old version of a key, so the old watermark would otherwise claim it;
//  2. the records, in as many transactions as needed;
//  3. the new metas.
//
// Load then enforces the watermark: records above their meta's MaxVersion,
// of another generation than their meta's, or of a peer without a meta are
// what a cut-short batch or an unfinished cleanup leaves behind; they are
// not served and are deleted. A reset (new generation) therefore needs no
// atomic delete: the new meta hides the old records at once, and Apply
// deletes them afterwards only to reclaim space.
package store
