package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// The version index: v/<u16 len><peer><u64 big-endian version><key>, with
// an empty value, one entry per stored record, written in the record's own
// transaction. A prefix scan of one peer from a version yields that peer's
// records in version order, which is what the changefeed (Changes) and
// delta selection by range need.
//
// The index is a hint, never the truth: a reader takes an entry only if
// the record it names is there, at that version, of the meta's generation
// and at or below its watermark. So an entry left behind by a crash, a
// Reset or a collected tombstone can cost a lookup but never serves a wrong
// record. Entries are removed where the writer knows them — a peer's whole
// index when it is reset or removed, a collected tombstone's — and the
// entries of overwritten versions by SweepIndex, which GC runs, so the
// index stays near the size of the data without a read on the write path.
const indexPrefix = "v/"

// indexKeyExtra is how much longer an index key is than its record key.
const indexKeyExtra = 8

// appendIndexPeerPrefix appends v/<u16 len><peer>.
func appendIndexPeerPrefix(dst []byte, peer string) []byte {
	dst = append(dst, indexPrefix...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(peer)))
	return append(dst, peer...)
}

func indexPeerPrefix(peer string) []byte {
	return appendIndexPeerPrefix(make([]byte, 0, len(indexPrefix)+2+len(peer)), peer)
}

// appendIndexKey appends the index key of version of key of peer.
func appendIndexKey(dst []byte, peer string, version uint64, key string) []byte {
	dst = appendIndexPeerPrefix(dst, peer)
	dst = binary.BigEndian.AppendUint64(dst, version)
	return append(dst, key...)
}

// indexKeyOf derives the index key of a record key (r/<len><peer><key>)
// at version: same peer part, the version, the same key.
func indexKeyOf(recKey []byte, version uint64) ([]byte, error) {
	if len(recKey) < len(recordPrefix)+2 {
		return nil, fmt.Errorf("%w: record key %q too short", ErrCorrupt, recKey)
	}
	n := int(binary.BigEndian.Uint16(recKey[len(recordPrefix):]))
	peerEnd := len(recordPrefix) + 2 + n
	if peerEnd > len(recKey) {
		return nil, fmt.Errorf("%w: record key %q: peer id length %d exceeds key", ErrCorrupt, recKey, n)
	}
	k := make([]byte, 0, len(recKey)+indexKeyExtra)
	k = append(k, indexPrefix...)
	k = append(k, recKey[len(recordPrefix):peerEnd]...)
	k = binary.BigEndian.AppendUint64(k, version)
	return append(k, recKey[peerEnd:]...), nil
}

// splitIndexKey returns the version and record key named by an index key
// whose peer prefix (v/<len><peer>) is prefixLen bytes long.
func splitIndexKey(k []byte, prefixLen int) (version uint64, key string, err error) {
	if len(k) < prefixLen+indexKeyExtra {
		return 0, "", fmt.Errorf("%w: index key %q too short", ErrCorrupt, k)
	}
	return binary.BigEndian.Uint64(k[prefixLen:]), string(k[prefixLen+indexKeyExtra:]), nil
}

// setRecord writes a record entry and its index entry in txn. The entry
// of the version it overwrites stays until SweepIndex finds it: reading the
// old version here would halve the write rate (measured: 256k -> 137k
// records/s for 4 MiB batches), and readers skip stale entries anyway.
func setRecord(txn *badger.Txn, rec, idx *badger.Entry) error {
	if err := txn.SetEntry(rec); err != nil {
		return err
	}
	return txn.SetEntry(idx)
}

// deleteIndex deletes the whole version index of peer. The caller holds
// wmu.
func (b *Badger) deleteIndex(peer string) error {
	var keys [][]byte
	err := b.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = indexPeerPrefix(peer)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return b.deleteKeys(keys)
}

// recordAndIndexKeys returns, for each record key that exists, the key and
// its index key, so both can be deleted.
func (b *Badger) recordAndIndexKeys(recKeys [][]byte) ([][]byte, error) {
	out := make([][]byte, 0, 2*len(recKeys))
	err := b.db.View(func(txn *badger.Txn) error {
		for _, k := range recKeys {
			item, err := txn.Get(k)
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			err = item.Value(func(v []byte) error {
				_, ver, _, _, err := decodeRecordHeader(v)
				if err != nil {
					return err
				}
				ik, err := indexKeyOf(k, ver)
				out = append(out, k, ik)
				return err
			})
			if err != nil {
				return fmt.Errorf("record %q: %w", k, err)
			}
		}
		return nil
	})
	return out, err
}

