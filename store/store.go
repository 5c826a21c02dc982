package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
	"github.com/rs/zerolog"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Badger is the Badger-backed store of one node.
type Badger struct {
	db  *badger.DB
	log zerolog.Logger
	dir string // absolute; "" in memory

	// mu guards closed: every call holds it shared for its whole duration so
	// Close (exclusive) waits for in-flight calls instead of pulling the
	// database out from under them.
	mu     sync.RWMutex
	closed bool

	// wmu serialises everything that writes. Apply's multi-transaction path
	// and Load's cleanup both reason about "the stored meta and the records
	// under it" across several transactions; an interleaved writer would
	// invalidate that reasoning (e.g. Load deleting records that a
	// concurrent Apply wrote but whose meta it has not committed yet).
	wmu sync.Mutex

	// tidy is set by a Boot after a clean shutdown: the store holds no
	// record a crash or a failed write left behind, so LoadMeta reads
	// metadata only. untidy is set when a write failed or a cleanup was
	// left for the next boot: Close then does not mark the shutdown clean,
	// and the next boot cleans up.
	tidy   bool
	untidy atomic.Bool

	// book holds every stored node's counts (Counts).
	book countBook
	// metas serves batchCounts the metas the last batches left. Guarded
	// by wmu.
	metas batchMetas

	// sweepFrom is where the next SweepIndex resumes (after the index
	// prefix); nil starts from the beginning. Guarded by wmu.
	sweepFrom []byte
	// proofSweepFrom is where the next SweepProofs resumes (a proof key
	// after its prefix); nil starts from the beginning. Guarded by wmu.
	proofSweepFrom []byte

	// afterRun, when set (tests only), runs after each intermediate
	// transaction of commitPrefixes; an error stops the batch there, as a
	// crash would.
	afterRun func() error

	// roll rolls relabel markers forward in the background (relabel.go);
	// beforeRelabelChunk is Options.beforeRelabelChunk.
	roll               roller
	stopOnce           sync.Once
	beforeRelabelChunk func(done int) error
	relabelChunk       int
}

// SelfInfo is the identity of the local node as recorded in the store.
type SelfInfo struct {
	ID         string
	Generation uint64
	Boot       uint64
	// Fresh reports that the store was new: the node has no data of its
	// own and everything must come from its peers.
	Fresh bool
	// CleanShutdown reports that the previous run closed the store, which
	// flushes it: no unsynced write can have been lost since.
	CleanShutdown bool
}

// Open opens (or creates) the store.
func Open(opts Options) (*Badger, error) {
	if !opts.InMemory && opts.Dir == "" {
		return nil, errors.New("store: open: Options.Dir is required unless InMemory")
	}
	db, err := badger.Open(badgerOptions(opts))
	if err != nil {
		return nil, fmt.Errorf("store: open %q: %w", opts.Dir, err)
	}
	b := &Badger{db: db, log: opts.Logger, dir: absDir(opts), beforeRelabelChunk: opts.beforeRelabelChunk, relabelChunk: relabelChunk}
	if opts.relabelChunk > 0 {
		b.relabelChunk = opts.relabelChunk
	}
	if err := b.ensureIndex(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open %q: %w", opts.Dir, err)
	}
	if err := b.openCounts(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open %q: %w", opts.Dir, err)
	}
	b.startRoller()
	return b, nil
}

// absDir is where an on-disk store keeps its files, absolute so that a
// later change of working directory does not move what it names.
func absDir(opts Options) string {
	if opts.InMemory {
		return ""
	}
	if abs, err := filepath.Abs(opts.Dir); err == nil {
		return abs
	}
	return opts.Dir
}

// Dir is the store's data directory, absolute, or "" for an in-memory
// store: what a caller watches for free space and measures with du.
func (b *Badger) Dir() string { return b.dir }

