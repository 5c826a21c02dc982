package store

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// maxKeyLen is Badger's key limit (txn.modify rejects longer keys). Checked
// up front so that a bad batch fails before anything is written.
const maxKeyLen = 65000

// Apply makes a batch durable. When it returns nil, every record and meta of
// the batch is committed (and fsynced if Options.SyncWrites). When it returns
// an error, part of a large batch may be on disk and a watermark may have
// been lowered (see commitSplit), but no meta claims records that are not
// there. The caller's in-memory state no longer matches the disk then, so
// an Apply error should be treated as fatal for the node: close, reopen and
// Load rebuild a consistent state. Validation errors (reported before
// anything is written) are the exception.
//
// Batches that fit one Badger transaction (about 1.2 MiB of keys and inline
// values, roughly 9000 records of 100 bytes) are committed atomically.
// Larger ones are written in several transactions, records first and metas
// last; see the package documentation for why that is safe.
//
// A change with Relabel commits its meta and a relabel marker together and
// returns: the records' generation is rewritten in the background, while
// every read honours the marker (see relabel.go).
func (b *Badger) Apply(batch *lsync.Batch) error {
	if err := b.acquire(); err != nil {
		return fmt.Errorf("store: apply batch: %w", err)
	}
	defer b.mu.RUnlock()
	if batch.Empty() {
		return nil
	}
	if err := b.validate(batch); err != nil {
		return fmt.Errorf("store: apply batch: %w", err)
	}
	bp, err := planProofs(batch)
	if err != nil {
		return fmt.Errorf("store: apply batch: %w", err)
	}
	b.wmu.Lock()
	defer b.wmu.Unlock()
	err = b.apply(batch, bp)
	if err != nil {
		b.untidy.Store(true) // maybe half written: the next boot cleans up
	}
	return err
}

// apply is Apply for a caller that holds mu and wmu; bp are the batch's
// proofs, nil if it has none.
func (b *Badger) apply(batch *lsync.Batch, bp batchProofs) error {
	if err := b.forget(batch); err != nil {
		return fmt.Errorf("store: apply batch: %w", err)
	}
	var proofs []*badger.Entry
	if bp != nil {
		err := b.loadBases(bp)
		if err == nil {
			proofs, err = bp.finalEntries()
		}
		if err != nil {
			return fmt.Errorf("store: apply batch: proofs: %w", err)
		}
	}
	marks, err := b.relabelMarkers(batch)
	if err != nil {
		return fmt.Errorf("store: apply batch: %w", err)
	}
	counts, rls, err := b.batchCounts(batch)
	if err != nil {
		return fmt.Errorf("store: apply batch: %w", err)
	}
	for i := range batch.Changes {
		b.metas.drop(batch.Changes[i].Meta.ID) // set again once durable
	}
	recs, metas := encodeBatch(batch, marks, counts)
	runs := batchRuns(batch)
	if b.fitsOneTxn(recs, runs, metas, proofs) {
		err = b.commitAtomic(recs, runs, metas, proofs)
		if errors.Is(err, badger.ErrTxnTooBig) {
			// Our estimate mirrors Badger's accounting, but if it ever
			// drifts the multi-transaction path is still correct.
			err = b.commitPrefixes(batch, recs, marks, counts, bp)
		}
	} else {
		err = b.commitPrefixes(batch, recs, marks, counts, bp)
	}
	if err != nil {
		return fmt.Errorf("store: apply batch: %w", err)
	}
	for id, n := range counts {
		b.book.set(id, n)
	}
	b.cacheBatch(batch, rls)
	if len(marks) > 0 {
		for id := range marks {
			b.restartRelabel(id)
		}
		b.kickRoller()
	}

	b.dropCollected(batch)
	for i := range batch.Changes {
		c := &batch.Changes[i]
		if !c.Reset {
			continue
		}
		// The batch is durable and Load ignores records of another
		// generation, so a failure here only costs disk space until the
		// next Load cleans up; failing Apply would make the caller believe
		// the batch was lost.
		if n, err := b.deleteStale(c.Meta.ID, c.Meta.Generation, ^uint64(0)); err != nil {
			b.untidy.Store(true)
			b.log.Warn().Err(err).Str("peer", c.Meta.ID).Msg("store: reset: deleting old-generation records failed; Load will retry")
		} else if n > 0 {
			b.log.Debug().Str("peer", c.Meta.ID).Int("records", n).Msg("store: reset: deleted old-generation records")
		}
	}
	return nil
}

func (b *Badger) maxValueLen() int64 {
	if b.db.Opts().InMemory {
		// In memory there is no value log: Badger refuses values above its
		// largest value threshold (Opts reports a different number).
		return inMemoryMaxValue
	}
	return b.db.Opts().ValueLogFileSize
}