// sweepChunk bounds the entries one SweepIndex call checks, and so how long
// it holds writers back.
const sweepChunk = 20_000

// SweepIndex deletes up to sweepChunk index entries of overwritten or
// vanished records, resuming where the previous call stopped and wrapping
// around at the end; it reports how many it deleted. It holds wmu: an entry
// judged stale must not be deleted after a writer made the same key valid
// again (a new generation restarts versions, so an identical entry can
// come back).
func (b *Badger) SweepIndex() (int, error) {
	if err := b.acquire(); err != nil {
		return 0, fmt.Errorf("store: sweep index: %w", err)
	}
	defer b.mu.RUnlock()
	return b.sweepIndex()
}

// sweepIndex is SweepIndex for a caller that holds mu.
func (b *Badger) sweepIndex() (int, error) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	var stale [][]byte
	var next []byte
	err := b.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte(indexPrefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		checked := 0
		for it.Seek(append([]byte(indexPrefix), b.sweepFrom...)); it.Valid(); it.Next() {
			k := it.Item().Key()
			if checked == sweepChunk {
				next = append([]byte(nil), k[len(indexPrefix):]...)
				return nil
			}
			checked++
			ok, err := indexEntryLive(txn, k)
			if err != nil {
				return err
			}
			if !ok {
				stale = append(stale, it.Item().KeyCopy(nil))
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: sweep index: %w", err)
	}
	if err := b.deleteKeys(stale); err != nil {
		return 0, fmt.Errorf("store: sweep index: %w", err)
	}
	b.sweepFrom = next
	return len(stale), nil
}

// indexEntryLive reports whether an index entry names a record that is
// stored at that version. Entries of another generation's records or above
// the watermark are left to Reset and Load, which own those cases.
func indexEntryLive(txn *badger.Txn, k []byte) (bool, error) {
	rest := k[len(indexPrefix):]
	if len(rest) < 2 {
		return false, nil
	}
	n := int(binary.BigEndian.Uint16(rest))
	prefixLen := len(indexPrefix) + 2 + n
	ver, key, err := splitIndexKey(k, prefixLen)
	if err != nil {
		return false, nil // unreadable: nothing can use it
	}
	peer := string(k[len(indexPrefix)+2 : prefixLen])
	item, err := txn.Get(appendRecordKey(nil, peer, key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	live := false
	err = item.Value(func(v []byte) error {
		_, rv, _, _, err := decodeRecordHeader(v)
		live = err == nil && rv == ver
		return nil
	})
	return live, err
}

// ensureIndex makes sure every record has its version index entry. A store
// written before the index existed has records without entries, and reads
// through the index (deltas, the changefeed) would serve none of them; it
// is indexed once, here, and marked. A new store is marked at once. A crash
// during the rebuild leaves the mark unset, so the next Open starts over:
// entries are idempotent.
func (b *Badger) ensureIndex() error {
	err := b.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get([]byte(indexedKey))
		return err
	})
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, badger.ErrKeyNotFound):
		return fmt.Errorf("index marker: %w", err)
	}
	var idx [][]byte
	err = b.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte(recordPrefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			err := item.Value(func(v []byte) error {
				_, ver, _, _, err := decodeRecordHeader(v)
				if err != nil {
					return err
				}
				k, err := indexKeyOf(item.Key(), ver)
				idx = append(idx, k)
				return err
			})
			if err != nil {
				return fmt.Errorf("record %q: %w", item.Key(), err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rebuild version index: %w", err)
	}
	err = b.inChunks(len(idx), func(txn *badger.Txn, i int) error { return txn.Set(idx[i], nil) })
	if err == nil {
		err = b.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(indexedKey), nil) })
	}
	if err != nil {
		return fmt.Errorf("rebuild version index: %w", err)
	}
	if len(idx) > 0 {
		b.log.Info().Int("records", len(idx)).Msg("store: version index rebuilt for records written before it existed")
	}
	return nil
}
