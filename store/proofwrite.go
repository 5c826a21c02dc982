package store

import (
	"errors"
	"fmt"
	"math"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/proof"
)

// proofWrite is one proof of a change being applied: the change's records
// it proves, and what the store held of the batch before.
type proofWrite struct {
	add    heldBatch // the change's records of the batch
	lo, hi int       // which are the change's Records[lo:hi]
	key    []byte
	// base is what the store held of the same signed batch (header and
	// signature), nil if nothing: an entry of the same versions under
	// another header is replaced.
	base *heldBatch
}

// batchProofs are a batch's proofs to write, by change (same indices as
// Batch.Changes); nil when the batch has none.
type batchProofs [][]proofWrite

// planProofs checks a batch's proofs against its records and hashes the
// records they prove, before anything is written. A batch without proofs
// costs a look at each change.
func planProofs(batch *lsync.Batch) (batchProofs, error) {
	var bp batchProofs
	for i := range batch.Changes {
		c := &batch.Changes[i]
		if len(c.Proofs) == 0 {
			continue
		}
		if bp == nil {
			bp = make(batchProofs, len(batch.Changes))
		}
		ws, err := changeProofs(c)
		if err != nil {
			return nil, fmt.Errorf("peer %q: %w", c.Meta.ID, err)
		}
		bp[i] = ws
	}
	return bp, nil
}

func changeProofs(c *lsync.PeerChange) ([]proofWrite, error) {
	if c.Remove || c.Relabel != 0 {
		return nil, fmt.Errorf("proofs with a removal or a relabel: they prove records, and these write none")
	}
	ws := make([]proofWrite, 0, len(c.Proofs))
	j := 0
	var prevLast uint64
	for k, p := range c.Proofs {
		switch {
		case p == nil:
			return nil, fmt.Errorf("proof %d is nil", k)
		case p.Origin != c.Meta.ID || p.Generation != c.Meta.Generation:
			return nil, fmt.Errorf("proof %d is of %q at generation %d, the change of generation %d", k, p.Origin, p.Generation, c.Meta.Generation)
		case k > 0 && p.First <= prevLast:
			return nil, fmt.Errorf("proof %d at versions %d to %d, not past %d", k, p.First, p.Last, prevLast)
		}
		prevLast = p.Last
		for j < len(c.Records) && c.Records[j].Version < p.First {
			j++
		}
		lo := j
		for j < len(c.Records) && c.Records[j].Version <= p.Last {
			j++
		}
		recs := c.Records[lo:j]
		if len(recs) != p.Len() {
			return nil, fmt.Errorf("proof %d of %d records, the change has %d at versions %d to %d", k, p.Len(), len(recs), p.First, p.Last)
		}
		w := proofWrite{add: heldBatch{p: p, versions: make([]uint64, len(recs)), leaves: make([]proof.Hash, len(recs))}, lo: lo, hi: j}
		for n := range recs {
			w.add.versions[n] = recs[n].Version
			w.add.leaves[n] = proof.LeafHash(p.Origin, (*proof.Record)(&recs[n]))
		}
		if err := p.Match(w.add.leaves); err != nil {
			return nil, fmt.Errorf("proof %d: %w", k, err)
		}
		w.key = w.add.key()
		ws = append(ws, w)
	}
	return ws, nil
}

