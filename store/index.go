package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// The version index lists each peer's records in version order, which is
// what the changefeed (Changes) and delta selection by range (Scan) read.
// It is kept in runs rather than one entry per record: a run names the
// records of one peer that one transaction wrote, consecutive in version,
// so a receiver writes about one index entry per 50 records instead of
// one per record (measured: the per-record entry made a receiver spend
// 1.6-2.3x the CPU of a raw Badger entry per record, 1.0-1.1x without it).
//
//	w/<u16 len><peer><u64 BE last><u64 BE first> ->
//	    uvarint n, then n x (uvarint version - previous, uvarint len, key)
//
// The first gap is counted from first, so the first entry's is 0. Runs are
// keyed by their last version: a seek to version v lands on the run that
// holds v, or the first one after it. A run's value stays below the value
// threshold (runMaxBytes), so it lives in the LSM tree with the records'
// keys and needs neither a value-log read nor value-log GC.
//
// Invariant: the runs of one peer cover disjoint version intervals. Every
// writer appends above the peer's watermark (records arrive in ascending
// version order within a generation); a reset or removal deletes the
// peer's runs before anything new is written; Load trims runs that reach
// above the watermark, which a cut-short batch can leave behind.
//
// The index is a hint, never the truth: a reader takes an entry only if the
// record it names is there, at that version, of the meta's generation and
// at or below its watermark. So an entry left behind by a crash, a
// collected tombstone or an overwrite can cost a lookup but never serves a
// wrong record. SweepIndex, which GC runs, rewrites runs without such
// entries, so the index stays near the size of the data without a read on
// the write path.
const indexPrefix = "w/"

// legacyIndexPrefix is the index of one entry per record that stores
// written before runs have; Open replaces it (see ensureIndex).
const legacyIndexPrefix = "v/"

// runMaxBytes bounds the encoded value of a run: below the smallest value
// threshold (valueThreshold), so runs stay inline in the LSM tree.
const runMaxBytes = valueThreshold - 64

// runKeyExtra is how much a run key adds to its peer prefix.
const runKeyExtra = 16

// appendIndexPeerPrefix appends w/<u16 len><peer>.
func appendIndexPeerPrefix(dst []byte, peer string) []byte {
	dst = append(dst, indexPrefix...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(peer)))
	return append(dst, peer...)
}

func indexPeerPrefix(peer string) []byte {
	return appendIndexPeerPrefix(make([]byte, 0, len(indexPrefix)+2+len(peer)), peer)
}

// runKeyLen is the encoded length of a run key of peer.
func runKeyLen(peer string) int {
	return len(indexPrefix) + 2 + len(peer) + runKeyExtra
}

// appendRunKey appends the key of peer's run over [first, last].
func appendRunKey(dst []byte, peer string, last, first uint64) []byte {
	dst = appendIndexPeerPrefix(dst, peer)
	dst = binary.BigEndian.AppendUint64(dst, last)
	return binary.BigEndian.AppendUint64(dst, first)
}

// runSeekKey is where the runs of peer that can hold version v or above
// start: a key of the peer prefix and v alone sorts before every run whose
// last version is v.
func runSeekKey(peer string, v uint64) []byte {
	return binary.BigEndian.AppendUint64(indexPeerPrefix(peer), v)
}

// splitRunKey returns the last and first versions of a run key whose peer
// prefix is prefixLen bytes long.
func splitRunKey(k []byte, prefixLen int) (last, first uint64, err error) {
	if len(k) != prefixLen+runKeyExtra {
		return 0, 0, fmt.Errorf("%w: run key %q has the wrong length", ErrCorrupt, k)
	}
	last = binary.BigEndian.Uint64(k[prefixLen:])
	first = binary.BigEndian.Uint64(k[prefixLen+8:])
	if first > last {
		return 0, 0, fmt.Errorf("%w: run key %q: first version %d above last %d", ErrCorrupt, k, first, last)
	}
	return last, first, nil
}

// runEntrySize is what one record adds to a run's value, at most.
func runEntrySize(key string) int {
	return 2*binary.MaxVarintLen64 + len(key)
}

// runBuilder accumulates the (version, key) entries of one peer in
// ascending version order and cuts them into runs of at most runMaxBytes.
type runBuilder struct {
	peer  string
	vals  []byte // encoded entries of the open run, without the count
	n     int
	first uint64
	prev  uint64
	runs  []*badger.Entry
}

