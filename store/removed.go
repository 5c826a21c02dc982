package store

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// LoadRemoved calls fn for every peer removed (a batch change with Remove)
// and not known again since, with the generation and heartbeat it was
// removed at; the node hands them to sync.State.RestoreRemoved after Load,
// so that a stale digest entry does not revive a removed peer after a
// restart. Markers of peers that came back (they have a meta again) are
// deleted instead: a later removal writes a fresh one. fn runs without any
// store lock held.
func (b *Badger) LoadRemoved(fn func(id string, gen, heartbeat uint64) error) error {
	markers, err := b.readRemoved()
	if err != nil {
		return fmt.Errorf("store: load removed: %w", err)
	}
	for _, m := range markers {
		if err := fn(m.id, m.gen, m.heartbeat); err != nil {
			return fmt.Errorf("store: load removed: peer %q: %w", m.id, err)
		}
	}
	return nil
}

type removedMarker struct {
	id             string
	gen, heartbeat uint64
}

// readRemoved returns the markers of peers still removed and deletes those
// of peers back. It holds wmu, so that no Apply interleaves.
func (b *Badger) readRemoved() ([]removedMarker, error) {
	if err := b.acquire(); err != nil {
		return nil, err
	}
	defer b.mu.RUnlock()
	b.wmu.Lock()
	defer b.wmu.Unlock()
	var markers []removedMarker
	var back [][]byte
	err := b.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(removedPrefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			id := string(item.Key()[len(removedPrefix):])
			if _, known, err := getMeta(txn, id); err != nil {
				return err
			} else if known {
				back = append(back, item.KeyCopy(nil))
				continue
			}
			m := removedMarker{id: id}
			err := item.Value(func(v []byte) error {
				var err error
				m.gen, m.heartbeat, err = decodeRemoved(v)
				return err
			})
			if err != nil {
				return fmt.Errorf("peer %q: %w", id, err)
			}
			markers = append(markers, m)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := b.deleteKeys(back); err != nil {
		return nil, fmt.Errorf("delete %d markers of peers back: %w", len(back), err)
	}
	return markers, nil
}
