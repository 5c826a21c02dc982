package health

import (
	"slices"
	"sync"
	"time"
)

// Detector tracks the liveness of peers from their heartbeats. It is safe for
// concurrent use, though it never blocks on anything but its own mutex and
// starts no goroutines.
type Detector struct {
	cfg Config

	mu        sync.Mutex
	peers     map[string]*peer
	lastCheck time.Time
	checked   bool // lastCheck is meaningful
}

type peer struct {
	state State
	last  time.Time // latest heartbeat (or Reset) seen
	win   window

	// everAlive separates Discovered from Recovered: callers announce a
	// new member once, then only report it coming and going.
	everAlive bool
	// heard is set by every heartbeat and cleared when the peer goes
	// down, so a down peer comes back only on evidence, never because its
	// mean changed under it.
	heard bool
	// since is when the peer entered Suspended, for DeadAfter.
	since time.Time
}

// Report lists the peers whose state changed in one Check. Each list is
// sorted.
type Report struct {
	// Discovered peers became Alive for the first time.
	Discovered []string
	// Suspended peers went from Alive to Suspended. A Joining peer that
	// goes silent is suspended too, silently: it is reported only if it
	// stays silent for DeadAfter, as Dead.
	Suspended []string
	// Recovered peers were Alive once, went Suspended or Dead, and are
	// Alive again.
	Recovered []string
	// Dead peers stayed Suspended for DeadAfter.
	Dead []string
}

// Empty reports whether nothing changed.
func (r Report) Empty() bool {
	return len(r.Discovered) == 0 && len(r.Suspended) == 0 &&
		len(r.Recovered) == 0 && len(r.Dead) == 0
}

// NewDetector returns a detector that knows no peer yet.
func NewDetector(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg, peers: make(map[string]*peer)}, nil
}

// Heartbeat records that the peer's heartbeat counter was seen to increase
// at now, whoever relayed it. The first call registers the peer as Joining;
// later calls add now minus the previous heartbeat to the peer's window,
// unless that gap is not positive or exceeds MaxInterval.
//
// Heartbeat never changes a peer's state; Check does, so that all
// transitions are reported in one place.
func (d *Detector) Heartbeat(id string, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.peers[id]
	if !ok {
		d.peers[id] = &peer{state: Joining, last: now, heard: true}
		return
	}
	p.heard = true
	gap := now.Sub(p.last)
	if gap <= 0 {
		// Out of order or same instant: keep the latest time, so elapsed
		// never jumps backwards and phi stays monotone between beats.
		return
	}
	if gap <= d.cfg.MaxInterval {
		p.win.add(gap, d.cfg.WindowSize)
	}
	p.last = now
}

// Phi returns the peer's current suspicion level: 0 right after a heartbeat,
// growing linearly with silence. It is never negative, NaN or +Inf; it is 0
// for an unknown peer.
func (d *Detector) Phi(id string, now time.Time) float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.peers[id]
	if !ok {
		return 0
	}
	return d.phi(p, now)
}

func (d *Detector) phi(p *peer, now time.Time) float64 {
	return phi(now.Sub(p.last), d.cfg.AcceptablePause, p.win.trustedMean(d.cfg.InitialInterval))
}

// LastHeard returns when the peer's heartbeat was last seen to rise (or it
// was Reset), and false if the peer is unknown. Phi measures the silence
// since then; status pages show it as "last heard".
func (d *Detector) LastHeard(id string) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.peers[id]
	if !ok {
		return time.Time{}, false
	}
	return p.last, true
}

// State returns the peer's state, and false if the peer is unknown.
func (d *Detector) State(id string) (State, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.peers[id]
	if !ok {
		return 0, false
	}
	return p.state, true
}

// Check applies the transitions that are due at now and reports them; see
// the package documentation for the state machine. Call it on a steady
// timer: PauseGuard judges local stalls by the spacing of Check calls.
func (d *Detector) Check(now time.Time) Report {
	d.mu.Lock()
	defer d.mu.Unlock()

	stalled := d.checked && d.cfg.PauseGuard > 0 && now.Sub(d.lastCheck) >= d.cfg.PauseGuard
	if !d.checked || now.After(d.lastCheck) {
		d.lastCheck = now
		d.checked = true
	}

	var r Report
	for id, p := range d.peers {
		ph := d.phi(p, now)
		up := ph <= d.cfg.Threshold
		switch p.state {
		case Joining:
			switch {
			case up && p.win.len() > 0:
				d.bringUp(id, p, &r)
			case !up && !stalled:
				// Never seen alive: routed around like any suspended
				// peer, but not reported, so a node that is joining (or
				// a peer loaded from disk that is slow to be heard of)
				// pages no one. If it stays silent it is reported Dead
				// after DeadAfter, so a peer that never answers still
				// fails.
				d.suspend(id, p, now, nil)
			}
		case Alive:
			if !up && !stalled {
				d.suspend(id, p, now, &r)
			}
		case Suspended:
			switch {
			case up && p.heard && (p.everAlive || p.win.len() > 0):
				d.bringUp(id, p, &r)
			case !up && now.Sub(p.since) >= d.cfg.DeadAfter:
				// The !up matters for a peer that was never alive: it
				// may be heartbeating again but still short of its
				// first sample, and must not be declared dead for it.
				p.state = Dead
				p.heard = false
				// The old rhythm says nothing about the peer that may
				// come back; it starts over from InitialInterval.
				p.win.reset()
				r.Dead = append(r.Dead, id)
			}
		case Dead:
			if up && p.heard && (p.everAlive || p.win.len() > 0) {
				d.bringUp(id, p, &r)
			}
		}
	}
	slices.Sort(r.Discovered)
	slices.Sort(r.Suspended)
	slices.Sort(r.Recovered)
	slices.Sort(r.Dead)
	return r
}

func (d *Detector) bringUp(id string, p *peer, r *Report) {
	p.state = Alive
	if p.everAlive {
		r.Recovered = append(r.Recovered, id)
		return
	}
	p.everAlive = true
	r.Discovered = append(r.Discovered, id)
}

func (d *Detector) suspend(id string, p *peer, now time.Time, r *Report) {
	p.state = Suspended
	p.since = now
	p.heard = false
	if r != nil {
		r.Suspended = append(r.Suspended, id)
	}
}

// Remove forgets the peer entirely. If it heartbeats again it starts over as
// Joining and will be reported as Discovered again.
func (d *Detector) Remove(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.peers, id)
}

// Reset is for a peer that restarted with a new generation: its old rhythm
// is dropped (the mean falls back to InitialInterval) but its state is kept,
// so a restart does not look like a new member. now counts as a heartbeat
// without a sample, since seeing the new generation is a sign of life. An
// unknown peer is registered as by Heartbeat.
func (d *Detector) Reset(id string, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.peers[id]
	if !ok {
		d.peers[id] = &peer{state: Joining, last: now, heard: true}
		return
	}
	p.win.reset()
	p.heard = true
	if now.After(p.last) {
		p.last = now
	}
}
