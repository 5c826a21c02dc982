package health

import (
	"math"
	"slices"
	"testing"
	"time"
)

var epoch = time.Unix(1_700_000_000, 0)

// at turns an offset from epoch into a time, so scripts read as offsets.
func at(d time.Duration) time.Time { return epoch.Add(d) }

func newDetector(t testing.TB, mutate func(*Config)) *Detector {
	t.Helper()
	cfg := DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	d, err := NewDetector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustState(t *testing.T, d *Detector, id string, want State) {
	t.Helper()
	got, ok := d.State(id)
	if !ok {
		t.Fatalf("%s unknown, want %v", id, want)
	}
	if got != want {
		t.Fatalf("%s is %v, want %v", id, got, want)
	}
}

// collect merges reports so a test can ask what happened over a stretch.
type collected struct{ discovered, suspended, recovered, dead []string }

func (c *collected) add(r Report) {
	c.discovered = append(c.discovered, r.Discovered...)
	c.suspended = append(c.suspended, r.Suspended...)
	c.recovered = append(c.recovered, r.Recovered...)
	c.dead = append(c.dead, r.Dead...)
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestPhiLinearAndResetsOnHeartbeat(t *testing.T) {
	d := newDetector(t, nil)
	for i := 0; i <= 10; i++ {
		d.Heartbeat("a", at(time.Duration(i)*time.Second))
	}
	// mean is exactly 1s, so phi is the silence in seconds.
	last := 10 * time.Second
	tests := []struct {
		elapsed time.Duration
		want    float64
	}{
		{0, 0}, {250 * time.Millisecond, 0.25}, {time.Second, 1}, {3 * time.Second, 3}, {8 * time.Second, 8}, {100 * time.Second, 100},
	}
	for _, tt := range tests {
		if got := d.Phi("a", at(last+tt.elapsed)); !near(got, tt.want) {
			t.Errorf("phi after %v = %v, want %v", tt.elapsed, got, tt.want)
		}
	}
	d.Heartbeat("a", at(last+3*time.Second))
	if got := d.Phi("a", at(last+3*time.Second)); got != 0 {
		t.Errorf("phi right after heartbeat = %v, want 0", got)
	}
	if got := d.Phi("nobody", at(time.Hour)); got != 0 {
		t.Errorf("phi of unknown peer = %v, want 0", got)
	}
}

func TestPhiUsesWindowMean(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		pause    time.Duration
		silence  time.Duration
		want     float64
	}{
		{"500ms beats", 500 * time.Millisecond, 0, 2 * time.Second, 4},
		{"2s beats", 2 * time.Second, 0, 2 * time.Second, 1},
		{"acceptable pause subtracted", time.Second, 3 * time.Second, 5 * time.Second, 2},
		{"silence within pause", time.Second, 3 * time.Second, 2 * time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, func(c *Config) { c.AcceptablePause = tt.pause })
			var now time.Duration
			for i := 0; i < 20; i++ {
				now = time.Duration(i) * tt.interval
				d.Heartbeat("a", at(now))
			}
			if got := d.Phi("a", at(now+tt.silence)); !near(got, tt.want) {
				t.Errorf("phi = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRegularHeartbeatsNeverSuspend(t *testing.T) {
	tests := []struct {
		name  string
		beats func(sec int) []time.Duration // heartbeat offsets within second sec
	}{
		{"every 1s", func(int) []time.Duration { return []time.Duration{0} }},
		{"every 1s with jitter", func(s int) []time.Duration {
			return []time.Duration{time.Duration((s*7919)%400) * time.Millisecond}
		}},
		// Gossip relays a few rounds at once: after a steady start,
		// three beats in a burst every 3s. (Bursts before the window
		// has a few samples would make the mean tiny: see the package
		// doc.)
		{"bursts", func(s int) []time.Duration {
			if s < 10 {
				return []time.Duration{0}
			}
			if s%3 != 0 {
				return nil
			}
			return []time.Duration{0, time.Millisecond, 2 * time.Millisecond}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, nil)
			var c collected
			for s := 0; s < 600; s++ {
				for _, off := range tt.beats(s) {
					d.Heartbeat("a", at(time.Duration(s)*time.Second+off))
				}
				c.add(d.Check(at(time.Duration(s)*time.Second + 500*time.Millisecond)))
			}
			if len(c.suspended)+len(c.dead) != 0 {
				t.Fatalf("suspended %v dead %v", c.suspended, c.dead)
			}
			if !slices.Equal(c.discovered, []string{"a"}) {
				t.Fatalf("discovered %v, want [a]", c.discovered)
			}
			mustState(t, d, "a", Alive)
		})
	}
}

// A peer that stops is suspended once phi passes Threshold, i.e. after about
// Threshold*mean of silence, and dead DeadAfter later.
func TestStoppedPeerSuspendedThenDead(t *testing.T) {
	tests := []struct {
		name      string
		interval  time.Duration
		threshold float64
	}{
		{"1s beats", time.Second, 8},
		{"500ms beats", 500 * time.Millisecond, 8},
		{"2s beats threshold 5", 2 * time.Second, 5},
	}
	const tick = 100 * time.Millisecond
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, func(c *Config) { c.Threshold = tt.threshold })
			var now time.Duration
			for i := 0; i < 60; i++ {
				now = time.Duration(i) * tt.interval
				d.Heartbeat("a", at(now))
				d.Check(at(now))
			}
			mustState(t, d, "a", Alive)
			stopped := now
			var suspendedAt, deadAt time.Duration
			for now = stopped + tick; now < stopped+5*time.Minute && deadAt == 0; now += tick {
				r := d.Check(at(now))
				if slices.Contains(r.Suspended, "a") {
					suspendedAt = now - stopped
				}
				if slices.Contains(r.Dead, "a") {
					deadAt = now - stopped
				}
			}
			want := time.Duration(tt.threshold * float64(tt.interval))
			if suspendedAt <= want || suspendedAt > want+tick {
				t.Errorf("suspended after %v, want just over %v", suspendedAt, want)
			}
			if deadAt-suspendedAt != DefaultConfig().DeadAfter {
				t.Errorf("dead %v after suspicion, want %v", deadAt-suspendedAt, DefaultConfig().DeadAfter)
			}
			mustState(t, d, "a", Dead)
		})
	}
}