// loadBases reads what the store holds of each batch bp writes to. It
// runs after forget (a reset deletes the node's proofs) under wmu.
func (b *Badger) loadBases(bp batchProofs) error {
	return b.db.View(func(txn *badger.Txn) error {
		for i := range bp {
			for k := range bp[i] {
				if err := bp[i][k].loadBase(txn); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// loadBase reads what the store holds of w's batch, unless w holds all
// of it: nothing held could add to it.
func (w *proofWrite) loadBase(txn *badger.Txn) error {
	if w.add.p.Len() == w.add.p.Count {
		return nil
	}
	item, err := txn.Get(w.key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return err
	}
	h, err := decodeHeld(w.add.p.Origin, v)
	if err != nil || h.p.Signed != w.add.p.Signed {
		return nil // another header, or unreadable: replaced
	}
	w.base = h
	return nil
}

// entry is the proof entry of w once the change's records below upTo are
// written, or nil if it holds none of them.
func (w *proofWrite) entry(upTo int) (*badger.Entry, error) {
	k := min(upTo, w.hi) - w.lo
	if k <= 0 {
		return nil, nil
	}
	h, err := w.add.subset(k)
	if err != nil {
		return nil, err
	}
	if w.base != nil {
		if m := merge(w.base, h); m != nil {
			h = m
		}
	}
	v, err := h.encode()
	if err != nil {
		return nil, err
	}
	return badger.NewEntry(w.key, v), nil
}

// finalEntries are the entries of every proof of bp, all records written.
func (bp batchProofs) finalEntries() ([]*badger.Entry, error) {
	var out []*badger.Entry
	for i := range bp {
		for k := range bp[i] {
			e, err := bp[i][k].entry(math.MaxInt)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// Errors of the proof methods, for callers to test.
var (
	// ErrProofOfNothing: a proof of a node, or a generation, the store
	// does not hold.
	ErrProofOfNothing = errors.New("store: proof of a node or generation not held")
)

// AddProof stores p, the proof of recs (the records it holds, in order)
// for whatever of recs the store holds as they are: how an origin that
// signs its records after writing them (off the write path) keeps their
// proof. A record no longer stored at its version, overwritten meanwhile,
// is left out of the stored proof. p must have its root (from proof.Seal,
// or verified) and be of the node's generation; it is joined to what the
// store holds of the same signed batch. It reports how many records it
// stored the proof of.
func (b *Badger) AddProof(p *proof.Proof, recs []lsync.Record) (int, error) {
	if err := b.acquire(); err != nil {
		return 0, fmt.Errorf("store: add proof: %w", err)
	}
	defer b.mu.RUnlock()
	add := heldBatch{p: p, versions: make([]uint64, len(recs)), leaves: make([]proof.Hash, len(recs))}
	for j := range recs {
		if j > 0 && recs[j].Version <= recs[j-1].Version {
			return 0, fmt.Errorf("store: add proof: version %d after %d", recs[j].Version, recs[j-1].Version)
		}
		add.versions[j] = recs[j].Version
		add.leaves[j] = proof.LeafHash(p.Origin, (*proof.Record)(&recs[j]))
	}
	if err := p.Match(add.leaves); err != nil {
		return 0, fmt.Errorf("store: add proof: %w", err)
	}
	b.wmu.Lock()
	defer b.wmu.Unlock()
	n := 0
	err := b.db.Update(func(txn *badger.Txn) error {
		meta, rl, ok, err := getMetaRelabel(txn, p.Origin)
		if err != nil {
			return err
		}
		if !ok || meta.Generation != p.Generation {
			return fmt.Errorf("%w: %q at generation %d", ErrProofOfNothing, p.Origin, p.Generation)
		}
		keep, err := storedAsIs(txn, meta, rl, recs, add.leaves)
		if err != nil || len(keep) == 0 {
			return err
		}
		h := &add
		if n = proof.CountOf(keep); n < len(recs) {
			if h, err = add.keep(keep); err != nil {
				return err
			}
		}
		w := proofWrite{add: *h, lo: 0, hi: n, key: h.key()}
		if err := w.loadBase(txn); err != nil {
			return err
		}
		e, err := w.entry(n)
		if err != nil {
			return err
		}
		return txn.SetEntry(e)
	})
	if err != nil {
		return 0, fmt.Errorf("store: add proof of %q at versions %d to %d: %w", p.Origin, p.First, p.Last, err)
	}
	return n, nil
}

// storedAsIs returns the positions of the records of recs that the store
// serves as they are: at their version, with the leaf hash in leaves.
func storedAsIs(txn *badger.Txn, meta lsync.PeerMeta, rl *relabel, recs []lsync.Record, leaves []proof.Hash) ([]proof.Span, error) {
	var keep []proof.Span
	for j := range recs {
		item, err := txn.Get(appendRecordKey(nil, meta.ID, recs[j].Key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var ok bool
		err = item.Value(func(v []byte) error {
			gen, r, err := decodeRecordValue(recs[j].Key, v)
			ok = err == nil && servable(meta, rl, gen, r.Version, r.Tombstone) &&
				proof.LeafHash(meta.ID, (*proof.Record)(&r)) == leaves[j]
			return err
		})
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if n := len(keep); n > 0 && keep[n-1].Hi == j {
			keep[n-1].Hi++
		} else {
			keep = append(keep, proof.Span{Lo: j, Hi: j + 1})
		}
	}
	return keep, nil
}

// Resign signs again, at the generation of id's meta, every stored proof
// of id signed at another: what a node that took a new generation without
// losing its data (a relabel) does to keep serving its records' proofs,
// which name the generation they were signed at. Only the header is
// signed again; the trees, and every proof cut from them, stay as they
// were. sign is the origin's (proof.Sign with its key). It reports how
// many batches it signed again.
func (b *Badger) Resign(id string, sign func(h proof.Header) (proof.Signed, error)) (int, error) {
	return b.resign(id, false, sign)
}

// Rekey signs again, at the generation of id's meta, every stored proof
// of id: what a node does after its key changed, so that it serves its
// records' proofs under its new key. Like Resign, it signs headers only.
func (b *Badger) Rekey(id string, sign func(h proof.Header) (proof.Signed, error)) (int, error) {
	return b.resign(id, true, sign)
}

// resign signs again id's proofs signed at another generation, or all of
// them.
func (b *Badger) resign(id string, all bool, sign func(h proof.Header) (proof.Signed, error)) (int, error) {
	if err := b.acquire(); err != nil {
		return 0, fmt.Errorf("store: resign: %w", err)
	}
	defer b.mu.RUnlock()
	b.wmu.Lock()
	defer b.wmu.Unlock()
	var sets []*badger.Entry
	err := b.db.View(func(txn *badger.Txn) error {
		meta, ok, err := getMeta(txn, id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %q", ErrProofOfNothing, id)
		}
		return eachHeld(txn, id, func(key []byte, h *heldBatch, err error) error {
			if err != nil || !all && h.p.Generation == meta.Generation {
				return nil // one that does not decode is left as it is
			}
			hd := h.p.Header
			hd.Generation = meta.Generation
			s, err := sign(hd)
			if err != nil {
				return err
			}
			if s.Header != hd {
				return fmt.Errorf("signer signed another header: %+v for %+v", s.Header, hd)
			}
			h.p.Signed = s
			e, err := h.encode()
			if err != nil {
				return err
			}
			sets = append(sets, badger.NewEntry(key, e))
			return nil
		})
	})
	if err == nil {
		err = b.setEntries(sets)
	}
	if err != nil {
		return 0, fmt.Errorf("store: resign %q: %w", id, err)
	}
	return len(sets), nil
}

// eachHeld calls fn with each proof entry of id in txn, in version order:
// its key, and the batch it holds or why it could not be decoded. fn's
// error stops the walk and is returned.
func eachHeld(txn *badger.Txn, id string, fn func(key []byte, h *heldBatch, decodeErr error) error) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = proofPeerPrefix(id)
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return err
		}
		h, err := decodeHeld(id, v)
		if err := fn(it.Item().KeyCopy(nil), h, err); err != nil {
			return err
		}
	}
	return nil
}
