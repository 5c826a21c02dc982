package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// countsPrefix keys each node's counts (see Counts): the meta they were
// taken at (generation, watermark, horizon), then the live keys and the
// tombstones (uvarints). Every meta a batch leaves is written with its
// counts in one transaction, so a boot takes them instead of reading the
// records: it reads one entry per node, never its records.
const countsPrefix = "c/"

// legacyCountsPrefix keyed the estimates an older build saved at a clean
// shutdown; Open deletes them.
const legacyCountsPrefix = "n/"

func countsKey(id string) []byte { return append([]byte(countsPrefix), id...) }

// Counts implements sync.Storage, from memory: what the store holds of a
// node, exact as of the last batch applied. Live is the node's keys whose
// record is a value; Tombstones its tombstones held, counting one
// collected at a horizon the node learned from its owner until the index
// sweep (GC) or a boot deletes it.
func (b *Badger) Counts(id string) lsync.Counts { return b.book.get(id) }

// countBook holds every stored node's counts in memory, for Counts.
type countBook struct {
	mu sync.Mutex
	by map[string]lsync.Counts
}

func (c *countBook) get(id string) lsync.Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.by[id]
}

func (c *countBook) set(id string, n lsync.Counts) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.by == nil {
		c.by = make(map[string]lsync.Counts)
	}
	c.by[id] = n
}

func (c *countBook) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.by, id)
}

func encodeCounts(m *lsync.PeerMeta, n lsync.Counts) []byte {
	v := make([]byte, 24, 24+2*binary.MaxVarintLen64)
	binary.BigEndian.PutUint64(v, m.Generation)
	binary.BigEndian.PutUint64(v[8:], m.MaxVersion)
	binary.BigEndian.PutUint64(v[16:], m.GCVersion)
	v = binary.AppendUvarint(v, uint64(max(0, n.Live)))
	return binary.AppendUvarint(v, uint64(max(0, n.Tombstones)))
}

// countsEntry is the entry that stores n with meta m.
func countsEntry(m *lsync.PeerMeta, n lsync.Counts) *badger.Entry {
	return badger.NewEntry(countsKey(m.ID), encodeCounts(m, n))
}

// decodeCounts returns the counts of v if they were taken at meta.
func decodeCounts(meta lsync.PeerMeta, v []byte) (lsync.Counts, bool) {
	if len(v) < 24 || binary.BigEndian.Uint64(v) != meta.Generation ||
		binary.BigEndian.Uint64(v[8:]) != meta.MaxVersion || binary.BigEndian.Uint64(v[16:]) != meta.GCVersion {
		return lsync.Counts{}, false
	}
	live, n := binary.Uvarint(v[24:])
	if n <= 0 || live > 1<<40 {
		return lsync.Counts{}, false
	}
	tombs, m := binary.Uvarint(v[24+n:])
	if m <= 0 || tombs > 1<<40 {
		return lsync.Counts{}, false
	}
	return lsync.Counts{Live: int(live), Tombstones: int(tombs)}, true
}

// storedCounts returns the counts stored with meta, the node's stored
// meta; counted reports that there were none, taken at that meta (a store
// written by an older build, a batch cut short), and that they were
// counted from the records instead.
func storedCounts(txn *badger.Txn, meta lsync.PeerMeta, rl *relabel) (n lsync.Counts, counted bool, err error) {
	item, err := txn.Get(countsKey(meta.ID))
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
	case err != nil:
		return n, false, err
	default:
		var ok bool
		err = item.Value(func(v []byte) error {
			n, ok = decodeCounts(meta, v)
			return nil
		})
		if err != nil || ok {
			return n, false, err
		}
	}
	n, err = countRecords(txn, meta, rl)
	return n, true, err
}

// countRecords counts the records of meta's node that meta vouches for
// (of its generation, at or below its watermark), as Counts counts them:
// a tombstone at or below the horizon still counts while it is held.
func countRecords(txn *badger.Txn, meta lsync.PeerMeta, rl *relabel) (lsync.Counts, error) {
	var n lsync.Counts
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = peerPrefix(meta.ID)
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		err := it.Item().Value(func(v []byte) error {
			gen, ver, flags, _, err := decodeRecordHeader(v)
			if err != nil {
				return fmt.Errorf("record %q: %w", it.Item().Key(), err)
			}
			tally(&n, held(meta, rl, gen, ver, flags), 1)
			return nil
		})
		if err != nil {
			return lsync.Counts{}, err
		}
	}
	return n, nil
}

// openCounts fills the book at Open: one read of each node's meta and
// counts. A node whose counts were not written with its meta is counted
// from its records once, and its counts written: a store of an older
// build is migrated so, and the counts estimated by such a build are
// deleted.
func (b *Badger) openCounts() error {
	ids, err := b.peerIDs()
	if err != nil {
		return err
	}
	var counted []*badger.Entry
	err = b.db.View(func(txn *badger.Txn) error {
		for _, id := range ids {
			meta, rl, found, err := getMetaRelabel(txn, id)
			if err != nil {
				return fmt.Errorf("counts of %q: %w", id, err)
			}
			if !found {
				continue
			}
			n, fresh, err := storedCounts(txn, meta, rl)
			if err != nil {
				return fmt.Errorf("counts of %q: %w", id, err)
			}
			b.book.set(id, n)
			if fresh {
				counted = append(counted, countsEntry(&meta, n))
			}
		}
		return nil
	})
	if err == nil {
		err = b.setEntries(counted)
	}
	if err != nil {
		return err
	}
	if len(counted) > 0 {
		b.log.Info().Int("nodes", len(counted)).Msg("store: counted the records of nodes stored without counts")
	}
	return b.deletePrefix([]byte(legacyCountsPrefix))
}

// recount counts id's records again and stores the counts with its meta,
// for when what was deleted is not known exactly. The caller holds wmu.
func (b *Badger) recount(id string) error {
	err := b.setCounts(id, func(txn *badger.Txn, meta lsync.PeerMeta, rl *relabel) (lsync.Counts, error) {
		return countRecords(txn, meta, rl)
	})
	if err != nil {
		return fmt.Errorf("recount %q: %w", id, err)
	}
	return nil
}

// lessTombstones stores that k tombstones of each node in by were deleted.
// The caller holds wmu.
func (b *Badger) lessTombstones(by map[string]int) error {
	for id, k := range by {
		err := b.setCounts(id, func(txn *badger.Txn, meta lsync.PeerMeta, rl *relabel) (lsync.Counts, error) {
			n, counted, err := storedCounts(txn, meta, rl)
			if err == nil && !counted { // counted after the deletion already
				n.Tombstones = max(0, n.Tombstones-k)
			}
			return n, err
		})
		if err != nil {
			return fmt.Errorf("counts of %q: %w", id, err)
		}
	}
	return nil
}

// setCounts stores the counts count gives for id with its meta, in one
// transaction, and keeps them in the book once it has committed. A node
// without meta is left alone.
func (b *Badger) setCounts(id string, count func(*badger.Txn, lsync.PeerMeta, *relabel) (lsync.Counts, error)) error {
	var n lsync.Counts
	found := false
	err := b.db.Update(func(txn *badger.Txn) error {
		meta, rl, ok, err := getMetaRelabel(txn, id)
		if err != nil || !ok {
			return err
		}
		found = true
		if n, err = count(txn, meta, rl); err != nil {
			return err
		}
		return txn.SetEntry(countsEntry(&meta, n))
	})
	if err == nil && found {
		b.book.set(id, n)
	}
	return err
}
