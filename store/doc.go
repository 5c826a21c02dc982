// Package store persists a Leviathan node's view of the cluster in Badger:
// its own identity, one meta per known peer (the local node included) and
// every record of every peer. Every batch the sync state machine produces is
// made durable here before the state reflects it, so nothing is served or
// announced that a crash could take back.
//
// # Key layout
//
//	m/self                        id, generation, boot counter
//	p/<peer id>                   alias, addr, generation, max version, gc version
//	r/<u16 BE len(id)><id><key>   generation, version, flags, value
//	w/<u16 BE len(id)><id><u64 BE last><u64 BE first>
//	                              a run of the version index (see index.go)
//	x/<peer id>                   a removed peer's generation and heartbeat
//	g/<peer id>                   a relabel marker: generations whose records
//	                              count as the meta's (see Relabel below)
//	c/<peer id>                   the generation, max version and gc version of
//	                              the meta they go with, live keys, tombstones
//	s/<u16 BE len(id)><id><u64 BE last><u64 BE first>
//	                              what is held of one signed batch of the
//	                              peer's records: its proof, their versions
//	                              and leaf hashes (see proofs.go)
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
// across its internal commits either), so it is written as a series of
// transactions, each atomic on its own and each carrying, for every peer
// whose records it holds, a meta with the watermark at that peer's last
// record so far. A peer's records arrive in ascending version order and
// cover everything of the peer up to each of them, so every intermediate
// watermark is true: a crash between two transactions leaves a shorter,
// consistent prefix. An overwrite and the watermark past it always commit
// together, so no watermark ever claims an old value that was overwritten.
//
// Resets (a new generation, or a refill after collected tombstones) first
// commit the peer's meta with watermark 0, which makes every stored record
// of the peer unservable, then delete them, then write the new records as
// above. Removing a peer deletes its meta first, then its records.
// Collected tombstones (PeerChange.Drop) are deleted after their meta is
// committed; Load never serves a tombstone at or below the meta's
// GCVersion, so a crash in between changes nothing.
//
// # Relabel
//
// A node that refutes a claim to its generation (sync.PeerChange.Relabel)
// takes a new generation without losing any data, yet each record carries
// its generation. Rewriting every record before or after the meta would
// open a crash window: the new generation on disk without the records, which
// peers would take for a wipe and drop their copies of. So the meta at the
// new generation (watermark and horizon kept) and a marker "records of
// generation old count as generation new" commit in one transaction; every
// reader that compares a stored record's generation with its meta's
// (Load, Scan, Get, Changes, the counts, the index sweep) honours the marker.
// A background roll-forward then rewrites the records' generation field in
// chunks of at most 10,000 records, one transaction each, and deletes the
// marker in the transaction that rewrites the last ones; it holds one
// chunk in memory, whatever the size of the data. A crash at any point
// leaves either the old meta with its records, or the new meta with its
// marker and records of both generations, all servable; Open resumes the
// roll-forward, serving meanwhile. A relabel that comes before the previous
// one was rolled forward adds its generation to the marker. A reset or
// removal of the node deletes the marker with the meta.
//
// Load then enforces the watermark: records above their meta's MaxVersion,
// of another generation than their meta's (a relabelled one counts as the
// meta's), or of a peer without a meta are what a cut-short batch or an
// unfinished cleanup leaves behind; they are not served and are deleted.
//
// # Counts
//
// A node's counts (sync.Storage's Counts: live keys, tombstones) are
// exact, and kept in memory and beside its meta. A batch looks up the
// key of each record it writes as it stands before the batch, so an
// overwrite counts nothing and a value replacing a tombstone moves a key
// between the counts; the counts are written with the meta that ends the
// batch, in its transaction. Open reads one counts entry per node: a
// node whose entry was not written with its current meta (a batch cut
// short by a crash, a store of an older build) is counted from its
// records, once.
package store
