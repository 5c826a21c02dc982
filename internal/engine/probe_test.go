package engine

import (
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// A push waits in the outbox for pushDelay, joined by the pushes of the
// batches committed meanwhile, and is followed by one probe, a tenth of a
// round after it: a summary Syn listing the local node, to as many live
// peers as the push. Pushes before the probe ran ride on it; one after it
// waits a quarter round from it.
func TestPushIsFollowedByOneProbe(t *testing.T) {
	e := pushEngine(t, "a", 3, 0, "b:1", "c:1", "d:1", "e:1", "f:1")
	gossip := e.cfg.Gossip
	write := func(at time.Time, key string) Ready {
		t.Helper()
		rd, err := e.Write(at, []lsync.Record{{Key: key, Value: []byte("v")}})
		if err != nil {
			t.Fatal(err)
		}
		e.Commit(&rd)
		return rd
	}
	flushAt, probeAt := t0.Add(gossip/pushDelay), t0.Add(gossip/probeDelay)
	rd := write(t0, "k1")
	if len(rd.Send) != 0 || !rd.ProbeAt.Equal(flushAt) || !e.probeAt.Equal(probeAt) {
		t.Fatalf("sent %d at once, wake at %v, probe at %v; want none, %v, %v", len(rd.Send), rd.ProbeAt, e.probeAt, flushAt, probeAt)
	}
	if rd := write(t0.Add(time.Millisecond), "k2"); len(rd.Send) != 0 || !rd.ProbeAt.Equal(flushAt) || !e.probeAt.Equal(probeAt) {
		t.Fatal("a second write within the delay moved the outbox or the probe")
	}
	f := e.Probe(flushAt)
	if len(f.Send) != 3 || !f.ProbeAt.Equal(probeAt) {
		t.Fatalf("flush sent %d, wakes at %v; want 3 pushes, then the probe at %v", len(f.Send), f.ProbeAt, probeAt)
	}
	for _, o := range f.Send {
		m, ok := o.Msg.(*lsync.Push)
		if !ok || len(m.Deltas) != 1 || m.Deltas[0].From != 0 || m.Deltas[0].To != 2 || len(m.Deltas[0].Records) != 2 {
			t.Fatalf("flushed %+v, want one push of one delta (0, 2] with both records", o.Msg)
		}
	}
	if p := e.Probe(probeAt.Add(-time.Millisecond)); len(p.Send) != 0 || !p.ProbeAt.Equal(probeAt) {
		t.Fatalf("called early: sent %d, due again at %v; want nothing sent, due at the same time", len(p.Send), p.ProbeAt)
	}
	p := e.Probe(probeAt)
	if len(p.Send) != 3 || !p.ProbeAt.IsZero() {
		t.Fatalf("probe sent to %d peers, wakes at %v; want 3, and nothing left", len(p.Send), p.ProbeAt)
	}
	syn, ok := p.Send[0].Msg.(*lsync.Syn)
	if !ok || syn.Summary == 0 || len(syn.Digest) == 0 || syn.Digest[0].ID != "a" || syn.Digest[0].MaxVersion != 2 {
		t.Fatalf("probe %+v, want a summary listing a at version 2", p.Send[0].Msg)
	}
	if again := e.Probe(t0.Add(gossip)); len(again.Send) != 0 {
		t.Fatal("probed twice for the same pushes")
	}
	// A push right after the probe waits a quarter round from it.
	write(probeAt.Add(time.Millisecond), "k3")
	if want := probeAt.Add(gossip / probesPerRound); !e.probeAt.Equal(want) {
		t.Fatalf("probe at %v, want %v (a quarter round after the last)", e.probeAt, want)
	}
}
