package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	gosync "sync"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
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

// gatedCommit is a commit for groupCommit tests: each call reports its
// group on calls and waits for a token on release before answering it.
type gatedCommit struct {
	calls   chan []*writeReq
	release chan struct{}
}

func newGatedCommit() *gatedCommit {
	return &gatedCommit{calls: make(chan []*writeReq, 16), release: make(chan struct{})}
}

func (g *gatedCommit) commit(group []*writeReq) {
	g.calls <- group
	<-g.release
	for _, r := range group {
		r.done <- nil
	}
}

// next returns the group of the next commit call, failing after 10 s.
func (g *gatedCommit) next(t *testing.T) []*writeReq {
	t.Helper()
	select {
	case group := <-g.calls:
		return group
	case <-time.After(10 * time.Second):
		t.Fatal("no commit within 10 s")
		return nil
	}
}

// TestGroupCommitLeaderHandsOverOnItsContext: a leader whose context ends
// while it commits returns once its own write is done, handing the lead to
// the oldest waiter instead of committing for it.
func TestGroupCommitLeaderHandsOverOnItsContext(t *testing.T) {
	var g groupCommit
	gc := newGatedCommit()
	leadCtx, cancelLead := context.WithCancel(context.Background())
	defer cancelLead()
	lead := make(chan error, 1)
	go func() { lead <- g.submit(leadCtx, make([]lsync.Record, 1), gc.commit) }()
	gc.next(t) // the leader's own write, held

	waiter := make(chan error, 1)
	go func() { waiter <- g.submit(context.Background(), make([]lsync.Record, 1), gc.commit) }()
	eventually(t, 10*time.Second, func() error {
		g.mu.Lock()
		defer g.mu.Unlock()
		if len(g.pending) != 1 {
			return fmt.Errorf("%d queued, want 1", len(g.pending))
		}
		return nil
	})
	cancelLead()
	gc.release <- struct{}{}
	if err := <-lead; err != nil {
		t.Fatalf("leader's write, committed: %v", err)
	}
	// The waiter's commit is now the waiter's own: the leader returned
	// without waiting for it.
	gc.next(t)
	gc.release <- struct{}{}
	if err := <-waiter; err != nil {
		t.Fatalf("waiter's write: %v", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.leading || len(g.pending) != 0 {
		t.Fatalf("after both: leading %v, %d queued", g.leading, len(g.pending))
	}
}

// TestGroupCommitWithdrawPassesPromotion: a waiter withdrawn after being
// promoted passes the lead to the next waiter, or ends it if none waits,
// so that no writer is left queued with no one leading.
func TestGroupCommitWithdrawPassesPromotion(t *testing.T) {
	req := func() *writeReq { return &writeReq{ctx: context.Background(), done: make(chan error, 1)} }
	for _, tc := range []struct {
		name    string
		waiters int
	}{{"next waiter leads", 1}, {"no one left", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			g := groupCommit{leading: true}
			promoted := req()
			g.pending = append(g.pending, promoted)
			for range tc.waiters {
				g.pending = append(g.pending, req())
			}
			promoted.done <- errPromoted
			others := slices.Clone(g.pending[1:])
			if !g.withdraw(promoted) {
				t.Fatal("a queued request was not withdrawn")
			}
			if len(g.pending) != tc.waiters {
				t.Fatalf("%d queued after the withdrawal, want %d", len(g.pending), tc.waiters)
			}
			if tc.waiters == 0 {
				if g.leading {
					t.Fatal("lead kept with no one queued")
				}
				return
			}
			select {
			case err := <-others[0].done:
				if !errors.Is(err, errPromoted) {
					t.Fatalf("next waiter told %v, want errPromoted", err)
				}
			default:
				t.Fatal("the promotion was lost with the withdrawn request")
			}
		})
	}
}

// TestGroupCommitTakeSkipsEnded: a request whose context ended while queued
// is answered with its error and left out of the group.
func TestGroupCommitTakeSkipsEnded(t *testing.T) {
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	live := &writeReq{ctx: context.Background(), recs: make([]lsync.Record, 1), done: make(chan error, 1)}
	dead := &writeReq{ctx: ended, recs: make([]lsync.Record, 1), done: make(chan error, 1)}
	g := groupCommit{pending: []*writeReq{dead, live}}
	group := g.take()
	if len(group) != 1 || group[0] != live || len(g.pending) != 0 {
		t.Fatalf("took %d requests (live first: %v), %d left", len(group), len(group) > 0 && group[0] == live, len(g.pending))
	}
	if err := <-dead.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("ended request told %v, want context.Canceled", err)
	}
}
