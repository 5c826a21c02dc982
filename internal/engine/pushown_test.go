package engine

import (
	"fmt"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// A steady writer's push to a peer starts where its last push to that
// peer ended, so the peer can apply every push it gets (none starts above
// its watermark), and carries each record the peer has not been sent, once.
// Such pushes go no further than their target: the writer's next pushes
// reach the rest.
func TestSteadyWriterPushesWhatEachPeerMissed(t *testing.T) {
	peers := []string{"b:1", "c:1", "d:1", "e:1"}
	e := pushEngine(t, "a", 1, 0, peers...)
	last := map[string]uint64{}  // peer -> own version its pushes reached
	got := map[string][]uint64{} // peer -> versions it was sent
	for i := range 40 {
		at := t0.Add(time.Duration(i) * 5 * time.Millisecond)
		rd, err := e.Write(at, []lsync.Record{{Key: fmt.Sprintf("k%d", i%7), Value: []byte("v")}})
		if err != nil {
			t.Fatal(err)
		}
		e.Commit(&rd)
		to, m := pushesIn(&rd)
		if len(to) != 1 || len(m.Deltas) != 1 {
			t.Fatalf("write %d pushed to %v: %+v", i, to, m)
		}
		d := m.Deltas[0]
		if i >= 2 && m.Hops != 1 {
			t.Fatalf("write %d of a steady writer goes %d hops, want 1", i, m.Hops)
		}
		if m.Hops != 1 {
			continue // a write after a pause: pushed as it is, and passed on
		}
		if from, seen := last[to[0]]; seen && d.From != from {
			t.Fatalf("write %d: push to %s starts at %d, its last ended at %d", i, to[0], d.From, from)
		}
		last[to[0]] = d.To
		for _, r := range d.Records {
			got[to[0]] = append(got[to[0]], r.Version)
		}
	}
	for _, p := range peers {
		vs := got[p]
		for i := 1; i < len(vs); i++ {
			if vs[i] <= vs[i-1] {
				t.Fatalf("%s was sent version %d after %d: a record twice or out of order", p, vs[i], vs[i-1])
			}
		}
	}
}

// A write after a pause is passed on with the full hop limit: no later
// push would bring it to the peers this one misses.
func TestWriteAfterAPauseIsPassedOn(t *testing.T) {
	tests := []struct {
		name  string
		pause time.Duration
		hops  func(e *Engine) uint8
	}{
		{"steady", 5 * time.Millisecond, func(*Engine) uint8 { return 1 }},
		{"after a pause", time.Second, func(e *Engine) uint8 { return e.hopLimit() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := pushEngine(t, "a", 2, 0, "b:1", "c:1", "d:1", "e:1")
			var m *lsync.Push
			at := t0
			for i := range 3 {
				rd, err := e.Write(at, []lsync.Record{{Key: fmt.Sprintf("k%d", i), Value: []byte("v")}})
				if err != nil {
					t.Fatal(err)
				}
				e.Commit(&rd)
				_, m = pushesIn(&rd)
				at = at.Add(tc.pause)
			}
			if want := tc.hops(e); m == nil || m.Hops != want {
				t.Fatalf("push %+v, want %d hops", m, want)
			}
		})
	}
}

// The records kept for widening are bounded, and a peer last sent
// something older than they reach gets a plain push.
func TestOwnRecentIsBounded(t *testing.T) {
	var o ownRecent
	v := uint64(0)
	for range ownRecentRecords + 100 {
		d := lsync.NodeDelta{ID: "a", From: v, To: v + 1, Records: []lsync.Record{{Key: "k", Version: v + 1}}}
		o.keep(&d)
		v++
	}
	if len(o.recs) != ownRecentRecords || o.floor != 100 {
		t.Fatalf("kept %d records above %d, want %d above 100", len(o.recs), o.floor, ownRecentRecords)
	}
	d := lsync.NodeDelta{ID: "a", From: v - 1, To: v}
	if _, ok := o.since(50, &d); ok {
		t.Fatal("widened from below what is kept")
	}
	w, ok := o.since(v-10, &d)
	if !ok || w.From != v-10 || len(w.Records) != 1 {
		t.Fatalf("widened to %+v, %v; want one record (the key's newest) from %d", w, ok, v-10)
	}
}