// Detectors that need two heartbeats before computing phi never suspect a
// peer that was heard of once; this one measures from the first heartbeat
// against InitialInterval. A peer never seen alive is suspended without a
// report (a joining node pages no one) and reported once it is Dead.
func TestSingleHeartbeatEventuallyFails(t *testing.T) {
	d := newDetector(t, nil)
	d.Heartbeat("a", at(0))
	if got := d.Phi("a", at(10*time.Second)); !near(got, 5) {
		t.Fatalf("phi after 10s with no sample = %v, want 10s/2s = 5", got)
	}
	var c collected
	var suspendedAt, deadAt time.Duration
	for now := time.Second; now <= 2*time.Minute; now += time.Second {
		r := d.Check(at(now))
		if s, _ := d.State("a"); s == Suspended && suspendedAt == 0 {
			suspendedAt = now
		}
		if len(r.Dead) > 0 && deadAt == 0 {
			deadAt = now
		}
		c.add(r)
	}
	if suspendedAt != 17*time.Second {
		t.Fatalf("state suspended at %v, want 17s (phi 8.5)", suspendedAt)
	}
	if len(c.suspended) != 0 || len(c.discovered) != 0 {
		t.Fatalf("never-alive peer reported suspended %v / discovered %v", c.suspended, c.discovered)
	}
	if !slices.Equal(c.dead, []string{"a"}) || deadAt != suspendedAt+DefaultConfig().DeadAfter {
		t.Fatalf("dead %v at %v, want [a] at %v", c.dead, deadAt, suspendedAt+DefaultConfig().DeadAfter)
	}
}

// A young window does not trust a burst: two beats a millisecond apart
// would otherwise make the mean 1ms and a just-discovered peer suspected
// (phi in the hundreds) on its next ordinary silence.
func TestBurstDoesNotSuspendNewPeer(t *testing.T) {
	d := newDetector(t, nil)
	d.Heartbeat("a", at(0))
	d.Heartbeat("a", at(time.Millisecond))
	var c collected
	for now := 500 * time.Millisecond; now <= 10*time.Second; now += 500 * time.Millisecond {
		if now == 5*time.Second {
			d.Heartbeat("a", at(now))
		}
		c.add(d.Check(at(now)))
	}
	if !slices.Equal(c.discovered, []string{"a"}) || len(c.suspended) != 0 {
		t.Fatalf("discovered %v suspended %v, want discovered once and never suspended", c.discovered, c.suspended)
	}
	// Once the window is grown up, its mean counts as it is.
	for i := 0; i <= youngWindow; i++ {
		d.Heartbeat("b", at(time.Duration(i)*time.Millisecond))
	}
	if got := d.Phi("b", at(youngWindow*time.Millisecond+time.Second)); !near(got, 1000) {
		t.Fatalf("phi %v after 1s with a grown 1ms window, want 1000", got)
	}
}

