package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// relabelPrefix keys a node's relabel marker:
//
//	g/<peer id> -> uvarint to, uvarint n, n x uvarint from
//
// While it is there, records of the node whose generation is one of from
// are served as records of generation to, which is the meta's. It is what
// lets a node change the generation of data that was not wiped (a
// refutation, sync.PeerChange.Relabel) in one transaction whatever the size
// of the data: the meta at the new generation and the marker commit
// together, so no crash can leave the new generation on disk without the
// records, and the records' own generation field is rewritten afterwards
// in bounded chunks (rollRelabel), the marker deleted with the last one.
const relabelPrefix = "g/"

// relabelChunk bounds the records one roll-forward transaction rewrites, so
// that the memory a relabel takes is bounded by it, not by the data.
const relabelChunk = 10_000

func relabelKey(id string) []byte { return append([]byte(relabelPrefix), id...) }

// relabel is a decoded marker. A nil *relabel is no marker.
type relabel struct {
	to   uint64
	from []uint64 // more than one when a relabel came before the last was rolled forward
}

// serves reports whether a record of generation gen counts as one of
// generation as.
func (r *relabel) serves(gen, as uint64) bool {
	return r != nil && r.to == as && slices.Contains(r.from, gen)
}

// ofGeneration reports whether a stored record of generation gen is a
// record of generation want, the generation of the meta that vouches for
// it, given the node's marker rl (nil if none). Every comparison of a
// stored record's generation goes through it.
func ofGeneration(gen, want uint64, rl *relabel) bool {
	return gen == want || rl.serves(gen, want)
}

func encodeRelabel(r *relabel) []byte {
	b := make([]byte, 0, (2+len(r.from))*binary.MaxVarintLen64)
	b = binary.AppendUvarint(b, r.to)
	b = binary.AppendUvarint(b, uint64(len(r.from)))
	for _, g := range r.from {
		b = binary.AppendUvarint(b, g)
	}
	return b
}

func decodeRelabel(id string, v []byte) (*relabel, error) {
	d := decoder{b: v}
	r := &relabel{to: d.uvarint("relabel target")}
	n := d.uvarint("relabel sources")
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: relabel of %d sources in %d bytes", ErrCorrupt, n, len(d.b))
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		r.from = append(r.from, d.uvarint("relabel source"))
	}
	if err := d.finish(fmt.Sprintf("relabel marker %q", id)); err != nil {
		return nil, err
	}
	return r, nil
}

