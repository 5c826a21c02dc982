package store

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/proof"
)

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
		var buf []byte
		var err error
		next, err = sweepWalk(txn, []byte(proofPrefix), b.proofSweepFrom, func(item *badger.Item) (int, error) {
			k := item.Key()
			peer, _, _, err := splitProofKey(k)
			if err != nil {
				dels = append(dels, item.KeyCopy(nil))
				return 0, nil
			}
			if buf, err = item.ValueCopy(buf[:0]); err != nil {
				return 0, err
			}
			meta, rl, err := metas.get(txn, peer)
			if err != nil {
				return 0, err
			}
			h, err := decodeHeld(peer, buf)
			if err != nil {
				dels = append(dels, item.KeyCopy(nil)) // nothing can use it
				return 0, nil
			}
			keep, err := liveHeld(txn, h, meta, rl)
			if err != nil {
				return 0, err
			}
			switch n := proof.CountOf(keep); {
			case n == len(h.versions):
			case n == 0:
				dels = append(dels, item.KeyCopy(nil))
				cut += len(h.versions)
			default:
				kept, err := h.keep(keep)
				if err != nil {
					return 0, fmt.Errorf("proof %q: %w", k, err)
				}
				v, err := kept.encode()
				if err != nil {
					return 0, fmt.Errorf("proof %q: %w", k, err)
				}
				sets = append(sets, badger.NewEntry(item.KeyCopy(nil), v))
				cut += len(h.versions) - n
			}
			return len(h.versions), nil
		})
		return err
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
