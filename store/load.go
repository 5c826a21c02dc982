package store

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Load calls fn once per stored peer (the local node included), in
// ascending id order, with its meta and its records sorted by ascending
// version. Records that must not be served are dropped and deleted from
// disk first: records of another generation than the meta's (left behind by
// a reset whose cleanup did not finish) and records above the meta's
// MaxVersion (written before a crash cut a batch short), as well as records
// of peers that have no meta at all. An error from fn stops Load and is
// returned wrapped.
//
// fn runs without any store lock held, so it may call Apply (or even
// Close, after which Load returns ErrClosed); a concurrent Apply may or may
// not be reflected in what fn is given for a peer.
func (b *Badger) Load(fn func(meta lsync.PeerMeta, recs []lsync.Record) error) error {
	return b.load(true, fn)
}

// LoadMeta is Load without the records: fn gets each peer's meta; the
// records stay on disk (the core reads them through Scan and Get, and
// their counts through Counts).
//
// After a crash (or a run whose writes failed) the cleanup is Load's:
// unservable records are deleted, read up to their header only, so the
// boot reads every record. After a clean shutdown there is nothing to clean
// up, and LoadMeta reads metadata only: the metas and the version index's
// runs above each watermark.
func (b *Badger) LoadMeta(fn func(meta lsync.PeerMeta) error) error {
	if b.tidy {
		return b.loadTidy(fn)
	}
	return b.load(false, func(meta lsync.PeerMeta, _ []lsync.Record) error { return fn(meta) })
}

// loadTidy is LoadMeta after a clean shutdown.
func (b *Badger) loadTidy(fn func(meta lsync.PeerMeta) error) error {
	ids, err := b.peerIDs()
	if err != nil {
		return fmt.Errorf("store: load: %w", err)
	}
	for _, id := range ids {
		meta, found, err := b.loadPeerMeta(id)
		if err != nil {
			return fmt.Errorf("store: load: peer %q: %w", id, err)
		}
		if !found {
			continue
		}
		if err := fn(meta); err != nil {
			return fmt.Errorf("store: load: peer %q: %w", id, err)
		}
	}
	return nil
}

// loadPeerMeta reads one peer's meta and trims its runs above the
// watermark (cheap: a seek, and none after a clean shutdown but in a store
// written before runs were trimmed at every boot).
func (b *Badger) loadPeerMeta(id string) (meta lsync.PeerMeta, found bool, err error) {
	if err := b.acquire(); err != nil {
		return meta, false, err
	}
	defer b.mu.RUnlock()
	b.wmu.Lock()
	defer b.wmu.Unlock()
	err = b.db.View(func(txn *badger.Txn) error {
		var err error
		meta, found, err = getMeta(txn, id)
		return err
	})
	if err != nil || !found {
		return meta, false, err
	}
	return meta, true, b.trimIndex(id, meta.MaxVersion)
}

func (b *Badger) load(values bool, fn func(meta lsync.PeerMeta, recs []lsync.Record) error) error {
	ids, err := b.peerIDs()
	if err != nil {
		return fmt.Errorf("store: load: %w", err)
	}
	for _, id := range ids {
		meta, recs, found, err := b.loadPeer(id, values)
		if err != nil {
			return fmt.Errorf("store: load: peer %q: %w", id, err)
		}
		if !found {
			continue
		}
		if err := fn(meta, recs); err != nil {
			return fmt.Errorf("store: load: peer %q: %w", id, err)
		}
	}
	if err := b.deleteOrphans(); err != nil {
		return fmt.Errorf("store: load: %w", err)
	}
	return nil
}

// peerIDs lists the ids of all stored metas, in key (= id) order.
func (b *Badger) peerIDs() ([]string, error) {
	if err := b.acquire(); err != nil {
		return nil, err
	}
	defer b.mu.RUnlock()
	var ids []string
	err := b.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte(metaPrefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			ids = append(ids, string(it.Item().Key()[len(metaPrefix):]))
		}
		return nil
	})
	return ids, err
}

