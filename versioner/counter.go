package versioner

import (
	"math"
	"sync/atomic"
)

// Counter issues last+1. The zero value is ready to use (starting at 1) but
// must still be Restored on a node that has written before.
type Counter struct {
	last atomic.Uint64
}

// NewCounter returns a counter whose first version is 1, or max+1 after
// Restore(max).
func NewCounter() *Counter { return &Counter{} }

// Restore raises the counter to max; it never lowers it.
func (c *Counter) Restore(max uint64) { raise(&c.last, max) }

// Next returns the previous version plus one. It panics rather than wrap
// around after math.MaxUint64.
func (c *Counter) Next() uint64 {
	for {
		cur := c.last.Load()
		if cur == math.MaxUint64 {
			panic(exhausted)
		}
		if c.last.CompareAndSwap(cur, cur+1) {
			return cur + 1
		}
	}
}
