package node

import (
	"fmt"
	gosync "sync"
	"testing"
)

// TestConcurrentSetsGroupCommitted: many writers at once each get a
// distinct version, every write is readable, and they shared batches.
func TestConcurrentSetsGroupCommitted(t *testing.T) {
	cfg := fastConfig("g")
	cfg.InMemory, cfg.DataDir = false, t.TempDir()
	n, err := New(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	const writers, each = 16, 200
	versions := make([][]uint64, writers)
	var wg gosync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				v, err := n.Set(fmt.Sprintf("w%d-%d", w, i), []byte("x"))
				if err != nil {
					t.Error(err)
					return
				}
				versions[w] = append(versions[w], v)
			}
		}(w)
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for w := range versions {
		for i, v := range versions[w] {
			if seen[v] {
				t.Fatalf("version %d issued twice", v)
			}
			seen[v] = true
			if got, ok := n.Version("", fmt.Sprintf("w%d-%d", w, i)); !ok || got != v {
				t.Fatalf("w%d-%d: version %d, Set returned %d", w, i, got, v)
			}
		}
	}
	if st := n.Status(); st.Stats.Batches >= writers*each {
		t.Logf("no batching happened (%d batches for %d writes): machine too idle to overlap", st.Stats.Batches, writers*each)
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
			if _, err := n.Set(fmt.Sprintf("k%d-%d", me, i), val); err != nil {
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
		if _, err := n.Set(fmt.Sprintf("k%d", i), val); err != nil {
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
