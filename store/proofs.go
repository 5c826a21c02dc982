package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/proof"
)

// proofPrefix keys what the store holds of each signed batch of a node's
// records (package sync/proof): the proof of the batch's records it
// holds, their versions and leaf hashes.
//
//	s/<u16 BE len(id)><id><u64 BE last><u64 BE first> ->
//	    uvarint generation, root (32 bytes),
//	    uvarint n, the proof's wire form (n bytes, proof.AppendWire),
//	    versions: 0 when each held record's version is first plus its
//	    index in the batch, else 1 and one uvarint gap per held record
//	    (from first for the first), then a leaf hash (32 bytes) per held
//	    record, in version order
//
// Keyed by its last version like a run of the version index, a seek to
// version v lands on the batch that can hold v. The leaf hashes are what
// lets the store cut the proof of any slice of the batch without reading
// the batch's other records; the root, that it rebuilds the batch's tree
// without hashing the records' leaves into it once more to check them.
//
// A proof entry is written in the transaction that writes the records it
// adds, so no crash leaves a record written with its proof readable
// without it, nor a proof of a record never written. Records overwritten
// or collected later stay in their batch's entry until the proof sweep
// (GC) cuts them out or deletes the entry: a reader serves a record's
// proof only if the record is there at that version and its leaf hash
// is the one the entry holds, so an entry is a hint, like the index.
const proofPrefix = "s/"

// proofKeyExtra is how much a proof key adds to its peer prefix.
const proofKeyExtra = 16

// leafSize is the size of a stored leaf hash.
const leafSize = len(proof.Hash{})

func appendProofPeerPrefix(dst []byte, peer string) []byte {
	dst = append(dst, proofPrefix...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(peer)))
	return append(dst, peer...)
}

func proofPeerPrefix(peer string) []byte {
	return appendProofPeerPrefix(make([]byte, 0, len(proofPrefix)+2+len(peer)), peer)
}

func proofKey(peer string, last, first uint64) []byte {
	k := appendProofPeerPrefix(make([]byte, 0, len(proofPrefix)+2+len(peer)+proofKeyExtra), peer)
	k = binary.BigEndian.AppendUint64(k, last)
	return binary.BigEndian.AppendUint64(k, first)
}

// proofSeekKey sorts before every proof key of peer whose last version is
// v or above.
func proofSeekKey(peer string, v uint64) []byte {
	return binary.BigEndian.AppendUint64(proofPeerPrefix(peer), v)
}

// splitProofKey returns the peer, last and first versions of a proof key.
func splitProofKey(k []byte) (peer string, last, first uint64, err error) {
	rest := k[len(proofPrefix):]
	if len(rest) < 2 {
		return "", 0, 0, fmt.Errorf("%w: proof key %q too short", ErrCorrupt, k)
	}
	n := int(binary.BigEndian.Uint16(rest))
	if len(rest) != 2+n+proofKeyExtra {
		return "", 0, 0, fmt.Errorf("%w: proof key %q has the wrong length", ErrCorrupt, k)
	}
	peer = string(rest[2 : 2+n])
	last = binary.BigEndian.Uint64(rest[2+n:])
	first = binary.BigEndian.Uint64(rest[2+n+8:])
	return peer, last, first, nil
}

// heldBatch is what the store holds of one signed batch: the proof of the
// records it holds, with its root, and their versions and leaf hashes in
// version order.
type heldBatch struct {
	p        *proof.Proof
	versions []uint64
	leaves   []proof.Hash
}

func (h *heldBatch) key() []byte { return proofKey(h.p.Origin, h.p.Last, h.p.First) }

// indexed reports whether each held record's version is the batch's first
// plus its index in the batch, as a counter's batches have it: then the
// versions need not be stored.
func (h *heldBatch) indexed() bool {
	j := 0
	for _, s := range h.p.Held {
		for i := s.Lo; i < s.Hi; i++ {
			if h.versions[j] != h.p.First+uint64(i) {
				return false
			}
			j++
		}
	}
	return true
}

