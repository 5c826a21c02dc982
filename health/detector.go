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
	causes    Causes
	// base is the origin of the peers' times (the first time given), kept
	// as offsets from it: 8 bytes rather than a time.Time's 24, for every
	// peer of a node.
	base time.Time
	// active lists the peers Check must look at (see settled): in
	// monitored mode a peer alive by the verdict of its monitors needs no
	// look until something about it changes, and looking at every peer
	// of a node at every check would cost a simulation of N nodes O(N²)
	// per check interval.
	active []tracked
}

// tracked is a peer on the active list. A peer removed since, or removed
// and heard of again, is dropped from the list at the next Check.
type tracked struct {
	id string
	p  *peer
}

// Causes counts the suspicions of alive peers reported, by cause, in
// monitored mode.
type Causes struct {
	Verdict uint64 // a quorum of the peer's monitors
	Relayed uint64 // phi over relayed heartbeats above IndirectThreshold
}

// Causes returns the suspicion counts by cause.
func (d *Detector) Causes() Causes {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.causes
}

// peer is what the detector holds of one peer; a node holds one per
// member, so it is kept small.
type peer struct {
	last  int64 // latest heartbeat (or Reset) seen, ns after Detector.base
	since int64 // when the peer entered Suspended, ns after Detector.base
	win   window
	// dir: monitored mode, the beats the peer sent to this node itself;
	// nil until the first.
	dir   *directBeats
	state State
	flags flags
}

// directBeats are the arrivals of a peer's beats to this node itself.
type directBeats struct {
	last time.Time
	win  window
}

// flags are a peer's booleans.
type flags uint8

const (
	// everAlive separates Discovered from Recovered: callers announce a
	// new member once, then only report it coming and going.
	everAlive flags = 1 << iota
	// heard is set by every heartbeat and cleared when the peer goes
	// down, so a down peer comes back only on evidence, never because its
	// mean changed under it.
	heard
	// Monitored mode (Config.Monitored): direct is set while the peer
	// beats to this node (judged by dir alone); silent once it was
	// reported Silent, until its next beat; verdict is the Monitor's
	// quorum (setVerdict).
	direct
	silent
	verdict
	// vouched: a peer never yet alive that spoke to this node itself, or
	// that a member listed as alive (Vouch); it needs no sample to come up.
	vouched
	// lastResort (monitored mode): most of the peer's monitors are down
	// here, so its relayed heartbeats may take it down (setLastResort).
	lastResort
	// listed: on Detector.active.
	listed
)

func (p *peer) has(f flags) bool { return p.flags&f != 0 }

func (p *peer) set(f flags, on bool) {
	if on {
		p.flags |= f
	} else {
		p.flags &^= f
	}
}

// at is now as an offset from the detector's base, which the first call
// sets. Offsets are differences of times, so a monotonic reading in the
// times given is honoured as time.Time.Sub honours it.
func (d *Detector) at(now time.Time) int64 {
	if d.base.IsZero() {
		d.base = now
	}
	return int64(now.Sub(d.base))
}

// newPeer registers a peer first heard of at now, as Joining.
func (d *Detector) newPeer(id string, now time.Time) *peer {
	p := &peer{state: Joining, last: d.at(now), flags: heard}
	d.peers[id] = p
	d.watch(id, p)
	return p
}

// watch puts a peer on the active list, for the next Check to look at.
func (d *Detector) watch(id string, p *peer) {
	if !p.has(listed) {
		p.set(listed, true)
		d.active = append(d.active, tracked{id: id, p: p})
	}
}

// settled reports whether Check has nothing to do for the peer until
// something about it changes: in monitored mode, alive, not beating here
// directly, under no verdict and not open to the last resort (see up).
func (d *Detector) settled(p *peer) bool {
	return d.cfg.Monitored && p.state == Alive && p.flags&(direct|verdict|lastResort) == 0
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
	// Silent peers (monitored mode) beat to this node directly and have
	// now been silent above DirectThreshold; each is reported once until
	// its next direct beat. Their state is not changed by it: the Monitor
	// votes, and a quorum of votes is a verdict (setVerdict).
	Silent []string
}

