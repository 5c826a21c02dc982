// Package memstore is a Storage in memory for the sync core, to pass as
// its Config.Storage: the core reads such a storage outside its owner's
// lock (DeltaFill.Read, TombstoneScan.Read) while the owner applies
// batches to it, so it has a lock. The core's own records (Config.Storage
// nil) need none: the core reads those only under its owner's lock.
package memstore

import (
	gosync "sync"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// MemStorage is lsync.MemRecords behind a lock: its writes (Apply) come
// from the core's owner, before it commits each batch; its reads may run
// beside them.
type MemStorage struct {
	mu      gosync.RWMutex
	records *lsync.MemRecords
}

// New returns an empty MemStorage.
func New() *MemStorage { return &MemStorage{records: lsync.NewMemRecords()} }

// Apply applies a batch, as an external store makes it durable before
// State.Commit.
func (m *MemStorage) Apply(b *lsync.Batch) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records.Apply(b)
}

// Scan implements lsync.Storage.
func (m *MemStorage) Scan(view lsync.PeerMeta, after uint64, fn func(r *lsync.Record) bool) (uint64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.records.Scan(view, after, fn)
}

// Get implements lsync.Storage.
func (m *MemStorage) Get(peer, key string) (lsync.Record, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.records.Get(peer, key)
}

// Counts implements lsync.Storage.
func (m *MemStorage) Counts(id string) lsync.Counts {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.records.Counts(id)
}