func (h *heldBatch) encode() ([]byte, error) {
	indexed := h.indexed()
	wire := h.p.WireSize()
	n := 2*binary.MaxVarintLen64 + leafSize + wire + 1 + len(h.leaves)*leafSize
	if !indexed {
		n += len(h.versions) * binary.MaxVarintLen64
	}
	b := make([]byte, 0, n)
	b = binary.AppendUvarint(b, h.p.Generation)
	b = append(b, h.p.Header.Root[:]...)
	b = binary.AppendUvarint(b, uint64(wire))
	b, err := h.p.AppendWire(b)
	if err != nil {
		return nil, err
	}
	if indexed {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		prev := h.p.First
		for _, v := range h.versions {
			b = binary.AppendUvarint(b, v-prev)
			prev = v
		}
	}
	for i := range h.leaves {
		b = append(b, h.leaves[i][:]...)
	}
	return b, nil
}

// decodeHeld decodes a proof entry of peer. It checks the entry's form,
// not its hashes: NewTree does, and a reader that finds them wrong serves
// no proof.
func decodeHeld(peer string, v []byte) (*heldBatch, error) {
	d := decoder{b: v}
	gen := d.uvarint("proof generation")
	if d.err == nil && len(d.b) < leafSize {
		d.err = fmt.Errorf("%w: proof root", ErrCorrupt)
	}
	if d.err != nil {
		return nil, d.err
	}
	var root proof.Hash
	copy(root[:], d.b)
	d.b = d.b[leafSize:]
	wl := d.uvarint("proof length")
	if d.err == nil && wl >= uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: proof of %d bytes in %d", ErrCorrupt, wl, len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	p, err := proof.Parse(d.b[:wl], peer, gen)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	p.Header.Root = root
	d.b = d.b[wl:]
	h := &heldBatch{p: p, versions: make([]uint64, 0, p.Len())}
	flag := d.b[0]
	d.b = d.b[1:]
	switch flag {
	case 0:
		for _, s := range p.Held {
			for i := s.Lo; i < s.Hi; i++ {
				h.versions = append(h.versions, p.First+uint64(i))
			}
		}
	case 1:
		prev := p.First
		for range p.Len() {
			v := prev + d.uvarint("proof version")
			if d.err == nil && (v > p.Last || v < prev || (v == prev && len(h.versions) > 0)) {
				d.err = fmt.Errorf("%w: proof version %d after %d, batch to %d", ErrCorrupt, v, prev, p.Last)
			}
			if d.err != nil {
				return nil, d.err
			}
			h.versions = append(h.versions, v)
			prev = v
		}
	default:
		return nil, fmt.Errorf("%w: proof versions flag %d", ErrCorrupt, flag)
	}
	if len(d.b) != len(h.versions)*leafSize {
		return nil, fmt.Errorf("%w: %d bytes of leaf hashes for %d records", ErrCorrupt, len(d.b), len(h.versions))
	}
	h.leaves = make([]proof.Hash, len(h.versions))
	for i := range h.leaves {
		copy(h.leaves[i][:], d.b[i*leafSize:])
	}
	return h, nil
}

// subset is what h holds of its first k records (0 < k <= len).
func (h *heldBatch) subset(k int) (*heldBatch, error) {
	if k == len(h.versions) {
		return h, nil
	}
	return h.keep([]proof.Span{{Lo: 0, Hi: k}})
}

// keep is what h holds of the records at positions keep.
func (h *heldBatch) keep(keep []proof.Span) (*heldBatch, error) {
	p, leaves, err := h.p.Subset(h.leaves, keep)
	if err != nil {
		return nil, err
	}
	out := &heldBatch{p: p, leaves: leaves, versions: make([]uint64, 0, len(leaves))}
	for _, s := range keep {
		out.versions = append(out.versions, h.versions[s.Lo:s.Hi]...)
	}
	return out, nil
}

