package health

import (
	"slices"
	"testing"
	"time"
)

// TestMonitoredMode: in monitored mode a peer that beats directly is
// reported Silent once its direct silence passes DirectThreshold, but its
// state changes only on a verdict; relayed heartbeats alone never suspend a
// peer before the last resort (phi above IndirectThreshold and a silence
// over IndirectFloor, 10 × DeadAfter); a heartbeat after a verdict is cleared brings it back.
func TestMonitoredMode(t *testing.T) {
	mon := func(c *Config) {
		c.Monitored = true
		c.DirectThreshold = 3
		c.InitialInterval = time.Second
		c.DeadAfter = 30 * time.Second
	}
	tests := []struct {
		name string
		run  func(t *testing.T, d *Detector)
	}{
		{"direct silence is reported, not acted on", func(t *testing.T, d *Detector) {
			for i := range 10 {
				d.Heartbeat("p", at(time.Duration(i)*time.Second))
				d.directBeat("p", at(time.Duration(i)*time.Second))
				d.Check(at(time.Duration(i)*time.Second + time.Millisecond))
			}
			mustState(t, d, "p", Alive)
			if r := d.Check(at(11 * time.Second)); len(r.Silent) != 0 {
				t.Fatalf("silent after 2 s: %+v", r)
			}
			r := d.Check(at(12*time.Second + time.Millisecond))
			if !slices.Equal(r.Silent, []string{"p"}) || len(r.Suspended) != 0 {
				t.Fatalf("after 3 s of silence: %+v, want p silent and not suspended", r)
			}
			if r := d.Check(at(13 * time.Second)); len(r.Silent) != 0 {
				t.Fatalf("silent reported twice: %+v", r)
			}
			mustState(t, d, "p", Alive)
			d.setVerdict("p", true)
			if r := d.Check(at(14 * time.Second)); !slices.Equal(r.Suspended, []string{"p"}) {
				t.Fatalf("verdict: %+v, want p suspended", r)
			}
			d.setVerdict("p", false)
			mustState(t, d, "p", Suspended)
			d.Heartbeat("p", at(15*time.Second))
			if r := d.Check(at(15*time.Second + time.Millisecond)); !slices.Equal(r.Recovered, []string{"p"}) {
				t.Fatalf("after the verdict was cleared and a heartbeat: %+v", r)
			}
		}},
		{"relayed silence needs the floor too", func(t *testing.T, d *Detector) {
			for i := range 6 {
				d.Heartbeat("q", at(time.Duration(i)*time.Second))
				d.Check(at(time.Duration(i)*time.Second + time.Millisecond))
			}
			mustState(t, d, "q", Alive)
			d.setLastResort("q", true) // its monitors are down
			// Checked every second: phi passes 32 after 37 s of silence,
			// but the floor is 10 x dead_after = 5 min.
			for sec := 6; sec <= 306; sec++ {
				r := d.Check(at(time.Duration(sec) * time.Second))
				switch {
				case sec <= 305 && len(r.Suspended) != 0:
					t.Fatalf("suspended after %d s of relayed silence: %+v", sec-5, r)
				case sec == 306 && !slices.Equal(r.Suspended, []string{"q"}):
					t.Fatalf("not suspended after 301 s: %+v", r)
				}
			}
		}},
		{"relayed silence alone never suspends a peer with monitors up", func(t *testing.T, d *Detector) {
			for i := range 6 {
				d.Heartbeat("s", at(time.Duration(i)*time.Second))
				d.Check(at(time.Duration(i)*time.Second + time.Millisecond))
			}
			mustState(t, d, "s", Alive)
			if r := d.Check(at(time.Hour)); len(r.Suspended) != 0 {
				t.Fatalf("suspended after an hour of relayed silence without the last resort: %+v", r)
			}
			d.setLastResort("s", true)
			if r := d.Check(at(time.Hour + time.Second)); !slices.Equal(r.Suspended, []string{"s"}) {
				t.Fatalf("not suspended once the last resort is allowed: %+v", r)
			}
		}},
		{"released peer is not judged by its beats", func(t *testing.T, d *Detector) {
			for i := range 6 {
				d.Heartbeat("r", at(time.Duration(i)*time.Second))
				d.directBeat("r", at(time.Duration(i)*time.Second))
				d.Check(at(time.Duration(i)*time.Second + time.Millisecond))
			}
			d.indirect("r")
			if d.direct("r") {
				t.Fatal("still direct after Indirect")
			}
			if r := d.Check(at(20 * time.Second)); len(r.Silent) != 0 || len(r.Suspended) != 0 {
				t.Fatalf("released peer: %+v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newDetector(t, mon)) })
	}
}