func TestNotAliveOnFirstHeartbeat(t *testing.T) {
	d := newDetector(t, nil)
	d.Heartbeat("a", at(0))
	mustState(t, d, "a", Joining)
	if r := d.Check(at(0)); !r.Empty() {
		t.Fatalf("report after first heartbeat: %+v", r)
	}
	mustState(t, d, "a", Joining)
	d.Heartbeat("a", at(time.Second))
	r := d.Check(at(time.Second))
	if !slices.Equal(r.Discovered, []string{"a"}) {
		t.Fatalf("discovered %v after first sample, want [a]", r.Discovered)
	}
	mustState(t, d, "a", Alive)
}

func TestRecoveryAndDiscoveredOnce(t *testing.T) {
	d := newDetector(t, nil)
	var c collected
	beat := func(from, to time.Duration) {
		for now := from; now <= to; now += time.Second {
			d.Heartbeat("a", at(now))
			c.add(d.Check(at(now)))
		}
	}
	silent := func(from, to time.Duration) {
		for now := from; now <= to; now += time.Second {
			c.add(d.Check(at(now)))
		}
	}
	beat(0, 20*time.Second)
	silent(21*time.Second, 35*time.Second) // suspended at 29s
	beat(36*time.Second, 60*time.Second)   // recovered
	silent(61*time.Second, 2*time.Minute)  // suspended at 69s, dead at 99s
	beat(2*time.Minute+time.Second, 3*time.Minute)

	if !slices.Equal(c.discovered, []string{"a"}) {
		t.Errorf("discovered %v, want exactly once", c.discovered)
	}
	if !slices.Equal(c.suspended, []string{"a", "a"}) {
		t.Errorf("suspended %v, want twice", c.suspended)
	}
	if !slices.Equal(c.dead, []string{"a"}) {
		t.Errorf("dead %v, want once", c.dead)
	}
	if !slices.Equal(c.recovered, []string{"a", "a"}) {
		t.Errorf("recovered %v, want twice (from suspended, then from dead)", c.recovered)
	}
	mustState(t, d, "a", Alive)
}

// A peer that was never alive and comes back is new to the caller:
// Discovered, not Recovered.
func TestNeverAliveComesBackAsDiscovered(t *testing.T) {
	d := newDetector(t, nil)
	d.Heartbeat("a", at(0))
	if r := d.Check(at(20 * time.Second)); !r.Empty() {
		t.Fatalf("never-alive peer reported: %+v", r)
	}
	mustState(t, d, "a", Suspended)
	// Back after 21s: the gap exceeds MaxInterval, so there is still no
	// sample, and a never-alive peer needs one.
	d.Heartbeat("a", at(21*time.Second))
	if r := d.Check(at(21 * time.Second)); !r.Empty() {
		t.Fatalf("report without a sample: %+v", r)
	}
	// It is heartbeating, so it must not be declared dead meanwhile even
	// though it has been suspended longer than DeadAfter.
	d.Heartbeat("a", at(50*time.Second))
	if r := d.Check(at(50*time.Second + time.Millisecond)); !r.Empty() {
		t.Fatalf("report: %+v", r)
	}
	mustState(t, d, "a", Suspended)
	d.Heartbeat("a", at(51*time.Second))
	r := d.Check(at(51 * time.Second))
	if !slices.Equal(r.Discovered, []string{"a"}) || len(r.Recovered) != 0 {
		t.Fatalf("report %+v, want Discovered [a]", r)
	}
}

func TestGapsAboveMaxIntervalNotSampled(t *testing.T) {
	d := newDetector(t, nil)
	for i := 0; i <= 10; i++ {
		d.Heartbeat("a", at(time.Duration(i)*time.Second))
	}
	// A 60s gap (partition) then regular beats again: had the gap been
	// sampled the mean would be (10+60+1)/12 s ≈ 5.9s.
	d.Heartbeat("a", at(70*time.Second))
	d.Heartbeat("a", at(71*time.Second))
	if got := d.Phi("a", at(72*time.Second)); !near(got, 1) {
		t.Fatalf("phi = %v, want 1 (mean unaffected by the gap)", got)
	}
	// A gap of exactly MaxInterval is a sample.
	d.Heartbeat("a", at(81*time.Second))
	if got, want := d.Phi("a", at(82*time.Second)), 12.0/21.0; !near(got, want) { // 12 samples, 21s
		t.Fatalf("phi = %v, want %v", got, want)
	}
}

