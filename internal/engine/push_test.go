package engine

import (
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// pushEngine is an engine that pushes to fanout peers and holds live the
// peers at addrs, without running the detector to get there.
func pushEngine(t *testing.T, id string, fanout, rate int, addrs ...string) *Engine {
	t.Helper()
	e := newEngineWith(t, id, func(c *Config) { c.PushFanout, c.PushRate = fanout, rate })
	e.ts.live, e.ts.dirty = addrs, false
	return e
}

func pushesIn(rd *Ready) (to []string, m *lsync.Push) {
	for _, o := range rd.Send {
		if p, ok := o.Msg.(*lsync.Push); ok {
			to, m = append(to, o.To), p
		}
	}
	return to, m
}

// A write is pushed only once its batch is committed, with the hop limit,
// to fanout distinct live peers; a batch that failed to persist is pushed
// to no one.
func TestWriteIsPushedOnlyOnCommit(t *testing.T) {
	e := pushEngine(t, "a", 3, 0, "b:1", "c:1", "d:1", "e:1", "f:1")
	rd, err := e.Write(t0, []lsync.Record{{Key: "k", Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	if to, _ := pushesIn(&rd); len(to) > 0 {
		t.Fatalf("pushed before the batch is durable: %v", to)
	}
	e.Commit(&rd)
	to, m := pushesIn(&rd)
	if len(to) != 3 || m == nil {
		t.Fatalf("pushed to %v, want 3 peers", to)
	}
	seen := map[string]bool{}
	for _, a := range to {
		if seen[a] || a == "a:1" {
			t.Fatalf("targets %v: a repeat or the node itself", to)
		}
		seen[a] = true
	}
	if m.Hops != e.hopLimit() || len(m.Deltas) != 1 || m.Deltas[0].From != 0 || m.Deltas[0].To != 1 ||
		len(m.Deltas[0].Records) != 1 {
		t.Fatalf("push %+v", m)
	}

	rd, err = e.Write(t0, []lsync.Record{{Key: "k2", Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	e.Abort(&rd)
	if to, _ := pushesIn(&rd); len(to) > 0 {
		t.Fatalf("an aborted batch was pushed to %v", to)
	}
}

// knowA has e learn of node a from a's own Syn, as a member would.
func knowA(e *Engine) {
	rd := e.Step(t0, "a:1", &lsync.Syn{Cluster: "test", From: "a", Complete: true,
		Digest: []lsync.DigestEntry{{ID: "a", Addr: "a:1", Generation: 1, Heartbeat: 1 << 32}}})
	e.Commit(&rd)
}

// A received push is persisted before it goes on, one hop lower and not
// back to its sender; a node that held it already stops it, and so does
// the last hop.
func TestPushIsForwardedOnlyWhenNew(t *testing.T) {
	a := pushEngine(t, "a", 2, 0, "b:1", "c:1")
	wr, _ := a.Write(t0, []lsync.Record{{Key: "k", Value: []byte("v")}})
	a.Commit(&wr)
	_, m := pushesIn(&wr)

	b := pushEngine(t, "b", 2, 0, "a:1", "c:1", "d:1")
	knowA(b)
	rd := b.Step(t0, "c:1", m)
	if rd.Batch.Empty() {
		t.Fatal("b took nothing from the push")
	}
	if to, _ := pushesIn(&rd); len(to) > 0 {
		t.Fatalf("b passed the push on before committing it: %v", to)
	}
	b.Commit(&rd)
	to, fwd := pushesIn(&rd)
	if len(to) == 0 || fwd.Hops != m.Hops-1 {
		t.Fatalf("b passed on %v with %+v, want one hop less than %d", to, fwd, m.Hops)
	}
	for _, addr := range to {
		if addr == "c:1" || addr == "a:1" {
			t.Fatalf("b pushed back to its sender or the writer: %v", to)
		}
	}
	again := b.Step(t0, "d:1", m)
	b.Commit(&again)
	if to, _ := pushesIn(&again); len(to) > 0 || !again.Batch.Empty() {
		t.Fatalf("a duplicate push went on to %v", to)
	}

	last := *m
	last.Hops = 1
	c := pushEngine(t, "c", 2, 0, "a:1", "b:1", "d:1")
	knowA(c)
	rd = c.Step(t0, "b:1", &last)
	c.Commit(&rd)
	if rd.Batch.Empty() {
		t.Fatal("the last hop's receiver took nothing")
	}
	if to, _ := pushesIn(&rd); len(to) > 0 {
		t.Fatalf("a push with no hops left went on to %v", to)
	}

	// A sender cannot make a push travel further than the receiver's own
	// limit.
	wr, _ = a.Write(t0, []lsync.Record{{Key: "k2", Value: []byte("v")}})
	a.Commit(&wr)
	_, far := pushesIn(&wr)
	far.Hops = 255
	rd = c.Step(t0, "b:1", far)
	c.Commit(&rd)
	if _, fwd := pushesIn(&rd); fwd == nil || fwd.Hops > c.hopLimit() {
		t.Fatalf("a push of 255 hops went on as %+v, limit %d", fwd, c.hopLimit())
	}
}

// Writes faster than the push's rate are left to the rounds: the token
// bucket refills with time given as input.
func TestPushRateDegradesToRounds(t *testing.T) {
	e := pushEngine(t, "a", 1, 4, "b:1")
	pushed := func(at time.Time) bool {
		rd, err := e.Write(at, []lsync.Record{{Key: "k", Value: []byte("v")}})
		if err != nil {
			t.Fatal(err)
		}
		e.Commit(&rd)
		to, _ := pushesIn(&rd)
		return len(to) > 0
	}
	for i := 0; i < 4; i++ {
		if !pushed(t0) {
			t.Fatalf("write %d within the burst was not pushed", i)
		}
	}
	if pushed(t0) {
		t.Fatal("a write over the rate was pushed")
	}
	if s := e.PushStats(); s.Throttled != 1 || s.Started != 4 {
		t.Fatalf("stats %+v", s)
	}
	if !pushed(t0.Add(300 * time.Millisecond)) {
		t.Fatal("the bucket did not refill")
	}
}

// A batch whose records do not fit one datagram is left to the rounds.
func TestLargeBatchIsNotPushed(t *testing.T) {
	e := pushEngine(t, "a", 3, 0, "b:1", "c:1")
	rd, err := e.Write(t0, []lsync.Record{{Key: "k", Value: make([]byte, 2000)}})
	if err != nil {
		t.Fatal(err)
	}
	e.Commit(&rd)
	if to, _ := pushesIn(&rd); len(to) > 0 {
		t.Fatalf("a 2000-byte record was pushed to %v", to)
	}
	if e.PushStats().TooLarge != 1 {
		t.Fatalf("stats %+v", e.PushStats())
	}
}
