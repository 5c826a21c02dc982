package node

import (
	"context"
	"fmt"
	"sort"
	"testing"
)

// TestKeysOfEngineMemory: with a store that cannot be read from, the
// records are in the engine's memory, which has no lock of its own; Keys
// and Scan read it a page at a time under the node's lock (the race
// detector checks it) while writes go on, and see every key written
// before they started, in order across pages.
func TestKeysOfEngineMemory(t *testing.T) {
	n := startNode(t, fastConfig("mem"), WithStore(newCoreStore(t)))
	if n.disk != nil {
		t.Fatal("a store without reads is read from")
	}
	kvs := make([]KV, 3*scanPage+10)
	for i := range kvs {
		kvs[i] = KV{Key: fmt.Sprintf("k%05d", i), Value: []byte("v")}
	}
	if _, err := n.SetMany(context.Background(), kvs); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200; i++ {
			if _, err := n.Set(context.Background(), fmt.Sprint("more", i), []byte("v")); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := 0; i < 5; i++ {
		keys, err := n.Keys(context.Background(), "self")
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) < len(kvs) || !sort.StringsAreSorted(keys) {
			t.Fatalf("keys: %d, sorted %v; want at least %d sorted", len(keys), sort.StringsAreSorted(keys), len(kvs))
		}
		var last uint64
		seen := 0
		if err := n.Scan(context.Background(), "self", func(key string, e Entry) bool {
			if e.Version <= last {
				t.Fatalf("scan went from version %d to %d at %s", last, e.Version, key)
			}
			last = e.Version
			seen++
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if seen < len(kvs) {
			t.Fatalf("scan saw %d keys, want at least %d", seen, len(kvs))
		}
	}
	<-done
}