func TestNonPositiveGapsNotSampled(t *testing.T) {
	d := newDetector(t, nil)
	d.Heartbeat("a", at(10*time.Second))
	d.Heartbeat("a", at(10*time.Second)) // same instant
	d.Heartbeat("a", at(5*time.Second))  // out of order
	if st, _ := d.State("a"); st != Joining {
		t.Fatal(st)
	}
	d.Check(at(10 * time.Second))
	mustState(t, d, "a", Joining) // still no sample
	// The out-of-order beat did not move the last heartbeat backwards.
	if got := d.Phi("a", at(12*time.Second)); !near(got, 1) {
		t.Fatalf("phi = %v, want 1", got)
	}
}

func TestPauseGuardSuppressesSuspicionAfterStall(t *testing.T) {
	tests := []struct {
		name          string
		guard         time.Duration
		wantSuspended bool
	}{
		{"guard on", 5 * time.Second, false},
		{"guard off", 0, true},
		{"stall shorter than guard", 30 * time.Second, false},
		{"guard longer than stall", time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, func(c *Config) { c.PauseGuard = tt.guard })
			for i := 0; i <= 10; i++ {
				now := at(time.Duration(i) * time.Second)
				d.Heartbeat("a", now)
				d.Heartbeat("b", now)
				d.Check(now)
			}
			// The local process freezes for 30s; on waking, the first
			// Check runs before the queued heartbeats are handled.
			r := d.Check(at(40 * time.Second))
			if got := slices.Contains(r.Suspended, "a"); got != tt.wantSuspended {
				t.Fatalf("suspended after stall = %v, want %v (report %+v)", got, tt.wantSuspended, r)
			}
			if tt.wantSuspended {
				return
			}
			// Queued heartbeats arrive for a only; b really is gone and is
			// suspected on the next regular tick.
			d.Heartbeat("a", at(40*time.Second))
			r = d.Check(at(41 * time.Second))
			if !slices.Equal(r.Suspended, []string{"b"}) {
				t.Fatalf("suspended %v, want [b]", r.Suspended)
			}
			mustState(t, d, "a", Alive)
		})
	}
}

// The guard only blocks transitions into Suspended: a suspended peer still
// dies and a returning peer still recovers on a late tick.
func TestPauseGuardLetsOtherTransitionsThrough(t *testing.T) {
	d := newDetector(t, func(c *Config) { c.DeadAfter = 10 * time.Second })
	for i := 0; i <= 10; i++ {
		now := at(time.Duration(i) * time.Second)
		d.Heartbeat("a", now)
		d.Heartbeat("b", now)
		d.Check(now)
	}
	for i := 11; i <= 20; i++ {
		d.Heartbeat("b", at(time.Duration(i)*time.Second))
		d.Check(at(time.Duration(i) * time.Second))
	}
	mustState(t, d, "a", Suspended) // since 19s
	d.Heartbeat("b", at(21*time.Second))
	r := d.Check(at(40 * time.Second)) // a 20s stall
	if !slices.Equal(r.Dead, []string{"a"}) || len(r.Suspended) != 0 {
		t.Fatalf("report %+v, want a dead and nobody suspended", r)
	}
	d.Heartbeat("a", at(41*time.Second))
	r = d.Check(at(60 * time.Second))
	// a heartbeated at 41s; 19s of silence against InitialInterval is
	// phi 9.5, so it does not recover on stale evidence either.
	if len(r.Recovered) != 0 || len(r.Suspended) != 0 {
		t.Fatalf("report %+v", r)
	}
}

func TestDeadDropsSamplesAndNeedsEvidenceToRecover(t *testing.T) {
	// Fast heartbeats (100ms): the mean is far below InitialInterval, so
	// once the samples are dropped on death phi falls to a fraction of
	// what it was. The peer must stay dead anyway: nothing was heard.
	d := newDetector(t, func(c *Config) { c.DeadAfter = time.Second })
	var now time.Duration
	for ; now <= 10*time.Second; now += 100 * time.Millisecond {
		d.Heartbeat("a", at(now))
		d.Check(at(now))
	}
	last := now - 100*time.Millisecond
	var c collected
	for ; now <= 30*time.Second; now += 100 * time.Millisecond {
		c.add(d.Check(at(now)))
	}
	if !slices.Equal(c.dead, []string{"a"}) || len(c.recovered) != 0 {
		t.Fatalf("%+v: want dead once and no recovery", c)
	}
	if got, want := d.Phi("a", at(now)), float64(at(now).Sub(at(last)))/float64(2*time.Second); !near(got, want) {
		t.Fatalf("phi of dead peer = %v, want %v (InitialInterval mean)", got, want)
	}
	d.Heartbeat("a", at(now))
	r := d.Check(at(now))
	if !slices.Equal(r.Recovered, []string{"a"}) {
		t.Fatalf("report %+v, want recovered", r)
	}
}

