package health

import (
	"slices"
	"testing"
	"time"
)

// TestVouchedPeerNeedsNoSample: a new peer heard once is normally Joining
// until a second, risen heartbeat; one vouched for (it spoke to us itself,
// or a member holds it alive) is Discovered at the next Check. A peer that
// was alive before is not brought back by a vouch: its return needs a
// heartbeat.
func TestVouchedPeerNeedsNoSample(t *testing.T) {
	for _, tc := range []struct {
		name  string
		vouch bool
		want  []string
	}{
		{"heard once", false, nil},
		{"heard once and vouched for", true, []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDetector(t, nil)
			d.Heartbeat("a", at(0))
			if tc.vouch {
				d.Vouch("a")
			}
			if got := d.Check(at(time.Second)).Discovered; !slices.Equal(got, tc.want) {
				t.Fatalf("discovered %v, want %v", got, tc.want)
			}
		})
	}
	d := newDetector(t, nil)
	d.Heartbeat("a", at(0))
	d.Heartbeat("a", at(time.Second))
	d.Check(at(time.Second))
	for s := 2; s <= 40; s++ {
		d.Check(at(time.Duration(s) * time.Second))
	}
	mustState(t, d, "a", Suspended)
	d.Vouch("a")
	if r := d.Check(at(41 * time.Second)); len(r.Recovered) > 0 {
		t.Fatalf("a vouch brought back a peer seen alive before: %+v", r)
	}
}

// TestReviveReportsAtOnce: a peer down here and proven reborn (Reset) is
// brought up by Revive and reported in its report, not at the next Check;
// an alive or unknown peer is left alone.
func TestReviveReportsAtOnce(t *testing.T) {
	d := newDetector(t, nil)
	d.Heartbeat("a", at(0))
	d.Heartbeat("a", at(time.Second))
	d.Check(at(time.Second))
	if r := d.Revive("a", at(time.Second)); !r.Empty() {
		t.Fatalf("revived an alive peer: %+v", r)
	}
	for s := 2; s <= 40; s++ {
		d.Check(at(time.Duration(s) * time.Second))
	}
	mustState(t, d, "a", Suspended)
	d.Reset("a", at(41*time.Second))
	if r := d.Revive("a", at(41*time.Second)); !slices.Equal(r.Recovered, []string{"a"}) {
		t.Fatalf("revive reported %+v, want a recovered", r)
	}
	mustState(t, d, "a", Alive)
	if r := d.Check(at(42 * time.Second)); !r.Empty() {
		t.Fatalf("the next check reports again: %+v", r)
	}
	if r := d.Revive("nobody", at(42*time.Second)); !r.Empty() {
		t.Fatalf("revived an unknown peer: %+v", r)
	}
}

// TestAdmitBringsUpAtOnce: Admit brings up, without waiting for Check, a
// joining peer that has what Check would bring it up on (a sample, or a
// vouch), and only such a peer: a heartbeat seen once may be a dead
// peer's last, relayed; a peer under a verdict (or a leave) stays down;
// one that was alive and went down comes back only through Check; a
// peer alive already is not reported twice.
func TestAdmitBringsUpAtOnce(t *testing.T) {
	mon := func(c *Config) {
		c.Monitored = true
		c.DeadAfter = 30 * time.Second
	}
	tests := []struct {
		name   string
		mode   func(*Config)
		script func(d *Detector) // the peer "a" up to the admit at 2 s
		want   []string
	}{
		{"heard once", nil, func(d *Detector) { d.Heartbeat("a", at(time.Second)) }, nil},
		{"heartbeat rose", nil, func(d *Detector) {
			d.Heartbeat("a", at(time.Second))
			d.Heartbeat("a", at(2*time.Second))
		}, []string{"a"}},
		{"heard once, vouched for", nil, func(d *Detector) {
			d.Heartbeat("a", at(time.Second))
			d.Vouch("a")
		}, []string{"a"}},
		{"monitored: heard once", mon, func(d *Detector) { d.Heartbeat("a", at(time.Second)) }, nil},
		{"monitored: vouched for", mon, func(d *Detector) {
			d.Heartbeat("a", at(time.Second))
			d.Vouch("a")
		}, []string{"a"}},
		{"monitored: vouched for, left", mon, func(d *Detector) {
			d.Heartbeat("a", at(time.Second))
			d.setVerdict("a", true)
			d.Vouch("a")
		}, nil},
		{"alive already", nil, func(d *Detector) {
			d.Heartbeat("a", at(0))
			d.Heartbeat("a", at(time.Second))
			d.Check(at(time.Second))
			d.Heartbeat("a", at(2*time.Second))
		}, nil},
		{"alive once, down, heard again", mon, func(d *Detector) {
			d.Heartbeat("a", at(0))
			d.Heartbeat("a", at(time.Second))
			d.Check(at(time.Second))
			d.setVerdict("a", true)
			d.Check(at(1500 * time.Millisecond))
			d.setVerdict("a", false)
			d.Heartbeat("a", at(2*time.Second))
		}, nil},
		{"unknown", nil, func(*Detector) {}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, tt.mode)
			tt.script(d)
			r := d.Admit(at(2*time.Second), []string{"a"}, []string{"a"})
			if !slices.Equal(r.Discovered, tt.want) || len(r.Recovered)+len(r.Suspended)+len(r.Dead) > 0 {
				t.Fatalf("admit reported %+v, want discovered %v", r, tt.want)
			}
			if tt.want == nil {
				return
			}
			mustState(t, d, "a", Alive)
			if r := d.Check(at(2 * time.Second)); len(r.Discovered) > 0 {
				t.Fatalf("the next check reports it again: %+v", r)
			}
		})
	}
}