func (rb *runBuilder) reset(peer string) {
	rb.peer, rb.vals, rb.n, rb.runs = peer, rb.vals[:0], 0, rb.runs[:0]
}

func (rb *runBuilder) add(version uint64, key string) {
	if rb.n > 0 && len(rb.vals)+runEntrySize(key) > runMaxBytes {
		rb.cut()
	}
	if rb.n == 0 {
		rb.first, rb.prev = version, version
	}
	rb.vals = appendRunEntry(rb.vals, version-rb.prev, []byte(key))
	rb.prev = version
	rb.n++
}

// appendRunEntry appends one entry of a run's value: the gap from the
// previous version, the key's length, the key.
func appendRunEntry(dst []byte, gap uint64, key []byte) []byte {
	dst = binary.AppendUvarint(dst, gap)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	return append(dst, key...)
}

// cut closes the open run, if any, into an entry.
func (rb *runBuilder) cut() {
	if rb.n == 0 {
		return
	}
	v := make([]byte, 0, binary.MaxVarintLen64+len(rb.vals))
	v = binary.AppendUvarint(v, uint64(rb.n))
	v = append(v, rb.vals...)
	rb.runs = append(rb.runs, badger.NewEntry(appendRunKey(nil, rb.peer, rb.prev, rb.first), v))
	rb.vals, rb.n = rb.vals[:0], 0
}

// finish closes the open run and returns every run built since reset.
func (rb *runBuilder) finish() []*badger.Entry {
	rb.cut()
	return rb.runs
}

// runsOf returns the runs indexing recs, records of peer in ascending
// version order.
func runsOf(peer string, recs []lsync.Record) []*badger.Entry {
	var rb runBuilder
	rb.reset(peer)
	for i := range recs {
		rb.add(recs[i].Version, recs[i].Key)
	}
	return rb.finish()
}

// runReader decodes a run's value entry by entry.
type runReader struct {
	b    []byte
	left uint64
	ver  uint64
}

func newRunReader(v []byte, first uint64) (runReader, error) {
	n, w := binary.Uvarint(v)
	if w <= 0 || n > uint64(len(v)) {
		return runReader{}, fmt.Errorf("%w: run count", ErrCorrupt)
	}
	return runReader{b: v[w:], left: n, ver: first}, nil
}

// next returns the next entry; ok is false at the end of the run. key
// aliases the run's value.
func (r *runReader) next() (version uint64, key []byte, ok bool, err error) {
	if r.left == 0 {
		return 0, nil, false, nil
	}
	gap, w := binary.Uvarint(r.b)
	if w <= 0 || r.ver+gap < r.ver {
		return 0, nil, false, fmt.Errorf("%w: run entry version", ErrCorrupt)
	}
	r.b = r.b[w:]
	kl, w := binary.Uvarint(r.b)
	if w <= 0 || kl > uint64(len(r.b)-w) {
		return 0, nil, false, fmt.Errorf("%w: run entry key", ErrCorrupt)
	}
	key = r.b[w : w+int(kl)]
	r.b = r.b[w+int(kl):]
	r.ver += gap
	r.left--
	return r.ver, key, true, nil
}

// eachRun calls fn with each run of peer that can hold a version at or
// above from, in key order, until fn returns false.
func eachRun(txn *badger.Txn, peer string, from uint64, fn func(item *badger.Item, first uint64) (bool, error)) error {
	prefix := indexPeerPrefix(peer)
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(runSeekKey(peer, from)); it.Valid(); it.Next() {
		item := it.Item()
		_, first, err := splitRunKey(item.Key(), len(prefix))
		if err != nil {
			return err
		}
		if more, err := fn(item, first); err != nil || !more {
			return err
		}
	}
	return nil
}

// walkIndex calls fn with each index entry of peer above after and at or
// below through, in ascending version order, until fn returns false. It
// never yields a version twice or out of order, even over runs that break
// the disjointness invariant.
func walkIndex(txn *badger.Txn, peer string, after, through uint64, fn func(version uint64, key []byte) (bool, error)) error {
	var buf []byte
	prev := after
	return eachRun(txn, peer, after+1, func(item *badger.Item, first uint64) (bool, error) {
		if first > through {
			return false, nil // not vouched for by the watermark: a crash's leftovers
		}
		var err error
		if buf, err = item.ValueCopy(buf[:0]); err != nil {
			return false, err
		}
		r, err := newRunReader(buf, first)
		if err != nil {
			return false, fmt.Errorf("run %q: %w", item.Key(), err)
		}
		for {
			ver, key, ok, err := r.next()
			switch {
			case err != nil:
				return false, fmt.Errorf("run %q: %w", item.Key(), err)
			case !ok:
				return true, nil
			case ver <= prev:
				continue
			case ver > through:
				return false, nil
			}
			prev = ver
			if more, err := fn(ver, key); err != nil || !more {
				return false, err
			}
		}
	})
}