func TestResetDropsSamplesKeepsState(t *testing.T) {
	d := newDetector(t, nil)
	for i := 0; i <= 10; i++ {
		d.Heartbeat("a", at(time.Duration(i)*time.Second))
	}
	d.Check(at(10 * time.Second))
	mustState(t, d, "a", Alive)
	d.Reset("a", at(15*time.Second))
	mustState(t, d, "a", Alive)
	// Reset counts as a sign of life at 15s, and the mean is back to
	// InitialInterval.
	if got := d.Phi("a", at(19*time.Second)); !near(got, 2) {
		t.Fatalf("phi = %v, want 4s/2s = 2", got)
	}
	if r := d.Check(at(19 * time.Second)); !r.Empty() {
		t.Fatalf("restart reported: %+v", r)
	}
	d.Reset("new", at(0))
	mustState(t, d, "new", Joining)
}

func TestRemove(t *testing.T) {
	d := newDetector(t, nil)
	d.Heartbeat("a", at(0))
	d.Heartbeat("a", at(time.Second))
	d.Check(at(time.Second))
	d.Remove("a")
	d.Remove("never-known")
	if _, ok := d.State("a"); ok {
		t.Fatal("removed peer still known")
	}
	if got := d.Phi("a", at(time.Hour)); got != 0 {
		t.Fatalf("phi of removed peer = %v", got)
	}
	d.Heartbeat("a", at(2*time.Second))
	mustState(t, d, "a", Joining)
}

func TestReportsSorted(t *testing.T) {
	ids := []string{"m", "c", "z", "a", "q", "b", "y", "k"}
	for run := 0; run < 20; run++ { // map order differs between runs
		d := newDetector(t, func(c *Config) { c.PauseGuard = 0 })
		for i := 0; i <= 2; i++ {
			for _, id := range ids {
				d.Heartbeat(id, at(time.Duration(i)*time.Second))
			}
		}
		r := d.Check(at(2 * time.Second))
		if !slices.IsSorted(r.Discovered) || len(r.Discovered) != len(ids) {
			t.Fatalf("discovered %v", r.Discovered)
		}
		r = d.Check(at(time.Minute))
		if !slices.IsSorted(r.Suspended) || len(r.Suspended) != len(ids) {
			t.Fatalf("suspended %v", r.Suspended)
		}
	}
}

func TestPhiNeverNaNInfOrNegative(t *testing.T) {
	d := newDetector(t, func(c *Config) {
		c.InitialInterval = 1
		c.MaxInterval = 1<<63 - 1
	})
	d.Heartbeat("far", time.Time{})
	d.Heartbeat("far", time.Time{}.Add(1)) // mean 1ns
	d.Heartbeat("zero", time.Time{})
	times := []time.Time{
		{}, time.Time{}.Add(-1), epoch, epoch.Add(-1000 * time.Hour),
		time.Unix(1<<62, 0), time.Unix(-1<<62, 0),
	}
	for _, id := range []string{"far", "zero", "unknown"} {
		for _, now := range times {
			p := d.Phi(id, now)
			if math.IsNaN(p) || math.IsInf(p, 0) || p < 0 {
				t.Fatalf("phi(%s, %v) = %v", id, now, p)
			}
		}
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{Joining: "joining", Alive: "alive", Suspended: "suspended", Dead: "dead", 9: "state(9)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), want)
		}
	}
}

func TestWindowRing(t *testing.T) {
	var w window
	const size = 4
	for i := 1; i <= 10; i++ {
		w.add(time.Duration(i), size)
	}
	// Holds 7..10.
	if w.len() != size || w.sum != 34 || w.mean(99) != 8 {
		t.Fatalf("len %d sum %d mean %d", w.len(), w.sum, w.mean(99))
	}
	w.reset()
	if w.len() != 0 || w.mean(99) != 99 {
		t.Fatalf("after reset: len %d mean %d", w.len(), w.mean(99))
	}
	w.add(5, size)
	if w.mean(99) != 5 {
		t.Fatal(w.mean(99))
	}
}

func TestLastHeard(t *testing.T) {
	d := newDetector(t, nil)
	if _, ok := d.LastHeard("a"); ok {
		t.Fatal("unknown peer has a last-heard time")
	}
	d.Heartbeat("a", at(time.Second))
	d.Heartbeat("a", at(3*time.Second))
	d.Heartbeat("a", at(2*time.Second)) // out of order: the latest stays
	if got, ok := d.LastHeard("a"); !ok || !got.Equal(at(3*time.Second)) {
		t.Errorf("LastHeard = %v, %v; want %v", got, ok, at(3*time.Second))
	}
}
