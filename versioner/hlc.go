package versioner

import (
	"math"
	"sync/atomic"
	"time"
)

// LogicalBits is the width of the logical part of an HLC version.
const LogicalBits = 16

// maxPhysical is the largest millisecond count that fits above the logical
// bits (about the year 10889); later clocks are clamped to it.
const maxPhysical = 1<<(64-LogicalBits) - 1

// HLC is a hybrid logical clock: a version is the unix time in milliseconds
// shifted left by LogicalBits, or'ed with a logical counter. Next returns
// max(last+1, physical<<LogicalBits), so:
//
//   - while the clock advances, versions track it and the logical part is 0;
//   - when it stands still or steps back, the logical part counts up from
//     the last version, and 65536 versions in one millisecond carry into
//     the physical part, which then runs slightly ahead of the clock until
//     the clock catches up. Versions never decrease either way.
type HLC struct {
	now  func() time.Time
	last atomic.Uint64
}

// NewHLC returns an HLC reading time from now, typically time.Now in
// production and a scripted clock in tests. It panics if now is nil: the
// package never reads the clock on its own.
func NewHLC(now func() time.Time) *HLC {
	if now == nil {
		panic("versioner: NewHLC needs a clock")
	}
	return &HLC{now: now}
}

// Restore raises the clock to max; it never lowers it.
func (h *HLC) Restore(max uint64) { raise(&h.last, max) }

// Witness merges a version seen from another node, so later local versions
// sort after it. Optional: per-node monotonicity does not need it, but it
// keeps versions of different nodes roughly causal. A peer whose clock runs
// far ahead drags this node's versions along with it (safe, but Physical
// then decodes to that peer's future time).
func (h *HLC) Witness(v uint64) { raise(&h.last, v) }

// Next returns max(last+1, physical now << LogicalBits). It panics rather
// than wrap around after math.MaxUint64.
func (h *HLC) Next() uint64 {
	pt := physical(h.now()) << LogicalBits
	for {
		cur := h.last.Load()
		if cur == math.MaxUint64 {
			panic(exhausted)
		}
		v := max(cur+1, pt)
		if h.last.CompareAndSwap(cur, v) {
			return v
		}
	}
}

// Physical decodes the wall-clock part of a version made by an HLC: the
// millisecond it was issued at, or later if the logical part overflowed or
// a peer's clock ran ahead. It does not use the receiver's state.
func (h *HLC) Physical(v uint64) time.Time {
	return time.UnixMilli(int64(v >> LogicalBits))
}

// Logical returns the logical part of a version made by an HLC.
func (h *HLC) Logical(v uint64) uint16 { return uint16(v) }

// physical is t in unix milliseconds, clamped to what fits in a version:
// before 1970 counts as 0 (versions then come from the logical part alone).
// Seconds are checked first because UnixMilli is undefined when the
// milliseconds overflow an int64.
func physical(t time.Time) uint64 {
	sec := t.Unix()
	switch {
	case sec < 0:
		return 0
	case sec > maxPhysical/1000:
		return maxPhysical
	}
	return min(uint64(t.UnixMilli()), maxPhysical)
}
