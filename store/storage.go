package store

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Badger is the protocol core's Storage (sync.Storage): records are read
// from here, by version through the index and by key, and the core holds
// only metadata.
var _ lsync.Storage = (*Badger)(nil)

// Scan implements sync.Storage over the version index, in one read-only
// transaction. The stored meta must match the view (generation and
// collection horizon): while a batch the core has not committed yet is
// being applied they may differ, and nothing is servable until it is.
// An index entry whose record has moved above the view's watermark cuts
// the scan there: the record the view vouches for is gone, the one that
// replaced it is not the view's yet.
func (b *Badger) Scan(view lsync.PeerMeta, after uint64, fn func(r *lsync.Record) bool) (uint64, error) {
	if after >= view.MaxVersion {
		return view.MaxVersion, nil
	}
	if err := b.acquire(); err != nil {
		return after, fmt.Errorf("store: scan: %w", err)
	}
	defer b.mu.RUnlock()
	through := view.MaxVersion
	err := b.db.View(func(txn *badger.Txn) error {
		meta, ok, err := getMeta(txn, view.ID)
		if err != nil {
			return err
		}
		if !ok || meta.Generation != view.Generation || meta.GCVersion != view.GCVersion || meta.MaxVersion < view.MaxVersion {
			through = after
			return nil
		}
		recKey := appendPeerPrefix(nil, view.ID)
		peerLen := len(recKey)
		return walkIndex(txn, view.ID, after, view.MaxVersion, func(ver uint64, keyBytes []byte) (bool, error) {
			recKey = append(recKey[:peerLen], keyBytes...)
			item, err := txn.Get(recKey)
			if errors.Is(err, badger.ErrKeyNotFound) {
				return true, nil // a collected tombstone, a crash's leftover
			}
			if err != nil {
				return false, err
			}
			var rec lsync.Record
			var servable, cut bool
			err = item.Value(func(v []byte) error {
				gen, rv, flags, rest, err := decodeRecordHeader(v)
				if err != nil {
					return fmt.Errorf("record %q of %q: %w", keyBytes, view.ID, err)
				}
				switch {
				case gen != view.Generation:
					return nil // the cleanup of a reset owns it
				case rv > view.MaxVersion:
					cut = true // overwritten by a batch not committed yet
					return nil
				case rv != ver:
					return nil // a stale entry
				}
				tomb := flags&flagTombstone != 0
				if tomb && rv <= view.GCVersion {
					return nil
				}
				rec = lsync.Record{Key: string(keyBytes), Version: rv, Tombstone: tomb}
				if len(rest) > 0 {
					rec.Value = append([]byte(nil), rest...)
				}
				servable = true
				return nil
			})
			if err != nil {
				return false, err
			}
			if cut || (servable && !fn(&rec)) {
				through = ver - 1
				return false, nil
			}
			return true, nil
		})
	})
	if err != nil {
		return after, fmt.Errorf("store: scan %q: %w", view.ID, err)
	}
	return through, nil
}

// Get implements sync.Storage: the record of key of peer if the stored
// meta vouches for it (its generation, at or below its watermark, not a
// collected tombstone). One read-only transaction; it never waits for
// Apply.
func (b *Badger) Get(peer, key string) (lsync.Record, bool, error) {
	if err := b.acquire(); err != nil {
		return lsync.Record{}, false, fmt.Errorf("store: get: %w", err)
	}
	defer b.mu.RUnlock()
	var rec lsync.Record
	var ok bool
	err := b.db.View(func(txn *badger.Txn) error {
		meta, found, err := getMeta(txn, peer)
		if err != nil || !found {
			return err
		}
		item, err := txn.Get(appendRecordKey(nil, peer, key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var gen uint64
		err = item.Value(func(v []byte) error {
			gen, rec, err = decodeRecordValue(key, v)
			return err
		})
		if err != nil {
			return fmt.Errorf("record %q of %q: %w", key, peer, err)
		}
		ok = gen == meta.Generation && rec.Version <= meta.MaxVersion && !(rec.Tombstone && rec.Version <= meta.GCVersion)
		return nil
	})
	if err != nil {
		return lsync.Record{}, false, fmt.Errorf("store: get: %w", err)
	}
	if !ok {
		return lsync.Record{}, false, nil
	}
	return rec, true, nil
}
