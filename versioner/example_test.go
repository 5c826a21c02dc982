package versioner_test

import (
	"fmt"
	"time"

	"github.com/leviathan-gossip/leviathan/versioner"
)

func ExampleNewCounter() {
	c := versioner.NewCounter()
	// The store says this node last wrote version 41 before it restarted.
	c.Restore(41)
	fmt.Println(c.Next(), c.Next())
	// Output: 42 43
}

func ExampleNewHLC() {
	clock := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	h := versioner.NewHLC(func() time.Time { return clock })

	a := h.Next()
	b := h.Next() // same millisecond: the logical part counts
	clock = clock.Add(-time.Second)
	c := h.Next() // clock stepped back: still increasing

	for _, v := range []uint64{a, b, c} {
		fmt.Println(h.Physical(v).UTC().Format(time.RFC3339Nano), h.Logical(v))
	}
	fmt.Println(a < b && b < c)
	// Output:
	// 2025-01-02T03:04:05Z 0
	// 2025-01-02T03:04:05Z 1
	// 2025-01-02T03:04:05Z 2
	// true
}
