package engine

import (
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// A push is followed by one probe, a tenth of a round later: a summary
// Syn listing the nodes with news, to as many live peers as the push.
// Pushes before it ran ride on it; one after it waits a quarter round
// from it. (The pushes are passed on from a writer, a's; a steady
// writer's own probe waits for a pause: TestSteadyWriterProbesWhenItPauses.)
func TestPushIsFollowedByOneProbe(t *testing.T) {
	a := pushEngine(t, "a", 3, 0, "b:1", "c:1")
	e := pushEngine(t, "b", 3, 0, "a:1", "c:1", "d:1", "e:1", "f:1", "g:1", "h:1", "i:1")
	knowA(e)
	gossip := e.cfg.Gossip
	// pass has b take a's next write from a push, as a relay does; a's
	// writes are far apart, so that each is passed on.
	writes := 0
	pass := func(at time.Time, key string) Ready {
		t.Helper()
		writes++
		wr, err := a.Write(t0.Add(time.Duration(writes)*time.Hour-24*time.Hour), []lsync.Record{{Key: key, Value: []byte("v")}})
		if err != nil {
			t.Fatal(err)
		}
		a.Commit(&wr)
		_, m := pushesIn(&wr)
		rd := e.Step(at, "c:1", m)
		e.Commit(&rd)
		if to, _ := pushesIn(&rd); len(to) == 0 {
			t.Fatalf("b did not pass %s on", key)
		}
		return rd
	}
	rd := pass(t0, "k1")
	if want := t0.Add(gossip / probeDelay); !rd.ProbeAt.Equal(want) {
		t.Fatalf("probe at %v, want %v", rd.ProbeAt, want)
	}
	if rd := pass(t0.Add(time.Millisecond), "k2"); !rd.ProbeAt.IsZero() {
		t.Fatal("a second probe armed while one is pending")
	}
	if p := e.Probe(t0.Add(gossip/probeDelay - time.Millisecond)); len(p.Send) != 0 || !p.ProbeAt.Equal(t0.Add(gossip/probeDelay)) {
		t.Fatalf("called early: sent %d, due again at %v; want nothing sent, due at the same time", len(p.Send), p.ProbeAt)
	}
	p := e.Probe(t0.Add(gossip / probeDelay))
	if len(p.Send) != 3 {
		t.Fatalf("probe sent to %d peers, want 3", len(p.Send))
	}
	syn, ok := p.Send[0].Msg.(*lsync.Syn)
	if !ok || syn.Summary == 0 || len(syn.Digest) == 0 {
		t.Fatalf("probe %+v, want a summary listing the nodes with news", p.Send[0].Msg)
	}
	if again := e.Probe(t0.Add(gossip)); len(again.Send) != 0 {
		t.Fatal("probed twice for the same pushes")
	}
	// A push right after the probe waits a quarter round from it.
	rd = pass(t0.Add(gossip/probeDelay+time.Millisecond), "k3")
	if want := t0.Add(gossip/probeDelay + gossip/probesPerRound); !rd.ProbeAt.Equal(want) {
		t.Fatalf("probe at %v, want %v (a quarter round after the last)", rd.ProbeAt, want)
	}
}

// A steady writer's probe waits for its writes to pause: its pushes reach
// every live peer in turn, and a probe meanwhile would open exchanges that
// carry the records in flight again.
func TestSteadyWriterProbesWhenItPauses(t *testing.T) {
	e := pushEngine(t, "a", 2, 0, "b:1", "c:1", "d:1", "e:1")
	gossip := e.cfg.Gossip
	var last time.Time
	for i := range 40 {
		last = t0.Add(time.Duration(i) * 5 * time.Millisecond)
		rd, err := e.Write(last, []lsync.Record{{Key: "k", Value: []byte("v")}})
		if err != nil {
			t.Fatal(err)
		}
		e.Commit(&rd)
		if p := e.Probe(last); len(p.Send) != 0 {
			t.Fatalf("write %d: probed while writing steadily", i)
		}
	}
	due := last.Add(gossip / probeDelay)
	if p := e.Probe(due.Add(-time.Millisecond)); len(p.Send) != 0 || !p.ProbeAt.Equal(due) {
		t.Fatalf("probe due at %v, want a tenth of a round after the last write, %v", p.ProbeAt, due)
	}
	if p := e.Probe(due); len(p.Send) != 2 {
		t.Fatalf("probe after the pause sent to %d peers, want 2", len(p.Send))
	}
}