// deleteIndex deletes the whole version index of peer. The caller holds
// wmu.
func (b *Badger) deleteIndex(peer string) error {
	return b.deletePrefix(indexPeerPrefix(peer))
}

// deletePrefix deletes every key starting with prefix. The caller holds
// wmu.
func (b *Badger) deletePrefix(prefix []byte) error {
	var keys [][]byte
	err := b.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = prefix
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

// trimIndex deletes what peer's runs index above watermark: runs that lie
// wholly above it are deleted, one that straddles it is rewritten without
// its upper part, so the next records written above the watermark keep the
// runs disjoint. The caller holds wmu.
func (b *Badger) trimIndex(peer string, watermark uint64) error {
	var dels [][]byte
	var sets []*badger.Entry
	err := b.db.View(func(txn *badger.Txn) error {
		return eachRun(txn, peer, watermark+1, func(item *badger.Item, first uint64) (bool, error) {
			dels = append(dels, item.KeyCopy(nil))
			if first > watermark {
				return true, nil
			}
			var rb runBuilder
			rb.reset(peer)
			err := item.Value(func(v []byte) error {
				return forEachRunEntry(v, first, func(ver uint64, key []byte) {
					if ver <= watermark {
						rb.add(ver, string(key))
					}
				})
			})
			if err != nil {
				return false, fmt.Errorf("run %q: %w", item.Key(), err)
			}
			sets = append(sets, rb.finish()...)
			return true, nil
		})
	})
	if err != nil {
		return fmt.Errorf("trim version index of %q: %w", peer, err)
	}
	if len(dels) == 0 {
		return nil
	}
	// The trimmed runs first: their keys end at or below the watermark, so
	// none is a deleted run's, and a crash in between leaves the old run
	// beside its trimmed copy (readers skip repeated versions, and the next
	// Load trims again) instead of losing the entries below the watermark.
	if err := b.setEntries(sets); err != nil {
		return fmt.Errorf("trim version index of %q: %w", peer, err)
	}
	if err := b.deleteKeys(dels); err != nil {
		return fmt.Errorf("trim version index of %q: %w", peer, err)
	}
	b.log.Info().Str("peer", peer).Int("runs", len(dels)).Uint64("max_version", watermark).
		Msg("store: trimmed version index entries above the watermark")
	return nil
}

// forEachRunEntry calls fn with each entry of a run's value.
func forEachRunEntry(v []byte, first uint64, fn func(ver uint64, key []byte)) error {
	r, err := newRunReader(v, first)
	if err != nil {
		return err
	}
	for {
		ver, key, ok, err := r.next()
		if err != nil || !ok {
			return err
		}
		fn(ver, key)
	}
}

// setEntries writes entries in as many transactions as needed.
func (b *Badger) setEntries(es []*badger.Entry) error {
	return b.inChunks(len(es), func(txn *badger.Txn, i int) error { return txn.SetEntry(es[i]) })
}

// sweepChunk bounds the index entries one SweepIndex call checks while
// it holds writers back: each is a point read, and a node whose batches
// wait for the sweep stops taking its peers' data. GC sweeps
// sweepChunksPerGC chunks, letting writers in between.
const (
	sweepChunk       = 2_000
	sweepChunksPerGC = 10
)

// SweepIndex drops up to sweepChunk index entries' worth of overwritten or
// vanished records from the runs, resuming where the previous call stopped
// and wrapping around at the end; it reports how many entries it dropped.
// A run left with no live entry is deleted, one with some is rewritten
// under the same key (its entries stay within its interval, so runs stay
// disjoint). It holds wmu: an entry judged stale must not be dropped after
// a writer made the same key valid again (a new generation restarts
// versions, so an identical entry can come back).
func (b *Badger) SweepIndex() (int, error) {
	if err := b.acquire(); err != nil {
		return 0, fmt.Errorf("store: sweep index: %w", err)
	}
	defer b.mu.RUnlock()
	return b.sweepIndex()
}

// sweepWalk calls visit with the entries under prefix from where the last
// sweep stopped (from, the key after the prefix), until the work visit
// reports (entries checked) reaches sweepChunk. It returns where the next
// sweep starts: nil once it reached the end of the prefix.
func sweepWalk(txn *badger.Txn, prefix, from []byte, visit func(*badger.Item) (int, error)) ([]byte, error) {
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	work := 0
	for it.Seek(append(slices.Clip(prefix), from...)); it.Valid(); it.Next() {
		if work >= sweepChunk {
			return append([]byte(nil), it.Item().Key()[len(prefix):]...), nil
		}
		n, err := visit(it.Item())
		if err != nil {
			return nil, err
		}
		work += n
	}
	return nil, nil
}

// sweptAround reports whether the last sweep reached the end of the
// index (the next starts from the beginning).
func (b *Badger) sweptAround() bool {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	return b.sweepFrom == nil
}

// sweepIndex is SweepIndex for a caller that holds mu.
func (b *Badger) sweepIndex() (int, error) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	var dels [][]byte
	var sets []*badger.Entry
	var next []byte
	var metas metaCache
	var swept tombstonesSwept
	dropped := 0
	err := b.db.View(func(txn *badger.Txn) error {
		var err error
		next, err = sweepWalk(txn, []byte(indexPrefix), b.sweepFrom, func(item *badger.Item) (int, error) {
			v, err := item.ValueCopy(nil)
			if err != nil {
				return 0, err
			}
			live, n, collected, err := liveRun(txn, item.Key(), v, &metas)
			if err != nil {
				return 0, err
			}
			dels = swept.add(dels, metas.id, collected)
			switch {
			case live == nil:
				dels = append(dels, item.KeyCopy(nil))
				dropped += n
			case live.n < n:
				dropped += n - live.n
				sets = append(sets, live.entry(item.KeyCopy(nil)))
			}
			return n, nil
		})
		return err
	})
	if err == nil {
		err = b.deleteKeys(dels)
	}
	if err == nil {
		err = b.lessTombstones(swept.by)
	}
	if err == nil {
		err = b.setEntries(sets)
	}
	if err != nil {
		return 0, fmt.Errorf("store: sweep index: %w", err)
	}
	b.sweepFrom = next
	return dropped, nil
}

