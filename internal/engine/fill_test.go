package engine

import (
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// countingStorage counts the reads of a MemStorage-backed storage; while
// locked is set, a read fails the test (the driver's lock is held).
type countingStorage struct {
	*lsync.MemStorage
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
	mem := lsync.NewMemStorage()
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
	mem := lsync.NewMemStorage()
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
