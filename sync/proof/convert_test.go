package proof_test

import (
	"bytes"
	"testing"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/proof"
)

// A record of package sync converts to a Record as it is: the fields are
// the same, in the same order. An external test: package sync imports
// this one.
func TestRecordConvertsFromSync(t *testing.T) {
	in := lsync.Record{Key: "k", Value: []byte("v"), Version: 3, Tombstone: true}
	r := proof.Record(in)
	if r.Key != in.Key || !bytes.Equal(r.Value, in.Value) || r.Version != in.Version || r.Tombstone != in.Tombstone {
		t.Fatalf("%+v from %+v", r, in)
	}
}