// tombstonesSwept gathers the collected tombstones a sweep deletes, each
// once (a run and its trimmed copy, which a crash can leave side by
// side, name the same record), and how many of each node.
type tombstonesSwept struct {
	keys map[string]bool
	by   map[string]int
}

// add appends to dels the record keys of node id in collected not seen
// before.
func (t *tombstonesSwept) add(dels [][]byte, id string, collected [][]byte) [][]byte {
	for _, k := range collected {
		if t.keys[string(k)] {
			continue
		}
		if t.keys == nil {
			t.keys, t.by = make(map[string]bool), make(map[string]int)
		}
		t.keys[string(k)] = true
		t.by[id]++
		dels = append(dels, k)
	}
	return dels
}

// liveEntries is the part of a run that still names stored records.
type liveEntries struct {
	vals []byte
	n    int
}

func (l *liveEntries) entry(key []byte) *badger.Entry {
	v := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(l.vals)), uint64(l.n))
	return badger.NewEntry(key, append(v, l.vals...))
}

// liveRun checks each entry of the run k -> v and returns those whose
// record is stored at that version (nil if none), how many the run held,
// and the keys of records that are tombstones at or below their node's
// horizon: the core lists only a horizon's own batch's tombstones for
// deletion (it reads nothing under its owner's lock), the sweep deletes the
// rest. An unreadable run has nothing live: nothing can use it. Entries of
// another generation's records or above the watermark are left to Reset
// and Load, which own those cases.
func liveRun(txn *badger.Txn, k, v []byte, metas *metaCache) (*liveEntries, int, [][]byte, error) {
	rest := k[len(indexPrefix):]
	if len(rest) < 2 {
		return nil, 0, nil, nil
	}
	prefixLen := len(indexPrefix) + 2 + int(binary.BigEndian.Uint16(rest))
	_, first, err := splitRunKey(k, prefixLen)
	if err != nil {
		return nil, 0, nil, nil
	}
	peer := string(k[len(indexPrefix)+2 : prefixLen])
	meta, rl, err := metas.get(txn, peer)
	if err != nil {
		return nil, 0, nil, err
	}
	var live liveEntries
	var collected [][]byte
	prev := first
	total := 0
	var recKey []byte
	var lookupErr error
	err = forEachRunEntry(v, first, func(ver uint64, key []byte) {
		total++
		if lookupErr != nil {
			return
		}
		recKey = append(appendPeerPrefix(recKey[:0], peer), key...)
		rec, err := recordAt(txn, recKey, ver)
		if err != nil {
			lookupErr = err
			return
		}
		switch {
		case !rec.live:
			return
		case rec.tomb && ofGeneration(rec.gen, meta.Generation, rl) && ver <= meta.GCVersion:
			collected = append(collected, slices.Clone(recKey))
			return
		}
		live.vals = appendRunEntry(live.vals, ver-prev, key)
		prev = ver
		live.n++
	})
	if lookupErr != nil {
		return nil, 0, nil, lookupErr
	}
	if err != nil || live.n == 0 {
		return nil, total, collected, nil
	}
	return &live, total, collected, nil
}

