package store

import (
	"encoding/binary"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// commitPrefixes writes a batch too large for one transaction as a series
// of atomic transactions, each holding a run of records and, for every
// peer with records in it, a meta whose watermark is the version of that
// peer's last record so far. A peer's records come in ascending version
// order and cover everything of the peer up to that version, so each
// intermediate watermark is true: a crash between two transactions leaves
// a shorter but consistent prefix, and nothing ever claims a record that is
// not there — including keys whose old value a record overwrote, as the
// overwrite and the watermark past it commit together. Metas of peers
// without records (and each peer's final meta) go with their last run.
//
// The version index runs of the records in a transaction go with it, so a
// record is never committed without its index entry. A relabel marker goes
// with each of its node's metas, intermediate ones included: from the first
// on, the meta is at the new generation and vouches for the node's older
// records only through the marker. The node's counts go with its last
// meta only.
//
// So do the proof entries of the records in a transaction (bp, nil if the
// batch has none): the entry of a batch whose records straddle two
// transactions is written with the first, holding the records written so
// far, and again with the second, holding them all. A transaction closes
// before a signed batch that would straddle it and the next, unless the
// batch alone is too large for one.
func (b *Badger) commitPrefixes(batch *lsync.Batch, recs []*badger.Entry, marks map[string][]byte, counts map[string]lsync.Counts, bp batchProofs) error {
	maxSize, maxCount := b.db.MaxBatchSize(), b.db.MaxBatchCount()
	// Runs of a quarter of the largest transaction measured fastest, and
	// leave room for the metas that go with them.
	budget := maxSize / 4
	threshold := b.db.Opts().ValueThreshold

	txn := b.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	var size, count int64
	var rb runBuilder
	setRuns := func() error {
		for _, e := range rb.finish() {
			if err := txn.SetEntry(e); err != nil {
				return fmt.Errorf("version index run: %w", err)
			}
		}
		return nil
	}
	next := 0
	for i := range batch.Changes {
		c := &batch.Changes[i]
		rb.reset(c.Meta.ID)
		var ws []proofWrite
		if bp != nil {
			ws = bp[i]
		}
		// A record's share of a transaction: its index entry, and a run's
		// key and overhead in the worst case of one record a run.
		share := func(j int, e *badger.Entry) int64 {
			es := entrySize(e, threshold) + int64(runEntrySize(c.Records[j].Key)+runKeyLen(c.Meta.ID)) + 12
			if len(ws) > 0 {
				es += proofShare
			}
			return es
		}
		from := 0 // the change's first record in this transaction
		w := 0    // the first proof of ws not started yet
		for j := range c.Records {
			e := recs[next]
			es := share(j, e)
			full := size+es > budget || count+3 >= maxCount/2
			if w < len(ws) && ws[w].lo == j {
				// A signed batch starts here: it goes whole into the next
				// transaction if it fits one but not what is left of
				// this. Its proof entry is then written once; split, it is
				// cut for the first part, which costs a tree of the batch.
				whole, n := es, int64(ws[w].hi-j)
				for k := j + 1; k < ws[w].hi; k++ {
					whole += share(k, recs[next+k-j])
				}
				if whole <= budget && 2*n+3 < maxCount/2 && (size+whole > budget || count+2*n+3 >= maxCount/2) {
					full = true
				}
				w++
			}
			next++
			if count > 0 && full {
				// Close this transaction with the index of its records of
				// this peer, their proofs and the watermark of the last one.
				if j > 0 {
					if err := setRuns(); err != nil {
						return err
					}
					if err := setProofs(txn, ws, from, j); err != nil {
						return err
					}
					for _, e := range intermediateMeta(c.Meta, c.Records[j-1].Version, marks) {
						if err := txn.SetEntry(e); err != nil {
							return fmt.Errorf("meta of a run: %w", err)
						}
					}
				}
				if err := txn.Commit(); err != nil {
					return err
				}
				if b.afterRun != nil {
					if err := b.afterRun(); err != nil {
						return err
					}
				}
				txn = b.db.NewTransaction(true)
				size, count = 0, 0
				rb.reset(c.Meta.ID)
				from = j
			}
			if err := txn.SetEntry(e); err != nil {
				return err
			}
			rb.add(c.Records[j].Version, c.Records[j].Key)
			size += es
			count += 2
		}
		if err := setRuns(); err != nil {
			return err
		}
		if err := setProofs(txn, ws, from, len(c.Records)); err != nil {
			return err
		}
		if c.Remove {
			continue
		}
		for _, m := range metaEntries(&c.Meta, marks, counts) {
			if err := txn.SetEntry(m); err != nil {
				return fmt.Errorf("meta: %w", err)
			}
			size += entrySize(m, threshold)
			count++
		}
	}
	return txn.Commit()
}

// intermediateMeta returns the entries of a meta at watermark upTo, short
// of the change's: without counts, which are those of the whole change
// (the ones stored are of another watermark then, and a boot after a crash
// here counts the node's records).
func intermediateMeta(m lsync.PeerMeta, upTo uint64, marks map[string][]byte) []*badger.Entry {
	m.MaxVersion = upTo
	return metaEntries(&m, marks, nil)
}

// setProofs sets in txn the entries of the proofs ws that hold records of
// the change from from up to upTo, the change's records in txn.
func setProofs(txn *badger.Txn, ws []proofWrite, from, upTo int) error {
	for k := range ws {
		w := &ws[k]
		if w.hi <= from || w.lo >= upTo {
			continue
		}
		e, err := w.entry(upTo)
		if err == nil && e != nil {
			err = txn.SetEntry(e)
		}
		if err != nil {
			return fmt.Errorf("proof of versions %d to %d: %w", w.add.p.First, w.add.p.Last, err)
		}
	}
	return nil
}

// proofShare is what a record adds to a transaction in proof entries: its
// leaf hash and version. The rest of an entry (a header, a few hashes,
// what the store held of the batch before) is below a value a transaction
// holds beside a budget of records, in memory too: an entry is at most a
// batch of proof.MaxLeaves records' worth, about 600 KiB.
const proofShare = int64(leafSize + binary.MaxVarintLen64)

// entrySize mirrors Badger's accounting of an entry in a transaction.
func entrySize(e *badger.Entry, threshold int64) int64 {
	if int64(len(e.Value)) < threshold {
		return int64(len(e.Key)+len(e.Value)) + 2 + 10
	}
	return int64(len(e.Key)) + 12 + 2 + 10
}
