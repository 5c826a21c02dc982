package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

func openDir(t testing.TB, dir string) *Badger {
	t.Helper()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	return s
}

func openMem(t testing.TB) *Badger {
	t.Helper()
	s, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatalf("Open(InMemory): %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func mustClose(t testing.TB, s *Badger) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// crash closes the database as a crash leaves it: the shutdown not marked
// clean. The roll-forward goroutine stops first, as a process's would.
func (b *Badger) crash() error {
	b.stopRoller()
	return b.db.Close()
}

func mustApply(t testing.TB, s *Badger, b *lsync.Batch) {
	t.Helper()
	if err := s.Apply(b); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

type loaded struct {
	meta lsync.PeerMeta
	recs []lsync.Record
}

func loadAll(t testing.TB, s *Badger) map[string]loaded {
	t.Helper()
	out := make(map[string]loaded)
	err := s.Load(func(m lsync.PeerMeta, recs []lsync.Record) error {
		if _, dup := out[m.ID]; dup {
			return fmt.Errorf("peer %q loaded twice", m.ID)
		}
		out[m.ID] = loaded{m, recs}
		return nil
	})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return out
}

// recs makes n records of peer-unique keys with versions from+1..from+n.
func recs(prefix string, from uint64, n int, valueLen int) []lsync.Record {
	out := make([]lsync.Record, n)
	for i := range out {
		v := make([]byte, valueLen)
		for j := range v {
			v[j] = byte(i + j)
		}
		out[i] = lsync.Record{
			Key:     fmt.Sprintf("%s%07d", prefix, i),
			Value:   v,
			Version: from + uint64(i) + 1,
		}
	}
	return out
}

// writeRecords writes records of peer with generation gen and no meta, as a
// batch cut short by a crash leaves them.
func (b *Badger) writeRecords(peer string, gen uint64, rs []lsync.Record) error {
	batch := &lsync.Batch{Changes: []lsync.PeerChange{{
		Meta:    lsync.PeerMeta{ID: peer, Generation: gen, MaxVersion: ^uint64(0)},
		Records: rs,
	}}}
	recs, _ := encodeBatch(batch, nil, nil)
	ents := append(recs, runsOf(peer, rs)...)
	return b.inChunks(len(ents), func(txn *badger.Txn, i int) error { return txn.SetEntry(ents[i]) })
}

// rawRecordCount counts the records of peer on disk, servable or not.
func rawRecordCount(t testing.TB, s *Badger, peer string) int {
	t.Helper()
	return countPrefix(t, s, peerPrefix(peer))
}

// countPrefix counts the keys on disk under prefix.
func countPrefix(t testing.TB, s *Badger, prefix []byte) int {
	t.Helper()
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("count records: %v", err)
	}
	return n
}