// getRelabel returns id's marker, nil if there is none.
func getRelabel(txn *badger.Txn, id string) (*relabel, error) {
	item, err := txn.Get(relabelKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r *relabel
	err = item.Value(func(v []byte) error {
		r, err = decodeRelabel(id, v)
		return err
	})
	return r, err
}

// getMetaRelabel reads a node's meta and marker in one transaction, for
// readers that judge records by them.
func getMetaRelabel(txn *badger.Txn, id string) (lsync.PeerMeta, *relabel, bool, error) {
	meta, found, err := getMeta(txn, id)
	if err != nil || !found {
		return meta, nil, found, err
	}
	rl, err := getRelabel(txn, id)
	return meta, rl, true, err
}

// relabelMarkers returns the encoded marker of each relabelling change of
// a batch, by peer id. A relabel that comes before the last one of the
// node was rolled forward extends it: the records still of the older
// generations count as the newest one too. The caller holds wmu.
func (b *Badger) relabelMarkers(batch *lsync.Batch) (map[string][]byte, error) {
	var marks map[string][]byte
	for i := range batch.Changes {
		c := &batch.Changes[i]
		if c.Relabel == 0 {
			continue
		}
		rl := &relabel{to: c.Meta.Generation, from: []uint64{c.Relabel}}
		err := b.db.View(func(txn *badger.Txn) error {
			old, err := getRelabel(txn, c.Meta.ID)
			if err != nil || old == nil || (old.to != c.Relabel && old.to != c.Meta.Generation) {
				return err
			}
			for _, g := range old.from {
				if !slices.Contains(rl.from, g) {
					rl.from = append(rl.from, g)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("relabel %q: %w", c.Meta.ID, err)
		}
		if marks == nil {
			marks = make(map[string][]byte)
		}
		marks[c.Meta.ID] = encodeRelabel(rl)
	}
	return marks, nil
}

// metaEntries returns the entries that commit m, the meta of change c: with
// a relabel, its marker goes in the same transaction, as the meta at the
// new generation vouches for the records only through it; so do the
// node's counts at m, if counts has them.
func metaEntries(m *lsync.PeerMeta, marks map[string][]byte, counts map[string]lsync.Counts) []*badger.Entry {
	es := []*badger.Entry{badger.NewEntry(metaKey(m.ID), encodeMeta(m))}
	if v, ok := marks[m.ID]; ok {
		es = append(es, badger.NewEntry(relabelKey(m.ID), v))
	}
	if n, ok := counts[m.ID]; ok {
		es = append(es, countsEntry(m, n))
	}
	return es
}

// roller runs the roll-forward of relabel markers in the background.
type roller struct {
	kick chan struct{} // buffered: a marker to roll forward was committed
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the goroutine has returned

	// peer and next are where the roll-forward resumes: the node and the
	// first record key not yet rewritten. They only save a rescan: a
	// restart begins the node's records again, and records rewritten
	// already are skipped. Guarded by wmu.
	peer string
	next []byte
}

// startRoller starts the background roll-forward and rolls forward what a
// crash left. A marker found at Open is honoured by every read, so the
// store serves at once while the records are rewritten behind it, instead
// of keeping a node with millions of records down for the whole rewrite.
func (b *Badger) startRoller() {
	b.roll = roller{kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	b.roll.kick <- struct{}{}
	go b.rollLoop()
}

// stopRoller stops the roll-forward and waits for it: at most the chunk
// in progress is finished. What is left is rolled forward after the next
// Open.
func (b *Badger) stopRoller() {
	b.stopOnce.Do(func() { close(b.roll.stop) })
	<-b.roll.done
}

func (b *Badger) kickRoller() {
	select {
	case b.roll.kick <- struct{}{}:
	default:
	}
}

func (b *Badger) rollLoop() {
	defer close(b.roll.done)
	for {
		select {
		case <-b.roll.stop:
			return
		case <-b.roll.kick:
		}
		for done := 0; ; done++ {
			select {
			case <-b.roll.stop:
				return
			default:
			}
			more, err := b.rollChunk(done)
			if errors.Is(err, ErrClosed) {
				return
			}
			if err != nil {
				// Every read honours the marker meanwhile; the next
				// relabel or Open retries.
				b.log.Warn().Err(err).Msg("store: relabel: rolling forward stopped; it resumes at the next relabel or open")
				break
			}
			if !more {
				break
			}
		}
	}
}

// rollChunk rewrites up to relabelChunk records of the first node with a
// marker to its marker's generation, in one transaction, and deletes the
// marker in the transaction that rewrites the last ones. It reports
// whether anything is left to roll forward. done counts the chunks rolled
// since the roll-forward was started, for beforeRelabelChunk.
func (b *Badger) rollChunk(done int) (bool, error) {
	if err := b.acquire(); err != nil {
		return false, err
	}
	defer b.mu.RUnlock()
	b.wmu.Lock()
	defer b.wmu.Unlock()

	txn := b.db.NewTransaction(true)
	defer txn.Discard()
	peer, rl, err := b.nextRelabel(txn)
	if err != nil || rl == nil {
		return false, err
	}
	if b.beforeRelabelChunk != nil {
		if err := b.beforeRelabelChunk(done); err != nil {
			return false, err
		}
	}
	b.metas.drop(peer) // its marker is rewritten or deleted below
	meta, found, err := getMeta(txn, peer)
	if err != nil {
		return false, err
	}
	if !found || meta.Generation != rl.to {
		// The node was reset or removed since, which deletes its marker
		// with its meta; one left anyway vouches for nothing.
		if err := txn.Delete(relabelKey(peer)); err != nil {
			return false, err
		}
		b.roll.peer, b.roll.next = "", nil
		return true, txn.Commit()
	}

	start := b.roll.next
	if b.roll.peer != peer || start == nil {
		start = peerPrefix(peer)
	}
	next, err := b.relabelRecords(txn, peer, rl, start)
	if err != nil {
		return false, err
	}
	if next != nil {
		if err := txn.Commit(); err != nil {
			return false, err
		}
		b.roll.peer, b.roll.next = peer, next
		return true, nil
	}
	// Every record of the node is of the marker's generation now (writers
	// between two chunks write at it): the marker has nothing left to say.
	if err := txn.Delete(relabelKey(peer)); err != nil {
		return false, err
	}
	if err := txn.Commit(); err != nil {
		return false, err
	}
	b.roll.peer, b.roll.next = "", nil
	b.log.Info().Str("peer", peer).Uint64("generation", rl.to).Msg("store: relabel rolled forward")
	return true, nil
}

// relabelRecords rewrites in txn the records of peer from key start on
// that rl relabels, until the chunk is full; it returns the first key
// left for the next chunk, nil if it reached the node's last record.
// The records it skips are bounded too, at four chunks: after a restart
// the roll-forward walks past the records it rewrote before, and writers
// must not wait for the whole walk.
func (b *Badger) relabelRecords(txn *badger.Txn, peer string, rl *relabel, start []byte) ([]byte, error) {
	maxSize, maxCount := b.db.MaxBatchSize(), b.db.MaxBatchCount()
	threshold := b.db.Opts().ValueThreshold
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = peerPrefix(peer)
	it := txn.NewIterator(opts)
	defer it.Close()
	var size, count, skipped int64
	for it.Seek(start); it.Valid(); it.Next() {
		item := it.Item()
		if skipped >= 4*int64(b.relabelChunk) {
			return item.KeyCopy(nil), nil
		}
		var val []byte
		err := item.Value(func(v []byte) error {
			gen, _, _, _, err := decodeRecordHeader(v)
			if err != nil {
				return fmt.Errorf("record key %q: %w", item.Key(), err)
			}
			if rl.serves(gen, rl.to) {
				val = relabelValue(v, rl.to)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if val == nil {
			skipped++
			continue
		}
		e := badger.NewEntry(item.KeyCopy(nil), val)
		es := entrySize(e, threshold)
		if count == int64(b.relabelChunk) || size+es > maxSize/2 || count+2 > maxCount/2 {
			return e.Key, nil
		}
		if err := txn.SetEntry(e); err != nil {
			return nil, err
		}
		size += es
		count++
	}
	return nil, nil
}

// nextRelabel returns the node whose marker the roll-forward works on: the
// one it was at, or else the first with a marker.
func (b *Badger) nextRelabel(txn *badger.Txn) (string, *relabel, error) {
	if b.roll.peer != "" {
		rl, err := getRelabel(txn, b.roll.peer)
		if err != nil || rl != nil {
			return b.roll.peer, rl, err
		}
		b.roll.peer, b.roll.next = "", nil
	}
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = []byte(relabelPrefix)
	it := txn.NewIterator(opts)
	defer it.Close()
	it.Rewind()
	if !it.Valid() {
		return "", nil, nil
	}
	peer := string(it.Item().Key()[len(relabelPrefix):])
	rl, err := getRelabel(txn, peer)
	return peer, rl, err
}

// restartRelabel makes the roll-forward of peer start over from its first
// record: a new marker may cover records it rewrote already. The caller
// holds wmu.
func (b *Badger) restartRelabel(peer string) {
	if b.roll.peer == peer {
		b.roll.next = nil
	}
}

// relabelValue returns the record value v (its header decoded already) at
// generation to: the header's generation replaced, the rest unchanged.
func relabelValue(v []byte, to uint64) []byte {
	_, n := binary.Uvarint(v)
	rest := v[n:]
	out := make([]byte, 0, uvarintLen(to)+len(rest))
	out = binary.AppendUvarint(out, to)
	return append(out, rest...)
}
