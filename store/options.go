package store

import (
	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/rs/zerolog"
)

// Options configure Open.
type Options struct {
	// Dir is the data directory; required unless InMemory.
	Dir string
	// InMemory keeps everything in RAM, for tests. Nothing survives Close.
	InMemory bool
	// SyncWrites fsyncs every commit, for durability across power loss. Without
	// it a commit survives a process crash but not a machine crash. Boot
	// always syncs regardless.
	SyncWrites bool
	// Logger receives Badger's own log lines: Infof and Debugf at debug
	// level, Warningf at warn, Errorf at error. The zero value discards them.
	Logger zerolog.Logger

	// beforeRelabelChunk, when set (tests only), runs before each chunk of
	// a relabel's roll-forward with the number of chunks done since it was
	// started; an error stops the roll-forward there, as a crash would.
	beforeRelabelChunk func(done int) error
	// relabelChunk, when set (tests only), replaces relabelChunk.
	relabelChunk int
}

// Sizing. Badger's defaults (64 MiB memtables x5, 256 MiB block cache, 1 GiB
// value-log files, ...) take hundreds of MB; a gossip node holds modest data
// and must idle in a few tens of MB, so everything is scaled down.
const (
	// memTableSize bounds the skiplist arena and, at 15 %, the largest
	// transaction (~1.2 MiB): batches above that take the multi-transaction
	// path in Apply.
	memTableSize = 8 << 20
	// valueThreshold must stay below the largest transaction (see
	// memTableSize), and values below it live in the LSM tree, so typical
	// small records are read without a value-log lookup.
	valueThreshold = 1 << 10
	// inMemoryMaxValue is Badger's largest value threshold, hence the
	// largest value an in-memory store accepts.
	inMemoryMaxValue = 1 << 20
	// Values above valueThreshold go to the value log; files are mmapped, so
	// smaller files keep the mapped footprint down and GC cheaper.
	valueLogFileSize = 64 << 20
)

func badgerOptions(o Options) badger.Options {
	var bo badger.Options
	threshold := int64(valueThreshold)
	if o.InMemory {
		bo = badger.DefaultOptions("").WithInMemory(true)
		// Without a value log Badger refuses values above the threshold,
		// so raise it to Badger's maximum (1 MiB).
		threshold = inMemoryMaxValue
	} else {
		bo = badger.DefaultOptions(o.Dir)
	}
	return bo.
		WithValueThreshold(threshold).
		WithSyncWrites(o.SyncWrites).
		WithLogger(badgerLogger{l: o.Logger.With().Str("component", "badger").Logger()}).
		WithMemTableSize(memTableSize).
		WithNumMemtables(2).
		WithValueLogFileSize(valueLogFileSize).
		// No compression: the block cache is then optional, blocks are read
		// straight from the mmapped tables and the kernel's page cache does
		// the caching, which costs no Go heap and is reclaimable.
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(0).
		WithNumCompactors(2).
		WithNumLevelZeroTables(4).
		WithNumLevelZeroTablesStall(8).
		// Apply and Load serialise writers themselves (see Badger.wmu), so
		// Badger's conflict tracking would only cost memory.
		WithDetectConflicts(false).
		WithMetricsEnabled(false).
		// Badger's stream framework is not used; fewer goroutines for
		// nothing.
		WithNumGoroutines(2)
}

// BadgerOptions are the Badger options Open uses for o: for benchmarks that
// compare the store against raw Badger on equal terms.
func BadgerOptions(o Options) badger.Options { return badgerOptions(o) }
