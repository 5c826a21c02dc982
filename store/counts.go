package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// countsPrefix keys the record counts a node saved at its last clean
// shutdown, one entry per peer: the generation and watermark they were
// counted at, then the records and tombstones (uvarints). A boot after a
// clean shutdown takes them instead of reading every record's header, so
// that it reads metadata only; they are estimates (as the core's own are)
// and Count corrects them while the node runs.
const countsPrefix = "n/"

func countsKey(id string) []byte { return append([]byte(countsPrefix), id...) }

// PeerCounts are one peer's counts as the node holds them.
type PeerCounts struct {
	Meta   lsync.PeerMeta
	Counts lsync.Counts
}

// SaveCounts records counts for the next boot; the node calls it as it
// closes, once nothing writes any more. Entries of peers not listed stay
// and are ignored once their meta moves on.
func (b *Badger) SaveCounts(counts []PeerCounts) error {
	if err := b.acquire(); err != nil {
		return fmt.Errorf("store: save counts: %w", err)
	}
	defer b.mu.RUnlock()
	b.wmu.Lock()
	defer b.wmu.Unlock()
	return b.inChunks(len(counts), func(txn *badger.Txn, i int) error {
		c := &counts[i]
		return txn.Set(countsKey(c.Meta.ID), encodeCounts(c))
	})
}

func encodeCounts(c *PeerCounts) []byte {
	v := make([]byte, 16, 16+2*binary.MaxVarintLen64)
	binary.BigEndian.PutUint64(v, c.Meta.Generation)
	binary.BigEndian.PutUint64(v[8:], c.Meta.MaxVersion)
	v = binary.AppendUvarint(v, uint64(max(0, c.Counts.Records)))
	return binary.AppendUvarint(v, uint64(max(0, c.Counts.Tombstones)))
}

// savedCounts returns the counts saved for meta's node if they were taken
// at meta's generation and watermark.
func savedCounts(txn *badger.Txn, meta lsync.PeerMeta) (lsync.Counts, bool, error) {
	item, err := txn.Get(countsKey(meta.ID))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return lsync.Counts{}, false, nil
	}
	if err != nil {
		return lsync.Counts{}, false, err
	}
	v, err := item.ValueCopy(nil)
	if err != nil || len(v) < 16 {
		return lsync.Counts{}, false, err
	}
	if binary.BigEndian.Uint64(v) != meta.Generation || binary.BigEndian.Uint64(v[8:]) != meta.MaxVersion {
		return lsync.Counts{}, false, nil
	}
	recs, n := binary.Uvarint(v[16:])
	if n <= 0 {
		return lsync.Counts{}, false, nil
	}
	tombs, m := binary.Uvarint(v[16+n:])
	if m <= 0 || tombs > recs || recs > 1<<40 {
		return lsync.Counts{}, false, nil
	}
	return lsync.Counts{Records: int(recs), Tombstones: int(tombs)}, true, nil
}

// Count counts the servable records of view's node (tombstones included)
// and its tombstones, as a boot after a crash does: in one read
// transaction, holding no lock that writers need, so the node runs it in
// the background. Records above view.MaxVersion are not counted: the
// caller adds what it committed since it took the view.
// It stops early with ctx's error when ctx is done.
func (b *Badger) Count(ctx context.Context, view lsync.PeerMeta) (lsync.Counts, error) {
	if err := b.acquire(); err != nil {
		return lsync.Counts{}, fmt.Errorf("store: count: %w", err)
	}
	defer b.mu.RUnlock()
	var n lsync.Counts
	err := b.db.View(func(txn *badger.Txn) error {
		rl, err := getRelabel(txn, view.ID)
		if err != nil {
			return err
		}
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = peerPrefix(view.ID)
		it := txn.NewIterator(opts)
		defer it.Close()
		seen := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if seen++; seen%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			err := it.Item().Value(func(v []byte) error {
				gen, ver, flags, _, err := decodeRecordHeader(v)
				tomb := flags&flagTombstone != 0
				if err != nil || !servable(view, rl, gen, ver, tomb) {
					return nil // not counted
				}
				n.Records++
				if tomb {
					n.Tombstones++
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
		return lsync.Counts{}, fmt.Errorf("store: count %q: %w", view.ID, err)
	}
	return n, nil
}
