package health

import (
	"slices"
	"testing"
	"time"
)

// TestSettledPeersWakeUp: in monitored mode Check leaves alone the peers
// alive by their monitors' word (see Detector.settled); whatever can take
// such a peer down must put it back in view, and a peer removed and heard
// of again must be judged once, as a new one.
func TestSettledPeersWakeUp(t *testing.T) {
	tests := []struct {
		name string
		poke func(d *Detector, now time.Time)
		want func(r Report) bool
	}{
		{"verdict", func(d *Detector, _ time.Time) { d.setVerdict("p", true) },
			func(r Report) bool { return slices.Equal(r.Suspended, []string{"p"}) }},
		{"last resort after a long silence", func(d *Detector, _ time.Time) { d.setLastResort("p", true) },
			func(r Report) bool { return slices.Equal(r.Suspended, []string{"p"}) }},
		{"direct beats gone silent", func(d *Detector, now time.Time) { d.directBeat("p", now.Add(-time.Hour)) },
			func(r Report) bool { return slices.Equal(r.Silent, []string{"p"}) }},
		{"removed and heard of again", func(d *Detector, now time.Time) {
			d.Remove("p")
			d.Heartbeat("p", now.Add(-2*time.Second))
			d.Heartbeat("p", now.Add(-time.Second))
		}, func(r Report) bool { return slices.Equal(r.Discovered, []string{"p"}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, func(c *Config) { c.Monitored = true; c.InitialInterval = time.Second })
			for i := range 5 {
				d.Heartbeat("p", at(time.Duration(i)*time.Second))
				d.Check(at(time.Duration(i)*time.Second + time.Millisecond))
			}
			mustState(t, d, "p", Alive)
			if len(d.active) != 0 {
				t.Fatalf("%d peers in view, want none: p is settled", len(d.active))
			}
			// Long enough for the last resort (10 × DeadAfter of silence);
			// checks a second apart, or PauseGuard takes it for a stall.
			now := at(time.Hour)
			if r := d.Check(now.Add(-time.Second)); !r.Empty() {
				t.Fatalf("a settled peer changed: %+v", r)
			}
			tt.poke(d, now)
			if r := d.Check(now); !tt.want(r) {
				t.Fatalf("check after the change: %+v", r)
			}
		})
	}
}
