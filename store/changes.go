package store

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Cursor is a position in one peer's changefeed: everything of generation
// Generation up to version Version has been read. The zero Cursor is the
// start of whatever generation the peer has. An application that stores
// its cursor in the same transaction as the changes it applied loses and
// duplicates nothing across its own crashes or the node's.
type Cursor struct {
	Generation uint64 `json:"generation"`
	Version    uint64 `json:"version"`
}

// Page is one read of a changefeed.
type Page struct {
	// Records changed after the cursor, ascending by version, each at its
	// current value (a key changed twice appears once, at its latest
	// version). Tombstones are deletes.
	Records []lsync.Record
	// Next is the cursor to read from next.
	Next Cursor
	// More is set when the read stopped at its limit with records left.
	More bool
	// Proofs holds, beside each record, its proof as the store keeps it
	// (the zero RecordProof: none), when asked for (ChangesWithProofs).
	Proofs []lsync.RecordProof
}

// Errors of Changes, for callers to test.
var (
	// ErrUnknownPeer: the store holds nothing of that peer.
	ErrUnknownPeer = errors.New("store: unknown peer")
	// ErrGenerationChanged: the peer's data was wiped and it came back with
	// a new generation (or was refilled). Whatever the application holds of
	// it is stale: drop it and read again from the zero Cursor.
	ErrGenerationChanged = errors.New("store: peer generation changed")
	// ErrCompacted: tombstones after the cursor have been collected, so
	// deletes since then cannot be listed. Drop what is held of the peer
	// and read again from the zero Cursor.
	ErrCompacted = errors.New("store: changes since cursor compacted")
)

// Changes returns up to limit records of peer changed after cur (limit <= 0
// means 1000), read from one consistent snapshot through the version index.
// It takes no lock that writers hold for long: it never waits for Apply.
func (b *Badger) Changes(peer string, cur Cursor, limit int) (Page, error) {
	return b.changes(peer, cur, limit, false)
}

// ChangesWithProofs is Changes with each record's proof (Page.Proofs):
// what an application that ingests the changefeed needs to check each
// record against its origin's key itself.
func (b *Badger) ChangesWithProofs(peer string, cur Cursor, limit int) (Page, error) {
	return b.changes(peer, cur, limit, true)
}

func (b *Badger) changes(peer string, cur Cursor, limit int, proofs bool) (Page, error) {
	if limit <= 0 {
		limit = 1000
	}
	if err := b.acquire(); err != nil {
		return Page{}, fmt.Errorf("store: changes: %w", err)
	}
	defer b.mu.RUnlock()
	var page Page
	err := b.db.View(func(txn *badger.Txn) error {
		meta, rl, ok, err := getMetaRelabel(txn, peer)
		switch {
		case err != nil:
			return err
		case !ok:
			return fmt.Errorf("%w %q", ErrUnknownPeer, peer)
		case cur.Generation != 0 && cur.Generation != meta.Generation:
			return fmt.Errorf("%w: %q is at generation %d, cursor at %d", ErrGenerationChanged, peer, meta.Generation, cur.Generation)
		case cur.Version >= meta.MaxVersion:
			// Nothing new; or the store is behind the reader (a node
			// restarted empty, or refilling that peer, catches up on
			// versions the reader already has: one generation's versions
			// never change their records). Wait for it.
			page = Page{Next: Cursor{Generation: meta.Generation, Version: cur.Version}}
			return nil
		case cur.Version > 0 && cur.Version < meta.GCVersion:
			return fmt.Errorf("%w: %q collected tombstones up to %d, cursor at %d", ErrCompacted, peer, meta.GCVersion, cur.Version)
		}
		var pc *proofCursor
		if proofs {
			pc = newProofCursor(txn, meta)
			defer pc.close()
		}
		page, err = scanChanges(txn, meta, rl, cur.Version, limit, pc)
		return err
	})
	if err != nil {
		return Page{}, fmt.Errorf("store: changes: %w", err)
	}
	return page, nil
}

// scanChanges walks the version index of meta's peer from after since and
// keeps each entry whose record is there at that version (see index.go),
// with its proof if pc is set.
func scanChanges(txn *badger.Txn, meta lsync.PeerMeta, rl *relabel, since uint64, limit int, pc *proofCursor) (Page, error) {
	page := Page{Next: Cursor{Generation: meta.Generation, Version: since}}
	err := walkIndex(txn, meta.ID, since, meta.MaxVersion, func(ver uint64, key []byte) (bool, error) {
		if len(page.Records) == limit {
			page.More = true
			return false, nil
		}
		rec, ok, err := currentRecord(txn, meta, rl, string(key), ver)
		if err != nil {
			return false, err
		}
		if ok {
			page.Records = append(page.Records, rec)
			if pc != nil {
				page.Proofs = append(page.Proofs, pc.find(&rec))
			}
		}
		page.Next.Version = ver
		return true, nil
	})
	if err != nil {
		return Page{}, err
	}
	if !page.More {
		// Everything up to the watermark has been seen: a cursor there is
		// exact even if the last versions were overwritten or collected.
		page.Next.Version = max(page.Next.Version, meta.MaxVersion)
	}
	return page, nil
}

// currentRecord returns key's record if it is at version ver and servable
// (rl is the node's relabel marker, nil if none).
func currentRecord(txn *badger.Txn, meta lsync.PeerMeta, rl *relabel, key string, ver uint64) (lsync.Record, bool, error) {
	item, err := txn.Get(appendRecordKey(nil, meta.ID, key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return lsync.Record{}, false, nil
	}
	if err != nil {
		return lsync.Record{}, false, err
	}
	var rec lsync.Record
	var gen uint64
	err = item.Value(func(v []byte) error {
		gen, rec, err = decodeRecordValue(key, v)
		return err
	})
	if err != nil {
		return lsync.Record{}, false, fmt.Errorf("record %q of %q: %w", key, meta.ID, err)
	}
	if rec.Version != ver || !servable(meta, rl, gen, rec.Version, rec.Tombstone) {
		return lsync.Record{}, false, nil
	}
	return rec, true, nil
}
