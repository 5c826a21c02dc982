package engine

import (
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// TestPullWhenVouched: a node that checks record proofs and takes a
// sender's record pulls from it at once, as the exchange that came before
// the record carried nothing it could take; once per record, and not for
// a record it refused.
func TestPullWhenVouched(t *testing.T) {
	s := newSignedSet(t, "a", "p")
	stranger := newSignedSet(t, "p")
	syns := func(rd Ready, to string) int {
		c := 0
		for _, o := range rd.Send {
			if _, ok := o.Msg.(*lsync.Syn); ok && o.To == to {
				c++
			}
		}
		return c
	}
	a, p := s.provingEngine(t, "a", true), s.provingEngine(t, "p", true)
	forged := stranger.provingEngine(t, "p", true)
	plain := s.provingEngine(t, "a", false)
	for _, tc := range []struct {
		name string
		to   *Engine
		from *Engine
		at   time.Duration
		want int
	}{
		{"a record of an untrusted key", a, forged, 0, 0},
		{"the sender's record taken", a, p, 0, 1},
		{"the record held already", a, p, 10 * time.Second, 0},
		{"records without proofs", plain, p, 0, 0},
	} {
		rd := deliver(t, tc.to, t0.Add(tc.at), "p:1", tc.from.helloMsg())
		if got := syns(rd, "p:1"); got != tc.want {
			t.Errorf("%s: %d Syns to the sender, want %d (%+v)", tc.name, got, tc.want, rd.Send)
		}
	}
}
