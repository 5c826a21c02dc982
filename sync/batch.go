package sync

import "github.com/leviathan-gossip/leviathan/sync/proof"

// PeerMeta is the durable summary of one node (the local one included):
// who it is, where it gossips, which generation of its data we hold and up
// to which version that data is complete.
type PeerMeta struct {
	ID         string
	Alias      string
	Addr       string
	Generation uint64
	MaxVersion uint64
	GCVersion  uint64 // tombstones up to this version are collected
}

// PeerChange is everything a Batch changes about one node.
type PeerChange struct {
	Meta PeerMeta
	// Reset drops every record held for the node before Records are
	// applied: its data was wiped and it came back with a new generation.
	Reset bool
	// Relabel, when set, is the generation the node's stored records are
	// of (below Meta.Generation): they stay, and count from now on as
	// records of Meta.Generation, at the same versions. The local node
	// takes a new generation this way when it refutes a peer's claim
	// (State's refutation): its data was not wiped, so nothing is dropped
	// or read, and a store must make the new generation and the records'
	// new label durable in one step — never the generation without the
	// records. Records, if any, are written at Meta.Generation.
	Relabel uint64
	// Records are new records of the node, ascending by version, all above
	// the previous watermark and at or below Meta.MaxVersion.
	Records []Record
	// Drop lists keys whose records are removed once Records are written:
	// tombstones at or below Meta.GCVersion, collected. A store may delete
	// them after the meta is durable, as long as it never serves a
	// tombstone at or below GCVersion.
	Drop []string
	// Remove forgets the node altogether: its meta and every record. The
	// store keeps a marker with Meta.Generation and Heartbeat, handed back
	// at boot to State.RestoreRemoved, so that a stale digest entry does
	// not revive the node after a restart.
	Remove bool
	// Heartbeat is, with Remove, the node's heartbeat when it was removed.
	Heartbeat uint64
	// Proofs, when set, prove Records to their origin, Meta.ID: each is
	// the proof of the records of Records in its version range, all of
	// them and in order, with its root (verified, or sealed by the
	// origin), at Meta.Generation. Proofs ascend by version and their
	// ranges do not overlap. A record in no proof's range is unsigned;
	// nil means the whole change is.
	Proofs []*proof.Proof
}

// Batch is what handling one message (or one group of local writes) changes.
// The caller must make it durable, then pass it to State.Commit; until then
// the state does not reflect it, so nothing is served or announced before it
// is on disk.
type Batch struct {
	Changes []PeerChange
}

// Empty reports whether the batch changes nothing.
func (b *Batch) Empty() bool { return b == nil || len(b.Changes) == 0 }

// Len is the number of records in the batch.
func (b *Batch) Len() int {
	if b == nil {
		return 0
	}
	n := 0
	for i := range b.Changes {
		n += len(b.Changes[i].Records)
	}
	return n
}
