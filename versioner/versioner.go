package versioner

import "sync/atomic"

// Versioner issues strictly increasing versions for one node's writes.
type Versioner interface {
	// Restore tells the versioner the highest version the node ever
	// issued (read from the store) before the first Next; afterwards Next
	// never returns a value <= max. It may be called again later, and
	// never lowers anything.
	Restore(max uint64)
	// Next returns a version strictly greater than every version returned
	// before and than the restored max.
	Next() uint64
}

var (
	_ Versioner = (*Counter)(nil)
	_ Versioner = (*HLC)(nil)
)

const exhausted = "versioner: version space exhausted (a restored or witnessed version is near 2^64; refusing to wrap around)"

// raise makes *last at least v.
func raise(last *atomic.Uint64, v uint64) {
	for {
		cur := last.Load()
		if v <= cur || last.CompareAndSwap(cur, v) {
			return
		}
	}
}
