package store

import (
	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// batchMetas keeps, for batchCounts, each node's meta and relabel marker as
// the last batch that changed the node left them, so that counting the
// next batch of a node reads neither, nor its counts (the book has them),
// from Badger: under a stream of small batches those reads were most of a
// batch's cost. A meta or a marker is written only under wmu, by apply
// (forget, metaEntries) and by the relabel roller: each drops the node's
// entry before it writes, and apply sets it again once its batch is
// durable. Guarded by wmu; it holds only nodes with a meta, so it is
// bounded as the store's nodes are.
type batchMetas struct {
	by map[string]batchMeta
}

type batchMeta struct {
	meta lsync.PeerMeta
	rl   *relabel
}

func (c *batchMetas) drop(id string) { delete(c.by, id) }

func (c *batchMetas) set(id string, m batchMeta) {
	if c.by == nil {
		c.by = make(map[string]batchMeta)
	}
	c.by[id] = m
}

// metaOf returns id's meta and marker, from the cache if it holds them
// (cached true: the book's counts are those stored with the meta), else
// from txn.
func (b *Badger) metaOf(txn *badger.Txn, id string) (m lsync.PeerMeta, rl *relabel, found, cached bool, err error) {
	if e, ok := b.metas.by[id]; ok {
		return e.meta, e.rl, true, true, nil
	}
	m, rl, found, err = getMetaRelabel(txn, id)
	return m, rl, found, false, err
}

// cacheBatch sets the entries of a durable batch's nodes: each plain
// change (no removal, reset or relabel) left its meta as the batch says
// and its marker as it was (rls, read when it was counted). The others
// were dropped before the batch was written and are read again next time.
func (b *Badger) cacheBatch(batch *lsync.Batch, rls map[string]*relabel) {
	for i := range batch.Changes {
		c := &batch.Changes[i]
		rl, counted := rls[c.Meta.ID]
		if c.Remove || c.Reset || c.Relabel != 0 || !counted {
			continue
		}
		b.metas.set(c.Meta.ID, batchMeta{meta: c.Meta, rl: rl})
	}
}
