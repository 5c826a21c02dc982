package engine

import (
	"fmt"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/memstore"
)

// countingStorage counts the reads of an in-memory storage; while
// locked is set, a read fails the test (the driver's lock is held).
type countingStorage struct {
	*memstore.MemStorage
	t      *testing.T
	scans  int
	locked bool
}

func (s *countingStorage) Scan(view lsync.PeerMeta, after uint64, fn func(*lsync.Record) bool) (uint64, error) {
	if s.locked {
		s.t.Errorf("storage scanned for %s while the engine's lock is held", view.ID)
	}
	s.scans++
	return s.MemStorage.Scan(view, after, fn)
}

// TestStepReadsNoStorage: answering a Syn reads the records of the reply
// only in Ready.ReadDeltas, which the driver runs outside its lock; Step
// itself (run under the lock) reads nothing.
func TestStepReadsNoStorage(t *testing.T) {
	mem := memstore.New()
	st := &countingStorage{MemStorage: mem, t: t}
	a := newEngineWith(t, "a", func(c *Config) { c.Storage = st })
	b := newEngine(t, "b", "a:1")
	wr, err := a.Write(t0, []lsync.Record{{Key: "k", Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	mem.Apply(wr.Batch) // what the node's store does before Commit
	a.Commit(&wr)

	st.locked = true
	rd := a.Step(t0, "b:1", b.Round(t0).Send[0].Msg)
	st.locked = false
	reply, ok := rd.Send[0].Msg.(*lsync.SynAck)
	if !ok || len(reply.Deltas) != 0 {
		t.Fatalf("Step answered %#v; want a SynAck with its deltas still unread", rd.Send[0].Msg)
	}
	rd.ReadDeltas()
	if st.scans == 0 || len(reply.Deltas) != 1 || len(reply.Deltas[0].Records) != 1 {
		t.Fatalf("after ReadDeltas: %d scans, deltas %+v; want a's write", st.scans, reply.Deltas)
	}

}

// TestCollectReadsNoStorage: a collection of the local node's tombstones
// reads the storage only in TombstoneScan.Read, which the driver runs
// outside its lock; PlanCollect and Collect read nothing.
func TestCollectReadsNoStorage(t *testing.T) {
	mem := memstore.New()
	st := &countingStorage{MemStorage: mem, t: t}
	a := newEngineWith(t, "a", func(c *Config) { c.Storage = st })
	for _, recs := range [][]lsync.Record{
		{{Key: "k", Value: []byte("v")}},
		{{Key: "k", Tombstone: true, Value: lsync.TombstoneValue(uint64(t0.UnixMilli()))}},
	} {
		wr, err := a.Write(t0, recs)
		if err != nil {
			t.Fatal(err)
		}
		mem.Apply(wr.Batch)
		a.Commit(&wr)
	}
	later := t0.Add(a.cfg.Tombstones + time.Second)
	st.locked = true
	scan := a.PlanCollect(later)
	st.locked = false
	if scan == nil || st.scans != 0 {
		t.Fatalf("PlanCollect: scan %v after %d reads; want one planned, none read", scan, st.scans)
	}
	scan.Read()
	st.locked = true
	rd := a.Collect(scan)
	st.locked = false
	if rd.Collected != 1 || st.scans != 1 {
		t.Fatalf("collected %d after %d reads; want the tombstone after one", rd.Collected, st.scans)
	}
}

// TestChunkInFlightAfterNoteSent: a reply's chunk on the stream path is in
// flight to the requester only once NoteSent has taken it into the core
// (the read runs outside the lock and touches no core state): a request
// answered before that gets the same chunk again, one answered after it
// continues past it (here: nothing left of a to send).
func TestChunkInFlightAfterNoteSent(t *testing.T) {
	for _, ext := range []bool{false, true} {
		t.Run(map[bool]string{false: "own", true: "external"}[ext], func(t *testing.T) {
			var mem *memstore.MemStorage
			a := newEngineWith(t, "a", func(c *Config) {
				if ext {
					mem = memstore.New()
					c.Storage = mem
				}
			})
			b := newEngine(t, "b", "a:1")
			recs := make([]lsync.Record, 40)
			for i := range recs {
				recs[i] = lsync.Record{Key: fmt.Sprint("k", i), Value: make([]byte, 3000)}
			}
			wr, err := a.Write(t0, recs)
			if err != nil {
				t.Fatal(err)
			}
			if mem != nil {
				mem.Apply(wr.Batch)
			}
			a.Commit(&wr)

			// fromA returns where the reply's delta of a starts, or -1
			// for none.
			fromA := func(rd *Ready) int {
				t.Helper()
				reply, ok := rd.Send[0].Msg.(*lsync.SynAck)
				if !ok {
					t.Fatalf("a answered %#v, want a SynAck", rd.Send[0].Msg)
				}
				for _, nd := range reply.Deltas {
					if nd.ID == "a" {
						return int(nd.From)
					}
				}
				return -1
			}
			syn := b.Round(t0).Send[0].Msg
			first := a.Step(t0, "b:1", syn)
			first.ReadDeltas()
			if got := fromA(&first); got != 0 {
				t.Fatalf("first reply: a's delta from %d, want 0", got)
			}
			second := a.Step(t0, "b:1", syn)
			second.ReadDeltas()
			if got := fromA(&second); got != 0 {
				t.Fatalf("reply before NoteSent: a's delta from %d, want the same chunk from 0", got)
			}
			a.NoteSent(&first)
			third := a.Step(t0, "b:1", syn)
			third.ReadDeltas()
			a.NoteSent(&third)
			if got := fromA(&third); got != -1 {
				t.Fatalf("reply after NoteSent: a's delta from %d, want none (all of it in flight)", got)
			}
		})
	}
}
