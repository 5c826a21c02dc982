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

// A chunk lost on the way (refused as a gap after two exchanges' chunks
// crossed) is sent again within inflightTTL even while chunks keep going
// on from the end of it: continuing does not keep the entry young.
func TestInflightLostChunkIsResent(t *testing.T) {
	var f inflight
	p := &peer{meta: PeerMeta{ID: "p", Generation: 1, MaxVersion: 1000}}
	f.record("r", 1, []NodeDelta{{ID: "p", Generation: 1, From: 0, To: 10}}, 1000)
	for now := uint64(1500); now <= 1000+inflightTTL; now += 500 {
		// The requester still says 0: each request is sent on from the end.
		c := f.skipSent("r", 1, []candidate{{p: p, from: 0}}, now)
		if len(c) != 1 || c[0].from == 0 {
			t.Fatalf("at %d: %+v, want a chunk from the end of the one in flight", now, c)
		}
		f.record("r", 1, []NodeDelta{{ID: "p", Generation: 1, From: c[0].from, To: c[0].from + 10}}, now)
	}
	c := f.skipSent("r", 1, []candidate{{p: p, from: 0}}, 1000+inflightTTL+1)
	if len(c) != 1 || c[0].from != 0 {
		t.Fatalf("after inflightTTL: %+v, want the lost chunk again from 0", c)
	}
}
