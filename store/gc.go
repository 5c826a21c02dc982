package store

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// GC sweeps a chunk of the version index (see SweepIndex) and of the
// proofs (see SweepProofs), and reclaims
// value-log space held by overwritten or deleted values above the value
// threshold (1 KiB). Badger never does this on its own, so a node
// whose large values change should call GC from a timer (every few minutes
// is plenty). It returns nil when there was nothing to reclaim, when another
// GC is running, and for in-memory stores.
func (b *Badger) GC() error {
	if err := b.acquire(); err != nil {
		return fmt.Errorf("store: gc: %w", err)
	}
	defer b.mu.RUnlock()
	swept := 0
	for range sweepChunksPerGC {
		n, err := b.sweepIndex()
		if err != nil {
			return fmt.Errorf("store: gc: %w", err)
		}
		swept += n
		if b.sweptAround() {
			break
		}
	}
	if swept > 0 {
		b.log.Debug().Int("entries", swept).Msg("store: swept stale version index entries")
	}
	if n, err := b.sweepProofs(); err != nil {
		return fmt.Errorf("store: gc: %w", err)
	} else if n > 0 {
		b.log.Debug().Int("records", n).Msg("store: cut records no longer held out of their proofs")
	}
	// Each call rewrites at most one file; keep going while files qualify.
	for {
		err := b.db.RunValueLogGC(0.5)
		switch {
		case err == nil:
			continue
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected), errors.Is(err, badger.ErrGCInMemoryMode):
			return nil
		default:
			return fmt.Errorf("store: gc: %w", err)
		}
	}
}
