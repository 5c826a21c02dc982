package sync_test

import (
	"math/rand"
	"strings"
	"testing"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/wire"
)

// The tests of package sync run with the real codec; see UseCodec.
func init() { lsync.UseCodec(wire.Encode, wire.Decode) }

// TestSizesMatchEncoding keeps the budget arithmetic exact: a message is
// filled by these sizes, and must never come out larger than its budget.
func TestSizesMatchEncoding(t *testing.T) {
	if lsync.HeaderSize != wire.HeaderSize {
		t.Fatalf("header sized %d, encoded %d", lsync.HeaderSize, wire.HeaderSize)
	}
	rng := rand.New(rand.NewSource(1))
	lens := []int{0, 1, 31, 32, 255, 256, 70000}
	nums := []uint64{0, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<64 - 1}
	for i := 0; i < 500; i++ {
		r := lsync.Record{
			Key:       strings.Repeat("k", lens[rng.Intn(len(lens))]),
			Version:   nums[rng.Intn(len(nums))],
			Tombstone: rng.Intn(2) == 0,
		}
		if n := lens[rng.Intn(len(lens))]; rng.Intn(4) > 0 {
			r.Value = make([]byte, n)
		}
		e := lsync.DigestEntry{ID: r.Key, Addr: strings.Repeat("a", lens[rng.Intn(3)]), Generation: nums[rng.Intn(len(nums))], Heartbeat: r.Version, MaxVersion: nums[rng.Intn(len(nums))]}
		if rng.Intn(2) == 0 {
			e.RecordSeq = nums[rng.Intn(len(nums))]
		}
		if rng.Intn(2) == 0 {
			e.BeatProof[rng.Intn(len(e.BeatProof))] = byte(1 + rng.Intn(255))
		}
		one, err := wire.Encode(&lsync.Ack{Deltas: []lsync.NodeDelta{{ID: "x", Records: []lsync.Record{r}}}})
		if err != nil {
			t.Fatal(err)
		}
		none, _ := wire.Encode(&lsync.Ack{Deltas: []lsync.NodeDelta{{ID: "x", Records: []lsync.Record{}}}})
		if got, want := len(one)-len(none), lsync.RecordSize(&r); got != want {
			t.Fatalf("record %d key, %d value, v%d: encoded %d, sized %d", len(r.Key), len(r.Value), r.Version, got, want)
		}
		withE, _ := wire.Encode(&lsync.Syn{Digest: []lsync.DigestEntry{e}})
		without, _ := wire.Encode(&lsync.Syn{Digest: []lsync.DigestEntry{}})
		if got, want := len(withE)-len(without), lsync.EntrySize(&e); got != want {
			t.Fatalf("entry: encoded %d, sized %d", got, want)
		}
	}
}
