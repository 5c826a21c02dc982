package sync

import (
	"errors"
	"sync/atomic"
)

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
}

// Batch is what handling one message (or one group of local writes) changes.
// The caller must make it durable, then pass it to State.Commit; until then
// the state does not reflect it, so nothing is served or announced before it
// is on disk.
type Batch struct {
	Changes []PeerChange
	// refill: a refutation's rewrite of the local node's records under
	// its new generation, still to be read from the storage (Read).
	refill *ownRefill
}

// ErrBatchUnread is what a store returns for a batch applied before its
// Read: a refutation's reset would wipe the node's own records.
var ErrBatchUnread = errors.New("sync: batch applied before Batch.Read")

// ownRefill is what a refutation takes from the storage: the local node's
// records as the core last committed them (view), to be written again
// under the new generation.
type ownRefill struct {
	store Storage
	view  PeerMeta
	errs  *atomic.Uint64
}

// Read reads from the storage what the batch takes from it: when the
// batch refutes a claim to the local node's generation, every record of
// the node, rewritten under the new one. It touches no State, so the
// driver calls it without its lock (but with no other batch persisted
// meanwhile), before persisting; a store refuses a batch not read
// (ErrBatchUnread). If the read fails the refutation is undone — the
// change keeps the node's meta as committed, and the next claim retries.
func (b *Batch) Read() {
	if b == nil || b.refill == nil {
		return
	}
	r := b.refill
	b.refill = nil
	for i := range b.Changes {
		c := &b.Changes[i]
		if c.Meta.ID != r.view.ID || c.Remove {
			continue
		}
		var recs []Record
		if _, err := r.store.Scan(r.view, 0, func(rec *Record) bool {
			recs = append(recs, *rec)
			return true
		}); err != nil {
			r.errs.Add(1)
			*c = PeerChange{Meta: r.view}
			return
		}
		c.Records = recs
		return
	}
}

// Unread reports whether Read is still to be called.
func (b *Batch) Unread() bool { return b != nil && b.refill != nil }

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
