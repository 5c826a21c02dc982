package store

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// keyState is what the store holds at one key of a node.
type keyState uint8

const (
	keyAbsent keyState = iota
	keyLive
	keyTombstone
)

// held is what a stored record of generation gen at version ver is to the
// node of meta (rl its relabel marker, nil if none): nothing unless meta
// vouches for it, being of its generation and at or below its watermark.
func held(meta lsync.PeerMeta, rl *relabel, gen, ver uint64, flags byte) keyState {
	switch {
	case !ofGeneration(gen, meta.Generation, rl) || ver > meta.MaxVersion:
		return keyAbsent
	case flags&flagTombstone != 0:
		return keyTombstone
	}
	return keyLive
}

func stateOf(r *lsync.Record) keyState {
	if r.Tombstone {
		return keyTombstone
	}
	return keyLive
}

// tally adds d (1 or -1) keys in state s to n.
func tally(n *lsync.Counts, s keyState, d int) {
	switch s {
	case keyLive:
		n.Live += d
	case keyTombstone:
		n.Tombstones += d
	}
}

// batchCounts returns what the store holds of each node a batch changes
// (removals apart) once it is applied. A write does not say what it
// replaces, so the key of each record, and of each collected tombstone,
// is looked up as it is before the batch: an overwrite then counts
// nothing, a value that replaces a tombstone moves a key from one count to
// the other. Nothing is looked up for a node reset by the batch or
// holding nothing yet, as a catch-up from scratch is. It runs after
// forget and before anything of the batch is written; the caller holds
// wmu.
func (b *Badger) batchCounts(batch *lsync.Batch) (map[string]lsync.Counts, map[string]*relabel, error) {
	out := make(map[string]lsync.Counts, len(batch.Changes))
	rls := make(map[string]*relabel, len(batch.Changes))
	err := b.db.View(func(txn *badger.Txn) error {
		for i := range batch.Changes {
			c := &batch.Changes[i]
			if c.Remove {
				continue
			}
			n, rl, err := b.changeCounts(txn, c)
			if err != nil {
				return fmt.Errorf("count %q: %w", c.Meta.ID, err)
			}
			out[c.Meta.ID], rls[c.Meta.ID] = n, rl
		}
		return nil
	})
	return out, rls, err
}

// changeCounts is batchCounts for one change; it also returns the node's
// marker as the change found it.
func (b *Badger) changeCounts(txn *badger.Txn, c *lsync.PeerChange) (lsync.Counts, *relabel, error) {
	var n lsync.Counts
	var old lsync.PeerMeta
	var rl *relabel
	if !c.Reset { // a reset starts from nothing: forget deleted the rest
		found, cached := false, false
		var err error
		if old, rl, found, cached, err = b.metaOf(txn, c.Meta.ID); err != nil {
			return n, nil, err
		}
		switch {
		case cached:
			n = b.book.get(c.Meta.ID)
		case found:
			if n, _, err = storedCounts(txn, old, rl); err != nil {
				return n, nil, err
			}
		}
	}
	k := keyLookup{txn: txn, meta: old, rl: rl, none: n == (lsync.Counts{})}
	seen := make(map[string]keyState, len(c.Records)+len(c.Drop))
	was := func(key string) (keyState, error) {
		if s, ok := seen[key]; ok {
			return s, nil
		}
		return k.state(key)
	}
	for j := range c.Records {
		r := &c.Records[j]
		before, err := was(r.Key)
		if err != nil {
			return n, nil, err
		}
		after := stateOf(r)
		tally(&n, before, -1)
		tally(&n, after, 1)
		seen[r.Key] = after
	}
	for _, key := range c.Drop {
		before, err := was(key)
		if err != nil {
			return n, nil, err
		}
		tally(&n, before, -1)
		seen[key] = keyAbsent
	}
	return n, rl, nil
}

// keyLookup reads what the store holds at keys of one node before a batch.
type keyLookup struct {
	txn  *badger.Txn
	meta lsync.PeerMeta // the node's stored meta
	rl   *relabel
	none bool // the node holds nothing: no need to look
	buf  []byte
}

func (k *keyLookup) state(key string) (keyState, error) {
	if k.none {
		return keyAbsent, nil
	}
	k.buf = appendRecordKey(k.buf[:0], k.meta.ID, key)
	item, err := k.txn.Get(k.buf)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return keyAbsent, nil
	}
	if err != nil {
		return keyAbsent, err
	}
	s := keyAbsent
	err = item.Value(func(v []byte) error {
		gen, ver, flags, _, err := decodeRecordHeader(v)
		if err != nil {
			return fmt.Errorf("record %q: %w", key, err)
		}
		s = held(k.meta, k.rl, gen, ver, flags)
		return nil
	})
	return s, err
}
