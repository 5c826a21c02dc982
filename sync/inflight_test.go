package sync

import (
	"fmt"
	"testing"
)

// TestInflightBounded: requesters are made-up ids as far as the core can
// tell, so tracking is bounded: past maxInflightRequesters, expired entries
// are swept, and live ones are kept rather than displaced.
func TestInflightBounded(t *testing.T) {
	var f inflight
	ds := []NodeDelta{{ID: "p", Generation: 1, To: 10}}
	for i := 0; i < 3*maxInflightRequesters; i++ {
		f.record(fmt.Sprintf("forged-%d", i), 1, ds, 1000)
	}
	if len(f.to) != maxInflightRequesters {
		t.Fatalf("%d requesters tracked, want the bound %d", len(f.to), maxInflightRequesters)
	}
	if _, ok := f.to["forged-0"]; !ok {
		t.Fatal("a live entry was displaced by a newcomer")
	}
	later := uint64(1000 + inflightTTL + 1)
	f.record("real", 1, ds, later)
	if len(f.to) != 1 || f.to["real"] == nil {
		t.Fatalf("after expiry %d requesters tracked, want only the new one", len(f.to))
	}
}