// Close closes the store. Calls made after Close return ErrClosed; a second
// Close does too.
func (b *Badger) Close() error {
	// Before the lock: the roll-forward takes it shared for each chunk.
	b.stopRoller()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	b.closed = true
	// Everything is flushed by Close: the next Boot may tell that no tail
	// of unsynced writes can have been lost (SelfInfo.CleanShutdown).
	if b.untidy.Load() {
		b.log.Warn().Msg("store: close: a write failed or a cleanup was left; the next boot cleans up as after a crash")
	} else if err := b.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(cleanKey), nil) }); err != nil {
		b.log.Warn().Err(err).Msg("store: close: marking a clean shutdown failed; the next boot assumes a crash")
	}
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// acquire takes the shared lock and fails after Close. The caller must call
// b.mu.RUnlock when it returns nil.
func (b *Badger) acquire() error {
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// Sizes are the on-disk sizes of a store's parts, in bytes.
type Sizes struct {
	LSM  int64 // LSM tables (memtables not included)
	VLog int64 // value-log files, by their apparent length
}

// Size reports the on-disk size of the LSM tables and of the value-log
// files. It is computed on each call, as Badger's own DB.Size is only
// refreshed once a minute and only with metrics enabled. A closed store
// reports zeros.
func (b *Badger) Size() Sizes {
	var sz Sizes
	if b.acquire() != nil {
		return sz
	}
	defer b.mu.RUnlock()
	for _, t := range b.db.Tables() {
		sz.LSM += int64(t.OnDiskSize)
	}
	if b.db.Opts().InMemory {
		return sz
	}
	entries, err := os.ReadDir(b.db.Opts().ValueDir)
	if err != nil {
		return sz
	}
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".vlog" {
			continue
		}
		if info, err := e.Info(); err == nil {
			sz.VLog += info.Size()
		}
	}
	return sz
}

// Boot records this process start; see SelfInfo. It must be called once per
// process, before the node gossips, with gen derived from the clock (e.g.
// unix milliseconds). gen is used only when the store is new: an existing
// store keeps its generation, because a generation change tells every peer
// that this node's data was wiped.
func (b *Badger) Boot(id string, gen uint64) (SelfInfo, error) {
	if err := b.acquire(); err != nil {
		return SelfInfo{}, fmt.Errorf("store: boot: %w", err)
	}
	defer b.mu.RUnlock()
	b.wmu.Lock()
	defer b.wmu.Unlock()

	if id == "" {
		return SelfInfo{}, errors.New("store: boot: empty node id")
	}
	var (
		self  SelfInfo
		found bool
		own   lsync.PeerMeta
	)
	err := b.db.View(func(txn *badger.Txn) error {
		var err error
		if own, _, err = getMeta(txn, id); err != nil {
			return err
		}
		if _, err := txn.Get([]byte(cleanKey)); err == nil {
			self.CleanShutdown = true
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		item, err := txn.Get([]byte(selfKey))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		clean := self.CleanShutdown
		err = item.Value(func(v []byte) error {
			self, err = decodeSelf(v)
			return err
		})
		self.CleanShutdown = clean
		return err
	})
	if err != nil {
		return SelfInfo{}, fmt.Errorf("store: boot: read self: %w", err)
	}
	b.tidy = self.CleanShutdown
	if found {
		if self.ID != id {
			return SelfInfo{}, fmt.Errorf("store: boot: store belongs to node %q, not %q: %w", self.ID, id, ErrIDMismatch)
		}
		self.Boot++
	} else {
		self = SelfInfo{ID: id, Generation: gen, Boot: 1, Fresh: true}
	}
	// The node may have refuted its generation at runtime (a peer held it
	// at a newer one, see sync.State's refutation): its own meta, written
	// with that batch, then carries the generation in force.
	self.Generation = max(self.Generation, own.Generation)
	err = b.db.Update(func(txn *badger.Txn) error {
		// This run may end in a crash: only its own Close marks it clean.
		if err := txn.Delete([]byte(cleanKey)); err != nil {
			return err
		}
		return txn.Set([]byte(selfKey), encodeSelf(&self))
	})
	if err != nil {
		return SelfInfo{}, fmt.Errorf("store: boot: write self: %w", err)
	}
	// Boot exists to tell process starts apart; a counter lost in a power
	// cut would be handed out twice, so it is synced even when SyncWrites is
	// off. It is written once per start, so the fsync costs nothing.
	if err := b.db.Sync(); err != nil {
		return SelfInfo{}, fmt.Errorf("store: boot: sync: %w", err)
	}
	return self, nil
}