// validate rejects batches that Badger would refuse half-way through, and
// records that Load would silently drop (above their meta's MaxVersion).
func (b *Badger) validate(batch *lsync.Batch) error {
	maxVal := b.maxValueLen()
	for i := range batch.Changes {
		c := &batch.Changes[i]
		m := &c.Meta
		if m.ID == "" {
			return fmt.Errorf("change %d: empty peer id", i)
		}
		if c.Relabel != 0 && (c.Reset || c.Remove || c.Relabel >= m.Generation) {
			return fmt.Errorf("peer %q: relabel from generation %d to %d (reset %v, remove %v): records only move to a newer generation, and are kept", m.ID, c.Relabel, m.Generation, c.Reset, c.Remove)
		}
		if len(m.ID) > maxIDLen || runKeyLen(m.ID) > maxKeyLen {
			return fmt.Errorf("peer id of %d bytes is too long", len(m.ID))
		}
		for j := range c.Records {
			r := &c.Records[j]
			if r.Version > m.MaxVersion {
				return fmt.Errorf("peer %q: record %q has version %d above the meta's max version %d", m.ID, r.Key, r.Version, m.MaxVersion)
			}
			if recordKeyLen(m.ID, r.Key) > maxKeyLen {
				return fmt.Errorf("peer %q: key of %d bytes is too long", m.ID, len(r.Key))
			}
			if int64(recordValueLen(m.Generation, r)) > maxVal {
				return fmt.Errorf("peer %q: key %q: value of %d bytes is too large (limit %d)", m.ID, r.Key, len(r.Value), maxVal)
			}
		}
	}
	return nil
}

// encodeBatch builds the Badger entries of a batch: its records, and its
// metas with the relabel markers and counts that go with them (marks and
// counts, by peer id).
// All record keys and values are carved out of one allocation: Badger
// copies them into its memtable and log on commit, so there is no reason to
// pay an allocation per slice. The version index is built where the
// records are committed (see runsOf and commitPrefixes), as its runs follow
// the transactions.
func encodeBatch(batch *lsync.Batch, marks map[string][]byte, counts map[string]lsync.Counts) (recs, metas []*badger.Entry) {
	size := 0
	for i := range batch.Changes {
		c := &batch.Changes[i]
		for j := range c.Records {
			r := &c.Records[j]
			size += recordKeyLen(c.Meta.ID, r.Key) + recordValueLen(c.Meta.Generation, r)
		}
	}
	buf := make([]byte, 0, size)
	ents := make([]badger.Entry, batch.Len())
	recs = make([]*badger.Entry, 0, batch.Len())
	metas = make([]*badger.Entry, 0, len(batch.Changes))
	for i := range batch.Changes {
		c := &batch.Changes[i]
		for j := range c.Records {
			r := &c.Records[j]
			start := len(buf)
			buf = appendRecordKey(buf, c.Meta.ID, r.Key)
			kEnd := len(buf)
			buf = appendRecordValue(buf, c.Meta.Generation, r)
			e := &ents[len(recs)]
			e.Key = buf[start:kEnd:kEnd]
			e.Value = buf[kEnd:len(buf):len(buf)]
			recs = append(recs, e)
		}
		if !c.Remove {
			metas = append(metas, metaEntries(&c.Meta, marks, counts)...)
		}
	}
	return recs, metas
}

// batchRuns returns the version index runs of a batch committed in one
// transaction.
func batchRuns(batch *lsync.Batch) []*badger.Entry {
	var runs []*badger.Entry
	for i := range batch.Changes {
		c := &batch.Changes[i]
		runs = append(runs, runsOf(c.Meta.ID, c.Records)...)
	}
	return runs
}

// forget carries out what must be gone before a batch's records land:
//
//   - Reset: the node starts over, possibly within the same generation (a
//     refill after its tombstones were collected). A meta with watermark 0
//     is committed first, which makes every stored record of the node
//     unservable (Load drops records above the watermark), then the records
//     are deleted — so neither a crash nor the new watermark can revive one.
//   - Remove: the meta goes first (records without a meta are orphans that
//     Load deletes), then the records.
//
// Either way a relabel marker of the node goes with the meta: it would
// vouch for records of a generation the node no longer has; so do its
// counts, zero for a reset.
//
// The caller holds wmu.
func (b *Badger) forget(batch *lsync.Batch) error {
	for i := range batch.Changes {
		c := &batch.Changes[i]
		if c.Remove || c.Reset {
			b.metas.drop(c.Meta.ID)
		}
		switch {
		case c.Remove:
			// The marker goes with the meta's deletion, in one transaction:
			// a restart must not forget the removal (see LoadRemoved).
			err := b.db.Update(func(txn *badger.Txn) error {
				if err := txn.Delete(metaKey(c.Meta.ID)); err != nil {
					return err
				}
				if err := txn.Delete(relabelKey(c.Meta.ID)); err != nil {
					return err
				}
				if err := txn.Delete(countsKey(c.Meta.ID)); err != nil {
					return err
				}
				return txn.Set(removedKey(c.Meta.ID), encodeRemoved(c.Meta.Generation, c.Heartbeat))
			})
			if err != nil {
				return fmt.Errorf("remove peer %q: %w", c.Meta.ID, err)
			}
			b.book.forget(c.Meta.ID)
		case c.Reset:
			m := c.Meta
			m.MaxVersion = 0
			err := b.db.Update(func(txn *badger.Txn) error {
				if err := txn.Delete(relabelKey(m.ID)); err != nil {
					return err
				}
				if err := txn.SetEntry(countsEntry(&m, lsync.Counts{})); err != nil {
					return err
				}
				return txn.Set(metaKey(m.ID), encodeMeta(&m))
			})
			if err != nil {
				return fmt.Errorf("reset peer %q: %w", m.ID, err)
			}
			b.book.set(m.ID, lsync.Counts{})
		default:
			continue
		}
		if err := b.deleteAll(c.Meta.ID); err != nil {
			return fmt.Errorf("forget peer %q: %w", c.Meta.ID, err)
		}
		if err := b.deleteIndex(c.Meta.ID); err != nil {
			return fmt.Errorf("forget peer %q: version index: %w", c.Meta.ID, err)
		}
		if err := b.deleteProofs(c.Meta.ID); err != nil {
			return fmt.Errorf("forget peer %q: proofs: %w", c.Meta.ID, err)
		}
	}
	return nil
}

