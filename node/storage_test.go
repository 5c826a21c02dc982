package node

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// TestRestartReadsRecordsFromTheStore: a node on Badger reads its records
// from the store, before and after a restart, which loads metadata only:
// values, versions, deletes, key lists and counts are what was written.
func TestRestartReadsRecordsFromTheStore(t *testing.T) {
	dir := t.TempDir()
	cfg := fastConfig("r0")
	cfg.Port, cfg.InMemory, cfg.DataDir = 0, false, dir
	n := startNode(t, cfg)
	var last uint64
	for i := 0; i < 50; i++ {
		v, err := n.Set(context.Background(), fmt.Sprint("k", i), []byte(fmt.Sprint("v", i)))
		if err != nil {
			t.Fatal(err)
		}
		last = v
	}
	if _, err := n.Set(context.Background(), "k7", []byte("seven")); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Delete(context.Background(), "k9"); err != nil {
		t.Fatal(err)
	}
	wantKeys, err := n.Keys(context.Background(), "self")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n = startNode(t, cfg)
	if n.disk == nil || n.eng.Storage() != lsync.Storage(n.disk) {
		t.Fatal("the engine does not read its records from the store")
	}
	for _, tc := range []struct {
		key, value string
		err        error
	}{
		{"k0", "v0", nil},
		{"k7", "seven", nil},
		{"k49", "v49", nil},
		{"k9", "", ErrNotFound},
		{"nope", "", ErrNotFound},
	} {
		e, err := n.Get(context.Background(), "self", tc.key)
		if !errors.Is(err, tc.err) || string(e.Value) != tc.value {
			t.Errorf("Lookup(%s) = %q, %v; want %q, %v", tc.key, e.Value, err, tc.value, tc.err)
		}
	}
	if got, err := n.Keys(context.Background(), "self"); err != nil || len(got) != 49 || !reflect.DeepEqual(got, wantKeys) {
		t.Fatalf("keys after restart: %d, want the 49 from before", len(got))
	}
	// The overwrite of k7 counts once, the deleted k9 not at all.
	if st := n.Status(); st.Keys != 49 || st.MaxVersion != last+2 {
		t.Fatalf("status after restart: %d keys at version %d, want 49 at %d", st.Keys, st.MaxVersion, last+2)
	}
}