// metaCache holds the meta and relabel marker of the node whose runs a
// sweep is reading: runs are in node order, so one entry serves a node's
// whole stretch.
type metaCache struct {
	id   string
	meta lsync.PeerMeta
	rl   *relabel
	ok   bool
}

// get returns id's meta and marker; a node with none has the zero meta,
// whose horizon collects nothing.
func (c *metaCache) get(txn *badger.Txn, id string) (lsync.PeerMeta, *relabel, error) {
	if c.ok && c.id == id {
		return c.meta, c.rl, nil
	}
	meta, rl, _, err := getMetaRelabel(txn, id)
	if err != nil {
		return lsync.PeerMeta{}, nil, err
	}
	c.id, c.meta, c.rl, c.ok = id, meta, rl, true
	return meta, rl, nil
}

// storedRecord is what recordAt found at a record key.
type storedRecord struct {
	live bool // stored at the version asked
	tomb bool
	gen  uint64
}

// recordAt reads the header of the record at recKey and reports whether
// it is stored at version ver, and if so its generation and kind.
func recordAt(txn *badger.Txn, recKey []byte, ver uint64) (storedRecord, error) {
	item, err := txn.Get(recKey)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return storedRecord{}, nil
	}
	if err != nil {
		return storedRecord{}, err
	}
	var rec storedRecord
	err = item.Value(func(v []byte) error {
		gen, rv, flags, _, err := decodeRecordHeader(v)
		if err == nil && rv == ver {
			rec = storedRecord{live: true, tomb: flags&flagTombstone != 0, gen: gen}
		}
		return nil
	})
	return rec, err
}

// ensureIndex makes sure every record is named by a run of the version
// index. A store written before runs has one legacy entry per record (or,
// older still, none), and reads through the index (deltas, the changefeed)
// would serve none of its records; it is indexed once, here, and marked. A
// new store is marked at once. A crash during the rebuild leaves the mark
// unset, so the next Open starts over from nothing.
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
	if err := b.deletePrefix([]byte(indexPrefix)); err != nil {
		return fmt.Errorf("rebuild version index: %w", err)
	}
	byPeer, n, err := b.recordVersions()
	if err != nil {
		return fmt.Errorf("rebuild version index: %w", err)
	}
	var runs []*badger.Entry
	for peer, recs := range byPeer {
		sortByVersion(recs)
		runs = append(runs, runsOf(peer, recs)...)
	}
	err = b.setEntries(runs)
	if err == nil {
		err = b.deletePrefix([]byte(legacyIndexPrefix))
	}
	if err == nil {
		err = b.deleteKeys([][]byte{[]byte(legacyIndexedKey)})
	}
	if err == nil {
		err = b.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(indexedKey), nil) })
	}
	if err != nil {
		return fmt.Errorf("rebuild version index: %w", err)
	}
	if n > 0 {
		b.log.Info().Int("records", n).Int("runs", len(runs)).Msg("store: version index rebuilt for records written before it existed")
	}
	return nil
}

// recordVersions reads every record's peer, key and version (no values).
func (b *Badger) recordVersions() (map[string][]lsync.Record, int, error) {
	byPeer := make(map[string][]lsync.Record)
	n := 0
	err := b.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte(recordPrefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			peer, key, err := splitRecordKey(item.Key())
			if err != nil {
				return err
			}
			err = item.Value(func(v []byte) error {
				_, ver, _, _, err := decodeRecordHeader(v)
				byPeer[peer] = append(byPeer[peer], lsync.Record{Key: key, Version: ver})
				return err
			})
			if err != nil {
				return fmt.Errorf("record %q: %w", item.Key(), err)
			}
			n++
		}
		return nil
	})
	return byPeer, n, err
}