// loadPeer reads one peer (its records' values too if values is set),
// deletes its unservable records and stores the counts of the rest. It
// holds wmu
// so that the meta it judges the records by is the one on disk: otherwise a
// concurrent Apply could commit records above the meta we read, and we would
// delete them just before their meta lands.
func (b *Badger) loadPeer(id string, values bool) (meta lsync.PeerMeta, recs []lsync.Record, found bool, err error) {
	if err := b.acquire(); err != nil {
		return lsync.PeerMeta{}, nil, false, err
	}
	defer b.mu.RUnlock()
	b.wmu.Lock()
	defer b.wmu.Unlock()

	var stale [][]byte
	var n lsync.Counts
	err = b.db.View(func(txn *badger.Txn) error {
		var err error
		var rl *relabel
		meta, rl, found, err = getMetaRelabel(txn, id)
		if err != nil || !found {
			return err
		}
		opts := badger.DefaultIteratorOptions
		// Values are read one by one below; prefetching would start a
		// goroutine per item to fetch them ahead, which for values held
		// inline in the LSM tree only costs time.
		opts.PrefetchValues = false
		opts.Prefix = peerPrefix(id)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			_, key, err := splitRecordKey(k)
			if err != nil {
				return err
			}
			err = item.Value(func(v []byte) error {
				gen, ver, flags, _, err := decodeRecordHeader(v)
				if err != nil {
					return fmt.Errorf("record %q: %w", key, err)
				}
				tomb := flags&flagTombstone != 0
				// Unservable: of another generation (a relabel's are the
				// meta's), above the watermark, or a tombstone collected
				// at the horizon (Apply deletes those after the meta, so a
				// crash in between leaves them).
				if !servable(meta, rl, gen, ver, tomb) {
					stale = append(stale, item.KeyCopy(nil))
					return nil
				}
				tally(&n, held(meta, rl, gen, ver, flags), 1)
				if !values {
					return nil
				}
				_, r, err := decodeRecordValue(key, v)
				if err != nil {
					return fmt.Errorf("record %q: %w", key, err)
				}
				recs = append(recs, r)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || !found {
		return lsync.PeerMeta{}, nil, false, err
	}
	if err := b.deleteKeys(stale); err != nil {
		return lsync.PeerMeta{}, nil, false, fmt.Errorf("delete %d unservable records: %w", len(stale), err)
	}
	if err := b.trimIndex(id, meta.MaxVersion); err != nil {
		return lsync.PeerMeta{}, nil, false, err
	}
	if err := b.db.Update(func(txn *badger.Txn) error { return txn.SetEntry(countsEntry(&meta, n)) }); err != nil {
		return lsync.PeerMeta{}, nil, false, fmt.Errorf("store counts: %w", err)
	}
	b.book.set(id, n)
	if len(stale) > 0 {
		b.log.Info().Str("peer", id).Int("records", len(stale)).
			Uint64("generation", meta.Generation).Uint64("max_version", meta.MaxVersion).
			Msg("store: deleted records of another generation or above the watermark")
	}
	sortByVersion(recs)
	return meta, recs, true, nil
}

func sortByVersion(recs []lsync.Record) {
	slices.SortFunc(recs, func(x, y lsync.Record) int { return cmp.Compare(x.Version, y.Version) })
}

// deleteStale deletes the records of peer whose generation is not gen or
// whose version is above maxVersion. It runs after a reset, which deleted
// any relabel marker of peer with its meta: no other generation counts.
// The caller holds wmu.
func (b *Badger) deleteStale(peer string, gen, maxVersion uint64) (int, error) {
	return b.deleteRecords(peer, func(g, ver uint64) bool { return g != gen || ver > maxVersion })
}

// deleteRecords deletes the records of peer for which stale(generation,
// version) holds — all of them, unread, if stale is nil — and returns how
// many. The caller holds wmu.
func (b *Badger) deleteRecords(peer string, stale func(gen, version uint64) bool) (int, error) {
	var keys [][]byte
	err := b.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = peerPrefix(peer)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if stale == nil {
				keys = append(keys, item.KeyCopy(nil))
				continue
			}
			err := item.Value(func(v []byte) error {
				g, ver, _, _, err := decodeRecordHeader(v)
				if err != nil {
					return fmt.Errorf("record key %q: %w", item.Key(), err)
				}
				if stale(g, ver) {
					keys = append(keys, item.KeyCopy(nil))
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(keys), b.deleteKeys(keys)
}

// deleteOrphans deletes records of peers that have no meta: a crash cut the
// batch that introduced the peer short, so nothing vouches for them.
func (b *Badger) deleteOrphans() error {
	if err := b.acquire(); err != nil {
		return err
	}
	defer b.mu.RUnlock()
	b.wmu.Lock()
	defer b.wmu.Unlock()

	var orphans [][]byte
	err := b.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte(recordPrefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		known := make(map[string]bool)
		for it.Rewind(); it.Valid(); {
			k := it.Item().Key()
			peer, _, err := splitRecordKey(k)
			if err != nil {
				return err
			}
			has, ok := known[peer]
			if !ok {
				_, has, err = getMeta(txn, peer)
				if err != nil {
					return err
				}
				known[peer] = has
			}
			if !has {
				orphans = append(orphans, it.Item().KeyCopy(nil))
				it.Next()
				continue
			}
			// Skip the peer's records without reading them.
			end := prefixEnd(peerPrefix(peer))
			if end == nil {
				break
			}
			it.Seek(end)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan orphan records: %w", err)
	}
	if err := b.deleteKeys(orphans); err != nil {
		return fmt.Errorf("delete %d orphan records: %w", len(orphans), err)
	}
	if len(orphans) > 0 {
		b.log.Info().Int("records", len(orphans)).Msg("store: deleted records of peers without meta")
	}
	return nil
}

// prefixEnd returns the smallest key above every key starting with prefix.
// Appending 0xff would not do: a record key may itself continue with 0xff.
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // all 0xff: nothing sorts above; cannot happen for "r/..." keys
}

// deleteKeys deletes keys in as many transactions as needed. Each deletion
// stands on its own, so chunking needs no ordering care.
func (b *Badger) deleteKeys(keys [][]byte) error {
	return b.inChunks(len(keys), func(txn *badger.Txn, i int) error { return txn.Delete(keys[i]) })
}
