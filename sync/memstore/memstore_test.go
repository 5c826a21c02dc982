package memstore

import (
	"fmt"
	gosync "sync"
	"testing"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// TestReadsBesideWrites: reads may run beside Apply (the race detector
// checks the lock), and see a gap-free prefix of what was applied.
func TestReadsBesideWrites(t *testing.T) {
	m := New()
	var wg gosync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for v := uint64(1); v <= 200; v++ {
			meta := lsync.PeerMeta{ID: "p", Generation: 1, MaxVersion: v}
			m.Apply(&lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta,
				Records: []lsync.Record{{Key: fmt.Sprint("k", v), Value: []byte("v"), Version: v}}}}})
		}
	}()
	for i := 0; i < 200; i++ {
		view := lsync.PeerMeta{ID: "p", Generation: 1, MaxVersion: 200}
		var last uint64
		if _, err := m.Scan(view, 0, func(r *lsync.Record) bool {
			if r.Version != last+1 {
				t.Errorf("scan went from %d to %d", last, r.Version)
			}
			last = r.Version
			return true
		}); err != nil {
			t.Fatal(err)
		}
		m.Get("p", "k1")
	}
	wg.Wait()
	if r, ok, err := m.Get("p", "k200"); !ok || err != nil || r.Version != 200 {
		t.Fatalf("k200: %+v %v %v", r, ok, err)
	}
}