// merge is what a and b, two holdings of the same signed batch, hold
// together; nil if they disagree (a batch whose versions do not ascend
// with its indices, which no honest origin signs).
func merge(a, b *heldBatch) *heldBatch {
	p, leaves, err := proof.Merge(a.p, a.leaves, b.p, b.leaves)
	if err != nil {
		return nil
	}
	ai, bi := heldIndices(a.p), heldIndices(b.p)
	av, bv := a.versions, b.versions
	out := &heldBatch{p: p, leaves: leaves, versions: make([]uint64, 0, len(leaves))}
	for len(ai) > 0 || len(bi) > 0 {
		var v uint64
		switch {
		case len(bi) == 0 || len(ai) > 0 && ai[0] < bi[0]:
			v, ai, av = av[0], ai[1:], av[1:]
		case len(ai) == 0 || bi[0] < ai[0]:
			v, bi, bv = bv[0], bi[1:], bv[1:]
		default:
			if av[0] != bv[0] {
				return nil
			}
			v, ai, av, bi, bv = av[0], ai[1:], av[1:], bi[1:], bv[1:]
		}
		if n := len(out.versions); n > 0 && v <= out.versions[n-1] {
			return nil
		}
		out.versions = append(out.versions, v)
	}
	if len(out.versions) != len(out.leaves) {
		return nil
	}
	return out
}

// heldIndices lists the batch indices p holds.
func heldIndices(p *proof.Proof) []int {
	out := make([]int, 0, p.Len())
	for _, s := range p.Held {
		for i := s.Lo; i < s.Hi; i++ {
			out = append(out, i)
		}
	}
	return out
}

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

// deleteProofs deletes every proof entry of peer. The caller holds wmu.
func (b *Badger) deleteProofs(peer string) error {
	return b.deletePrefix(proofPeerPrefix(peer))
}

// proofCursor finds the proof of each record a Scan serves, in ascending
// version order, from one forward pass over the node's proof entries.
type proofCursor struct {
	view        lsync.PeerMeta
	it          *badger.Iterator
	first, last uint64 // the range of the entry at hand; last 0: none read yet
	held        *heldBatch
	tree        *proof.Tree
	buf         []byte
}

func newProofCursor(txn *badger.Txn, view lsync.PeerMeta) *proofCursor {
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = proofPeerPrefix(view.ID)
	return &proofCursor{view: view, it: txn.NewIterator(opts)}
}

func (pc *proofCursor) close() { pc.it.Close() }

// find returns r's proof, or the zero RecordProof if the store holds none
// that stands for it (an unsigned record, a proof of another generation,
// an entry that does not hold r as it is).
func (pc *proofCursor) find(r *lsync.Record) lsync.RecordProof {
	v := r.Version
	if pc.last == 0 || v > pc.last {
		pc.seek(v)
	}
	if pc.held == nil || v < pc.first {
		return lsync.RecordProof{}
	}
	j, ok := slices.BinarySearch(pc.held.versions, v)
	if !ok || proof.LeafHash(pc.view.ID, (*proof.Record)(r)) != pc.held.leaves[j] {
		return lsync.RecordProof{}
	}
	if pc.tree == nil {
		t, err := proof.NewTree(pc.held.p, pc.held.leaves)
		if err != nil {
			pc.held = nil // its hashes do not rebuild its root: it proves nothing
			return lsync.RecordProof{}
		}
		pc.tree = t
	}
	return lsync.RecordProof{Tree: pc.tree, Pos: j}
}

// seek moves to the entry that can hold version v.
func (pc *proofCursor) seek(v uint64) {
	pc.held, pc.tree = nil, nil
	pc.it.Seek(proofSeekKey(pc.view.ID, v))
	if !pc.it.Valid() {
		pc.first, pc.last = math.MaxUint64, math.MaxUint64
		return
	}
	item := pc.it.Item()
	_, last, first, err := splitProofKey(item.Key())
	if err != nil {
		pc.first, pc.last = v+1, v // read again at the next version
		return
	}
	pc.first, pc.last = first, last
	if pc.buf, err = item.ValueCopy(pc.buf[:0]); err != nil {
		return
	}
	h, err := decodeHeld(pc.view.ID, pc.buf)
	if err != nil || h.p.Generation != pc.view.Generation {
		return
	}
	pc.held = h
}

