package node

import (
	"context"
	"fmt"
	gosync "sync"
	"testing"
	"time"
)

// TestConcurrentSetsGroupCommitted: many writers at once each get a
// distinct version, every write is readable, and writes that queue while a
// commit runs share the next batch. The first commit is held in the store
// until every other writer has queued (and the others start only once it
// is held), so the grouping is certain rather than left to the scheduler.
func TestConcurrentSetsGroupCommitted(t *testing.T) {
	st := (&diskModel{}).open()
	n, err := New(fastConfig("g"), WithStore(st), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	release := st.holdNextApply()
	defer release()
	const writers, each = 16, 50
	versions := make([][]uint64, writers)
	var wg gosync.WaitGroup
	for w := 0; w < writers; w++ {
		if w == 1 {
			// The first writer's first Set alone is in the held Apply: a
			// writer that queued before that writer took its group would
			// share it.
			eventually(t, 10*time.Second, func() error {
				if !st.held() {
					return fmt.Errorf("no Apply held yet")
				}
				return nil
			})
		}
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				v, err := n.Set(context.Background(), fmt.Sprintf("w%d-%d", w, i), []byte("x"))
				if err != nil {
					t.Error(err)
					return
				}
				versions[w] = append(versions[w], v)
			}
		}(w)
	}
	// One writer's first Set is held in Apply; the other writers queue.
	eventually(t, 10*time.Second, func() error {
		n.writes.mu.Lock()
		defer n.writes.mu.Unlock()
		if q := len(n.writes.pending); q < writers-1 {
			return fmt.Errorf("%d writers queued, want %d", q, writers-1)
		}
		return nil
	})
	release()
	wg.Wait()
	seen := map[uint64]bool{}
	for w := range versions {
		for i, v := range versions[w] {
			if seen[v] {
				t.Fatalf("version %d issued twice", v)
			}
			seen[v] = true
			if got, err := n.Get(context.Background(), "", fmt.Sprintf("w%d-%d", w, i)); err != nil || got.Version != v {
				t.Fatalf("w%d-%d: version %d (%v), Set returned %d", w, i, got.Version, err, v)
			}
		}
	}
	calls := st.applyCalls()
	if len(calls) < 2 || calls[0] != 1 || calls[1] != writers-1 {
		t.Fatalf("records per batch %v: want the held first write alone, then the %d queued ones together", calls[:min(len(calls), 4)], writers-1)
	}
	if st := n.Status(); st.Stats.Batches >= writers*each {
		t.Fatalf("%d batches for %d writes: nothing was grouped", st.Stats.Batches, writers*each)
	}
}

// BenchmarkSetParallel: durable Sets from many goroutines (group commit).
func BenchmarkSetParallel(b *testing.B) {
	n := diskNode(b)
	defer n.Close()
	val := make([]byte, 100)
	var ctr gosync.Mutex
	id := 0
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctr.Lock()
		id++
		me := id
		ctr.Unlock()
		for i := 0; pb.Next(); i++ {
			if _, err := n.Set(context.Background(), fmt.Sprintf("k%d-%d", me, i), val); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sets/s")
}

// BenchmarkSetSerial: one writer, one transaction per Set.
func BenchmarkSetSerial(b *testing.B) {
	n := diskNode(b)
	defer n.Close()
	val := make([]byte, 100)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := n.Set(context.Background(), fmt.Sprintf("k%d", i), val); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sets/s")
}

// diskNode is an unstarted node on a Badger directory, for write benchmarks.
func diskNode(b *testing.B) *Node {
	cfg := fastConfig("bench")
	cfg.InMemory, cfg.DataDir = false, b.TempDir()
	n, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return n
}
