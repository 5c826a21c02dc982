package store

import (
	"math"
	"slices"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/proof"
)

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