// deleteAll deletes every record of peer. The caller holds wmu.
func (b *Badger) deleteAll(peer string) error {
	_, err := b.deleteRecords(peer, nil)
	return err
}

// dropCollected deletes collected tombstones once their metas (with the
// horizon that makes Load ignore them) are durable; a failure costs disk
// space until the next Load, never correctness.
func (b *Badger) dropCollected(batch *lsync.Batch) {
	for i := range batch.Changes {
		c := &batch.Changes[i]
		if len(c.Drop) == 0 {
			continue
		}
		keys := make([][]byte, len(c.Drop))
		for j, k := range c.Drop {
			keys[j] = appendRecordKey(nil, c.Meta.ID, k)
		}
		// Their index entries stay until SweepIndex: readers skip entries
		// whose record is gone.
		if err := b.deleteKeys(keys); err != nil {
			b.untidy.Store(true)
			b.log.Warn().Err(err).Str("peer", c.Meta.ID).Msg("store: deleting collected tombstones failed; Load will retry")
			// The counts stored with the meta left them out; whatever
			// part is still held counts until deleted.
			if err := b.recount(c.Meta.ID); err != nil {
				b.log.Warn().Err(err).Str("peer", c.Meta.ID).Msg("store: recounting after a failed deletion failed; Load will count")
			}
		}
	}
}

// fitsOneTxn mirrors Badger's own accounting (Txn.checkSize,
// Entry.estimateSizeAndSetThreshold) so that the split path can be chosen
// before any work is wasted on a transaction that would overflow.
func (b *Badger) fitsOneTxn(groups ...[]*badger.Entry) bool {
	threshold := b.db.Opts().ValueThreshold
	maxSize, maxCount := b.db.MaxBatchSize(), b.db.MaxBatchCount()
	var size, count int64
	for _, g := range groups {
		for _, e := range g {
			count++
			if int64(len(e.Value)) < threshold {
				size += int64(len(e.Key)+len(e.Value)) + 2 + 10
			} else {
				size += int64(len(e.Key)) + 12 + 2 + 10
			}
		}
	}
	return count < maxCount && size < maxSize
}

func (b *Badger) commitAtomic(groups ...[]*badger.Entry) error {
	txn := b.db.NewTransaction(true)
	defer txn.Discard()
	for _, g := range groups {
		for _, e := range g {
			if err := txn.SetEntry(e); err != nil {
				return err
			}
		}
	}
	return txn.Commit()
}

func getMeta(txn *badger.Txn, id string) (lsync.PeerMeta, bool, error) {
	item, err := txn.Get(metaKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return lsync.PeerMeta{}, false, nil
	}
	if err != nil {
		return lsync.PeerMeta{}, false, err
	}
	var m lsync.PeerMeta
	err = item.Value(func(v []byte) error {
		m, err = decodeMeta(id, v)
		return err
	})
	return m, err == nil, err
}

// inChunks applies op to items 0..n-1 in as many transactions as Badger
// allows, each committed before the next starts, so that item i is never
// committed before any item below it.
func (b *Badger) inChunks(n int, op func(txn *badger.Txn, i int) error) error {
	txn := b.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	pending := 0
	for i := 0; i < n; i++ {
		err := op(txn, i)
		if errors.Is(err, badger.ErrTxnTooBig) && pending > 0 {
			if err := txn.Commit(); err != nil {
				return err
			}
			txn = b.db.NewTransaction(true)
			pending = 0
			err = op(txn, i)
		}
		if err != nil {
			return err
		}
		pending++
	}
	if pending == 0 {
		return nil
	}
	return txn.Commit()
}