// Empty reports whether nothing changed.
func (r Report) Empty() bool {
	return len(r.Discovered) == 0 && len(r.Suspended) == 0 &&
		len(r.Recovered) == 0 && len(r.Dead) == 0 && len(r.Silent) == 0
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
// transitions are reported in one place (Admit and Revive bring a peer
// up at once, and report it themselves).
func (d *Detector) Heartbeat(id string, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.peers[id]
	if !ok {
		d.newPeer(id, now)
		return
	}
	p.set(heard, true)
	t := d.at(now)
	gap := time.Duration(t - p.last)
	if gap <= 0 {
		// Out of order or same instant: keep the latest time, so elapsed
		// never jumps backwards and phi stays monotone between beats.
		return
	}
	if gap <= d.cfg.MaxInterval || d.cfg.Monitored && gap <= maxRelayedSample {
		p.win.add(gap, d.cfg.WindowSize)
	}
	p.last = t
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
	if p.has(direct) && d.cfg.Monitored {
		return d.directPhi(p, now)
	}
	return phi(d.silence(p, now), d.cfg.AcceptablePause, p.win.trustedMean(d.cfg.InitialInterval))
}

// silence is the time since the peer's last heartbeat.
func (d *Detector) silence(p *peer, now time.Time) time.Duration {
	return time.Duration(d.at(now) - p.last)
}

func (d *Detector) directPhi(p *peer, now time.Time) float64 {
	var b directBeats
	if p.dir != nil {
		b = *p.dir
	}
	return phi(now.Sub(b.last), d.cfg.AcceptablePause, b.win.trustedMean(d.cfg.InitialInterval))
}

// up is whether a peer counts as heard from enough at now.
func (d *Detector) up(p *peer, now time.Time) bool {
	if !d.cfg.Monitored {
		return d.phi(p, now) <= d.cfg.Threshold
	}
	last := d.cfg.IndirectThreshold
	if last <= 0 {
		last = 4 * d.cfg.Threshold
	}
	floor := d.cfg.IndirectFloor
	if floor <= 0 {
		floor = 10 * d.cfg.DeadAfter
	}
	if p.has(everAlive) && !p.has(lastResort) {
		return !p.has(verdict)
	}
	silence := d.silence(p, now)
	relayed := phi(silence, d.cfg.AcceptablePause, p.win.trustedMean(d.cfg.InitialInterval))
	return !p.has(verdict) && (relayed <= last || silence <= floor)
}

// setLastResort allows or forbids (the default) the last resort for a peer
// that was alive once, in monitored mode: suspending it when phi over its
// relayed heartbeats passes IndirectThreshold. The Monitor allows it when
// most of the peer's monitors are down, so that no quorum can form. While
// they are up a verdict is the only way down: in a large quiet cluster a
// live peer's relayed heartbeat reaches a given node only every few
// minutes, and the last resort would suspect live peers over and over
// (docs/failure-detection.md, "Why the detector is built this way").
// Unknown peers are ignored.
func (d *Detector) setLastResort(id string, allowed bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.peers[id]; ok {
		p.set(lastResort, allowed)
		if allowed {
			d.watch(id, p)
		}
	}
}

// maxRelayedSample caps relayed samples in monitored mode: longer gaps are
// a restart or a healed partition.
const maxRelayedSample = 10 * time.Minute

// directBeat records a heartbeat rise that the peer sent to this node
// itself (a Beat), on top of what Heartbeat records: in monitored mode the
// peer is then judged by the spacing of these arrivals alone, far more
// regular than relayed ones. Call Heartbeat for the same rise too.
func (d *Detector) directBeat(id string, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.peers[id]
	if !ok {
		p = d.newPeer(id, now)
	}
	if p.dir == nil {
		p.dir = &directBeats{}
	}
	b := p.dir
	if !b.last.IsZero() {
		if gap := now.Sub(b.last); gap > 0 && gap <= d.cfg.MaxInterval {
			b.win.add(gap, d.cfg.WindowSize)
		}
	}
	if now.After(b.last) {
		b.last = now
	}
	p.set(direct, true)
	p.set(silent, false)
	d.watch(id, p)
}

// indirect stops judging the peer by direct beats (it stopped beating to
// this node); its direct history is kept for when it starts again.
func (d *Detector) indirect(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.peers[id]; ok {
		p.set(direct|silent, false)
	}
}

// setVerdict sets or clears a verdict on the peer (monitored mode): while
// set, the peer is down; the next Check reports the change. Clearing it
// does not bring the peer up by itself: a heartbeat must have been heard
// since it went down. Unknown peers are ignored.
func (d *Detector) setVerdict(id string, down bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.peers[id]; ok {
		p.set(verdict, down)
		if down {
			d.watch(id, p)
		}
	}
}

// verdict reports whether a verdict is set on the peer (setVerdict).
func (d *Detector) verdict(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.peers[id]
	return ok && p.has(verdict)
}

// direct reports whether the peer beats to this node directly (monitored
// mode).
func (d *Detector) direct(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.peers[id]
	return ok && p.has(direct)
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
	return d.base.Add(time.Duration(p.last)), true
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
	silentAt := d.cfg.DirectThreshold
	if silentAt <= 0 {
		silentAt = d.cfg.Threshold
	}
	kept := d.active[:0]
	for _, t := range d.active {
		if d.peers[t.id] != t.p {
			continue // removed since it was listed
		}
		d.check(t.id, t.p, now, stalled, silentAt, &r)
		if d.settled(t.p) {
			t.p.set(listed, false)
			continue
		}
		kept = append(kept, t)
	}
	clear(d.active[len(kept):])
	if cap(kept) > 64 && len(kept) < cap(kept)/4 {
		// A join lists every member once; most settle at once after.
		kept = slices.Clone(kept)
	}
	d.active = kept
	slices.Sort(r.Discovered)
	slices.Sort(r.Suspended)
	slices.Sort(r.Recovered)
	slices.Sort(r.Dead)
	slices.Sort(r.Silent)
	return r
}

// check applies the transitions due at now to one peer.
func (d *Detector) check(id string, p *peer, now time.Time, stalled bool, silentAt float64, r *Report) {
	up := d.up(p, now)
	if d.cfg.Monitored && p.has(direct) && !p.has(silent) && !stalled && d.directPhi(p, now) > silentAt {
		p.set(silent, true)
		r.Silent = append(r.Silent, id)
	}
	switch p.state {
	case Joining:
		switch {
		case up && (p.win.len() > 0 || p.has(vouched)):
			d.bringUp(id, p, r)
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
			d.suspend(id, p, now, r)
		}
	case Suspended:
		switch {
		case up && p.has(heard) && (p.has(everAlive) || p.win.len() > 0 || p.has(vouched)):
			d.bringUp(id, p, r)
		case !up && time.Duration(d.at(now)-p.since) >= d.cfg.DeadAfter:
			// The !up matters for a peer that was never alive: it
			// may be heartbeating again but still short of its
			// first sample, and must not be declared dead for it.
			p.state = Dead
			p.set(heard, false)
			// The old rhythm says nothing about the peer that may
			// come back; it starts over from InitialInterval.
			p.win.reset()
			r.Dead = append(r.Dead, id)
		}
	case Dead:
		if up && p.has(heard) && (p.has(everAlive) || p.win.len() > 0) {
			d.bringUp(id, p, r)
		}
	}
}

func (d *Detector) bringUp(id string, p *peer, r *Report) {
	p.state = Alive
	if p.has(everAlive) {
		r.Recovered = append(r.Recovered, id)
		return
	}
	p.set(everAlive, true)
	r.Discovered = append(r.Discovered, id)
}

func (d *Detector) suspend(id string, p *peer, now time.Time, r *Report) {
	p.state = Suspended
	p.since = d.at(now)
	p.set(heard, false)
	if r != nil {
		r.Suspended = append(r.Suspended, id)
		if p.has(verdict) {
			d.causes.Verdict++
		} else {
			d.causes.Relayed++
		}
	}
}

// Revive brings a peer that is down back up at once, outside Check, and
// reports it: for a peer just proven reborn (after Reset), whose own
// messages showed it alive under its new generation. Waiting for the next
// Check would add up to a health-check interval to its return for no
// information. Peers already alive, unknown or under a verdict are left
// alone.
func (d *Detector) Revive(id string, now time.Time) Report {
	d.mu.Lock()
	defer d.mu.Unlock()
	var r Report
	if p, ok := d.peers[id]; ok && p.state != Alive && d.up(p, now) {
		d.bringUp(id, p, &r)
	}
	return r
}

// Admit brings up at once, outside Check, the peers of lists that are
// Joining and already hold what Check would bring them up on: a risen
// heartbeat (a sample) or a vouch. It reports them as Discovered. The
// evidence is the same; only the wait is gone: the next Check came up to
// a health-check interval later, and a cold start paid it at every step
// (a seed holding a joiner alive, then listing it alive to the next).
// Peers in any other state are left to Check: a peer that was down comes
// back on a heartbeat heard since, judged there.
func (d *Detector) Admit(now time.Time, lists ...[]string) Report {
	d.mu.Lock()
	defer d.mu.Unlock()
	var r Report
	for _, ids := range lists {
		for _, id := range ids {
			p, ok := d.peers[id]
			if ok && p.state == Joining && (p.win.len() > 0 || p.has(vouched)) && d.up(p, now) {
				d.bringUp(id, p, &r)
			}
		}
	}
	slices.Sort(r.Discovered)
	return r
}

// Vouch says a peer not yet seen alive is alive: it sent this node a
// message itself, or a member that holds it alive listed it. A heartbeat
// seen once may be a dead peer's last, relayed, so a new peer normally
// needs a second, risen one before it is Discovered; a vouched one comes
// up without it (at the next Check, or at once through Admit). Peers seen
// alive before, and unknown ones, are left alone: their return needs a
// heartbeat as always.
func (d *Detector) Vouch(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.peers[id]; ok && !p.has(everAlive) {
		p.set(vouched|heard, true)
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
		d.newPeer(id, now)
		return
	}
	p.win.reset()
	if p.dir != nil {
		p.dir.win.reset()
		p.dir.last = time.Time{}
	}
	p.set(silent|verdict, false)
	p.set(heard, true)
	if t := d.at(now); t > p.last {
		p.last = t
	}
}
