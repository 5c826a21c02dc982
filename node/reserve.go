package node

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// ErrDiskFull is what a write returns while the data directory's file
// system has less free space than min_free_disk. Badger maps its files
// into memory, so running out of space mid-write can kill the process
// (SIGBUS) rather than fail a write: the reserve keeps the node out of
// that state, refusing writes and peers' data while gossiping on.
var ErrDiskFull = errors.New("node: free disk space below min_free_disk")

// reserve watches the data directory's free space, read at most once per
// reserveEvery: a write path cannot afford a statfs each.
type reserve struct {
	dir  string
	min  uint64
	low  atomic.Bool
	free atomic.Uint64
	at   atomic.Int64 // unix ns of the last reading
}

const reserveEvery = time.Second

// newReserve watches dir for min bytes free; nil when there is nothing to
// watch (no data directory, or the reserve is off).
func newReserve(dir string, min int64) *reserve {
	if dir == "" || min <= 0 {
		return nil
	}
	return &reserve{dir: dir, min: uint64(min)}
}

// check reports ErrDiskFull, with the space left, while below the reserve.
func (r *reserve) check() error {
	if r == nil {
		return nil
	}
	now := time.Now().UnixNano()
	if last := r.at.Load(); now-last >= int64(reserveEvery) && r.at.CompareAndSwap(last, now) {
		if free, ok := freeBytes(r.dir); ok {
			r.free.Store(free)
			r.low.Store(free < r.min)
		}
	}
	if r.low.Load() {
		return fmt.Errorf("%w: %d bytes left in %s, %d reserved", ErrDiskFull, r.free.Load(), r.dir, r.min)
	}
	return nil
}