// SweepProofs cuts out of the stored proofs, up to sweepChunk held
// records' worth, the records the store no longer serves (overwritten,
// collected tombstones, of a node reset or removed), keeping the proof of
// the rest, and deletes the entries left holding none. An entry of an
// older generation than its node's whose records the node still holds
// (a relabel's, not signed again yet: see Resign) is kept. It resumes where the previous call stopped, wraps around at the end,
// and reports how many records it cut out. It holds wmu, as a batch may
// add to an entry it rewrites.
func (b *Badger) SweepProofs() (int, error) {
	if err := b.acquire(); err != nil {
		return 0, fmt.Errorf("store: sweep proofs: %w", err)
	}
	defer b.mu.RUnlock()
	return b.sweepProofs()
}

// sweepProofs is SweepProofs for a caller that holds mu.
func (b *Badger) sweepProofs() (int, error) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	var dels [][]byte
	var sets []*badger.Entry
	var next []byte
	var metas metaCache
	cut := 0
	err := b.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte(proofPrefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		checked := 0
		var buf []byte
		for it.Seek(append([]byte(proofPrefix), b.proofSweepFrom...)); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			if checked >= sweepChunk {
				next = append([]byte(nil), k[len(proofPrefix):]...)
				return nil
			}
			peer, _, _, err := splitProofKey(k)
			if err != nil {
				dels = append(dels, item.KeyCopy(nil))
				continue
			}
			if buf, err = item.ValueCopy(buf[:0]); err != nil {
				return err
			}
			meta, rl, err := metas.get(txn, peer)
			if err != nil {
				return err
			}
			h, err := decodeHeld(peer, buf)
			if err != nil {
				dels = append(dels, item.KeyCopy(nil)) // nothing can use it
				continue
			}
			keep, err := liveHeld(txn, h, meta, rl)
			if err != nil {
				return err
			}
			checked += len(h.versions)
			switch n := proof.CountOf(keep); {
			case n == len(h.versions):
			case n == 0:
				dels = append(dels, item.KeyCopy(nil))
				cut += len(h.versions)
			default:
				kept, err := h.keep(keep)
				if err != nil {
					return fmt.Errorf("proof %q: %w", k, err)
				}
				v, err := kept.encode()
				if err != nil {
					return fmt.Errorf("proof %q: %w", k, err)
				}
				sets = append(sets, badger.NewEntry(item.KeyCopy(nil), v))
				cut += len(h.versions) - n
			}
		}
		return nil
	})
	if err == nil {
		err = b.deleteKeys(dels)
	}
	if err == nil {
		err = b.setEntries(sets)
	}
	if err != nil {
		return 0, fmt.Errorf("store: sweep proofs: %w", err)
	}
	b.proofSweepFrom = next
	return cut, nil
}

// liveHeld returns the positions of h's records that the store still
// holds and serves (meta and rl its node's meta and marker): each is
// found through the version index, and must be stored at its version.
func liveHeld(txn *badger.Txn, h *heldBatch, meta lsync.PeerMeta, rl *relabel) ([]proof.Span, error) {
	var keep []proof.Span
	peer := h.p.Origin
	j := 0
	var recKey []byte
	err := walkIndex(txn, peer, h.p.First-1, h.p.Last, func(ver uint64, key []byte) (bool, error) {
		for j < len(h.versions) && h.versions[j] < ver {
			j++
		}
		if j == len(h.versions) {
			return false, nil
		}
		if h.versions[j] != ver {
			return true, nil
		}
		recKey = append(appendPeerPrefix(recKey[:0], peer), key...)
		rec, err := recordAt(txn, recKey, ver)
		if err != nil {
			return false, err
		}
		if rec.live && servable(meta, rl, rec.gen, ver, rec.tomb) {
			if n := len(keep); n > 0 && keep[n-1].Hi == j {
				keep[n-1].Hi++
			} else {
				keep = append(keep, proof.Span{Lo: j, Hi: j + 1})
			}
		}
		j++
		return true, nil
	})
	return keep, err
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
			if err != nil || h.p.Generation == meta.Generation {
				continue
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
			sets = append(sets, badger.NewEntry(it.Item().KeyCopy(nil), e))
		}
		return nil
	})
	if err == nil {
		err = b.setEntries(sets)
	}
	if err != nil {
		return 0, fmt.Errorf("store: resign %q: %w", id, err)
	}
	return len(sets), nil
}
