package engine

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/leviathan-gossip/leviathan/health"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Write flow control, after the Scuttlebutt paper's: when the cluster
// cannot spread this node's writes as fast as the application makes them,
// nothing is lost (versions are a prefix, and the next exchange resumes
// where the last stopped), but peers fall further and further behind on
// the node, and the backlog grows without bound instead of being pushed
// back to the writer. Every digest a peer sends lists what it holds of
// this node; when the backlog those claims show is above MaxLag, the
// allowed local write rate is cut multiplicatively, and when it stays
// under, raised: by half while the peers keep up with room to spare, by
// small steps near what they carry. Writers wait for admission (Admit).
//
// A cut reaches the signal late: peers first work through what was
// written before it. So the controller also measures how fast the peers
// take the node's records while they are behind (the capacity), cuts to
// below that rather than only halving, holds the rate while the backlog
// drains fast enough, and after a drain returns at once to half the
// capacity instead of climbing from the floor.
//
// The signal is a quantile, not the largest backlog: a node writes into a
// cluster that relays its records, and one peer that is slow (a slow disk,
// a pause, a long catch-up after a restart) catches up by anti-entropy on
// its own. Throttling every writer to the slowest peer would turn one
// sick node into an outage of the cluster's writes, and would let a peer
// that lies about being behind do the same. With the 0.75 quantile, a
// quarter of the live peers may trail far behind without slowing anyone;
// a cluster that is behind as a whole throttles.

// FlowConfig tunes write flow control. Zero fields take the defaults of
// DefaultFlowConfig, except MaxLag, whose zero turns the controller off:
// writes are always admitted, and the lag is still observed.
type FlowConfig struct {
	// MaxLag is the backlog, in this node's records a peer lacks, above
	// which (at Quantile of the live peers) the cluster is behind.
	MaxLag uint64
	// Quantile of the live peers' backlogs taken as the signal, in (0, 1].
	Quantile float64
	// Patience is how many rounds in a row the signal must be within
	// MaxLag before the rate is raised, and how many rounds a cut is given
	// to show in the signal before the next; 1-16.
	Patience int
	// Factor is the multiplicative decrease, in (0, 1).
	Factor float64
	// MinRate is the lowest rate, records per second: a node is slowed,
	// never silenced.
	MinRate float64
	// Fresh is how many rounds a peer's word counts for; a limit in force
	// is lifted after as many rounds without any word from a live peer.
	Fresh int
	// Drain: while behind, the rate is held rather than cut if the
	// backlog falls fast enough to be under MaxLag within Drain rounds.
	Drain int
	// Burst is how much of the rate may be written at once.
	Burst time.Duration
}

// DefaultFlowConfig is flow control with a given MaxLag.
func DefaultFlowConfig(maxLag uint64) FlowConfig {
	return FlowConfig{MaxLag: maxLag, Quantile: 0.75, Patience: 2, Factor: 0.5, MinRate: 10, Fresh: 10, Drain: 10,
		Burst: 250 * time.Millisecond}
}

func (c FlowConfig) withDefaults() FlowConfig {
	d := DefaultFlowConfig(c.MaxLag)
	c.Quantile, c.Patience, c.Factor = cmp.Or(c.Quantile, d.Quantile), cmp.Or(c.Patience, d.Patience), cmp.Or(c.Factor, d.Factor)
	c.MinRate, c.Fresh, c.Drain, c.Burst = cmp.Or(c.MinRate, d.MinRate), cmp.Or(c.Fresh, d.Fresh), cmp.Or(c.Drain, d.Drain), cmp.Or(c.Burst, d.Burst)
	return c
}

func (c FlowConfig) validate() error {
	switch {
	case !(c.Quantile > 0 && c.Quantile <= 1):
		return fmt.Errorf("%w: flow quantile %v is not in (0, 1]", lsync.ErrInvalidConfig, c.Quantile)
	case c.Patience < 1 || c.Patience > maxPatience:
		return fmt.Errorf("%w: flow patience %d is not in 1-%d", lsync.ErrInvalidConfig, c.Patience, maxPatience)
	case !(c.Factor > 0 && c.Factor < 1):
		return fmt.Errorf("%w: flow factor %v is not in (0, 1)", lsync.ErrInvalidConfig, c.Factor)
	case !(c.MinRate > 0) || c.MinRate > 1e9:
		return fmt.Errorf("%w: flow min rate %v is not positive", lsync.ErrInvalidConfig, c.MinRate)
	case c.Fresh < 1 || c.Drain < 0 || c.Burst < 0:
		return fmt.Errorf("%w: flow fresh, drain and burst must be positive", lsync.ErrInvalidConfig)
	}
	return nil
}

const (
	maxPatience = 16
	// flowMarks is how many rounds of the node's own writes are kept to
	// turn a peer's watermark into records: a peer further behind than
	// that is counted behind by at least what was written since.
	flowMarks = 64
)

// FlowStats is what the controller sees and allows.
type FlowStats struct {
	// Limited is set while writes are rate-limited; Rate is the allowed
	// rate then, records per second.
	Limited bool
	Rate    float64
	// Lag is the signal of the last round: the quantile of the live
	// peers' backlogs on this node, in records. Peers is how many live
	// peers' words it was taken over (0: none was fresh).
	Lag   uint64
	Peers int
	// Demand is the local write rate lately committed, and Capacity how
	// fast the live peers took the node's records while behind (their
	// mean pace; 0 unknown), records per second.
	Demand, Capacity float64
	// Cuts and Raises count the rate's decreases and increases; Lifts
	// the limits lifted, Silent those lifted for want of any live peer's
	// word.
	Cuts, Raises, Lifts, Silent uint64
}

// flowMark is one point of the node's write history: when its watermark
// was version, it had written records since boot.
type flowMark struct {
	version uint64
	records uint64
}

// peerLag is a peer's last word on this node: records it lacked and
// held, and when; and how fast, in records per second, it has been taking
// the node's records lately (rate, smoothed; known once it spoke twice).
type peerLag struct {
	behind, held uint64
	at           time.Time
	rate         float64
	rated        bool
}

// flow is the controller. It is pure: the engine feeds it what the node
// wrote, what peers said and the rounds' instants.
type flow struct {
	cfg   FlowConfig
	round time.Duration

	written uint64 // own records committed since boot
	marks   [flowMarks]flowMark
	nmarks  int
	next    int // where the next mark goes

	peers   map[string]peerLag // by id: live or not, pruned when stale
	samples []uint64           // scratch of tick
	rates   []float64          // scratch of tick

	limited      bool
	rate, tokens float64
	refilled     time.Time
	waited       time.Time // when a writer was last told to wait
	// capacity is how fast the live peers take the node's records while
	// behind (measureCapacity); 0 while unknown. It is what the cluster
	// carries of this node's writes: the rate is cut to below it, and
	// returns to half of it at once after a backlog drained.
	capacity float64
	measured int // rounds the capacity was measured over

	lag        uint64 // the signal of the last round
	calm       int    // rounds in a row within MaxLag
	silent     int    // rounds in a row without a fresh word from a live peer
	peersSeen  int
	decided    time.Time // when the rate was last cut or held while behind
	decidedLag uint64    // and the signal then

	demand   float64
	tickAt   time.Time
	tickRecs uint64

	cuts, raises, lifts, silentLifts uint64
}

func newFlow(cfg FlowConfig, round time.Duration) (*flow, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &flow{cfg: cfg, round: round, peers: make(map[string]peerLag)}, nil
}

// mark returns the i-th newest mark.
func (f *flow) mark(i int) flowMark {
	return f.marks[(f.next-1-i+2*flowMarks)%flowMarks]
}

func (f *flow) addMark(version uint64) {
	if f.nmarks > 0 && f.mark(0).version >= version {
		return
	}
	f.marks[f.next] = flowMark{version: version, records: f.written}
	f.next = (f.next + 1) % flowMarks
	f.nmarks = min(f.nmarks+1, flowMarks)
}

// wrote notes n own records committed above watermark before.
func (f *flow) wrote(before uint64, n int) {
	if f.nmarks == 0 {
		f.addMark(before)
	}
	f.written += uint64(n)
}

// behind is how many of the node's records a peer holding them up to
// claim lacks, the watermark being wm: the records written after the
// newest mark at or below claim, less those of the versions between it
// and claim (interpolated: versions need not be dense). A claim above the
// watermark is held to it.
func (f *flow) behind(claim, wm uint64) uint64 {
	if claim >= wm {
		return 0
	}
	upV, upN := wm, f.written
	for i := range f.nmarks {
		m := f.mark(i)
		if m.version <= claim {
			held := m.records
			if upV > m.version {
				held += uint64(float64(upN-m.records) * float64(claim-m.version) / float64(upV-m.version))
			}
			return f.written - min(held, f.written)
		}
		upV, upN = m.version, m.records
	}
	// Older than every mark: at least what was written since the oldest.
	return f.written - upN
}

// observe takes a peer's word that it holds the node's records up to
// claim, the watermark being wm.
func (f *flow) observe(id string, claim, wm uint64, now time.Time) {
	b := f.behind(claim, wm)
	p := peerLag{behind: b, held: f.written - b, at: now}
	if old, ok := f.peers[id]; ok {
		if dt := now.Sub(old.at); dt < f.round/2 {
			// Too close to the last word to time the progress by.
			p.at, p.held, p.rate, p.rated = old.at, old.held, old.rate, old.rated
			p.behind = b
		} else {
			r := 0.0
			if p.held > old.held {
				r = float64(p.held-old.held) / dt.Seconds()
			}
			p.rate, p.rated = r, true
			if old.rated {
				p.rate = (old.rate + r) / 2
			}
		}
	}
	f.peers[id] = p
}

// forget drops what a peer said (it was removed).
func (f *flow) forget(id string) { delete(f.peers, id) }

// tick closes a round: it marks the write history, measures the demand,
// takes the signal over the live peers' fresh words and adapts the rate.
func (f *flow) tick(now time.Time, wm uint64, live func(id string) bool) {
	f.addMark(wm)
	f.measure(now)
	f.samples, f.rates = f.samples[:0], f.rates[:0]
	fresh := time.Duration(f.cfg.Fresh) * f.round
	for id, p := range f.peers {
		if now.Sub(p.at) > fresh {
			delete(f.peers, id)
			continue
		}
		if live(id) {
			f.samples = append(f.samples, p.behind)
			if p.rated {
				f.rates = append(f.rates, p.rate)
			}
		}
	}
	f.peersSeen = len(f.samples)
	if len(f.samples) == 0 {
		// Silence is not calm, but no word from anyone live for Fresh
		// rounds is no evidence of a backlog either: the peers behind
		// are down, left or gone, and wait for anti-entropy.
		f.lag, f.calm = 0, 0
		if f.silent++; f.silent >= f.cfg.Fresh && f.limited {
			f.silentLifts++
			f.lift()
		}
		return
	}
	f.silent = 0
	f.lag = quantile(f.samples, f.cfg.Quantile)
	if f.cfg.MaxLag == 0 {
		return
	}
	if f.lag <= f.cfg.MaxLag {
		if f.calm++; f.calm >= f.cfg.Patience {
			f.calm = 0
			f.increase(now)
		}
		return
	}
	f.calm = 0
	if len(f.rates) > 0 {
		f.measureCapacity()
	}
	// Behind: act at once (the signal is a quantile over peers, and lags
	// the writes that made it by a round or two already), then give each
	// decision Patience rounds to show in the signal.
	if !f.limited || now.Sub(f.decided) >= time.Duration(f.cfg.Patience)*f.round {
		f.decrease(now)
		f.decided, f.decidedLag = now, f.lag
	}
}

// measureCapacity takes the live peers' pace while the node is behind on
// them: peers behind take its records as fast as they can, so their mean
// pace is what the cluster carries of its writes. Peers in step would show
// only the write rate. One peer's pace is lumpy (an exchange brings many
// records at once, or none), hence the mean and the smoothing. A round in
// which no peer took anything (a stall, a partition) tells nothing of the
// pace the cluster carries once it moves again, and is left out.
func (f *flow) measureCapacity() {
	sum := 0.0
	for _, r := range f.rates {
		sum += r
	}
	if sum == 0 {
		return
	}
	c := sum / float64(len(f.rates))
	if f.capacity > 0 {
		c = (f.capacity + c) / 2
	}
	f.capacity = c
	f.measured++
}

// measure updates the demand: the records committed per second, smoothed
// over rounds.
func (f *flow) measure(now time.Time) {
	if !now.After(f.tickAt) {
		return
	}
	if !f.tickAt.IsZero() {
		r := float64(f.written-f.tickRecs) / now.Sub(f.tickAt).Seconds()
		f.demand = (f.demand + r) / 2
	}
	f.tickAt, f.tickRecs = now, f.written
}

// quantile is the nearest-rank q-quantile of xs, which it sorts.
func quantile(xs []uint64, q float64) uint64 {
	slices.Sort(xs)
	i := int(q*float64(len(xs)) + 0.999999)
	return xs[min(max(i, 1), len(xs))-1]
}

// decrease acts on a backlog above MaxLag: an unlimited node is limited
// to a fraction of what it wrote lately, and of the capacity when known; a
// limited one is cut again the same way unless its backlog is draining
// fast enough (a cut reaches the signal only once the peers have worked
// through what was written before it, and cutting on every round of that
// delay would take the rate to the floor).
func (f *flow) decrease(now time.Time) {
	base := f.rate
	if !f.limited {
		base = f.demand
	} else if f.draining(now) {
		return
	}
	if c := f.knownCapacity(); c > 0 {
		base = min(base, c)
	}
	next := max(f.cfg.MinRate, base*f.cfg.Factor)
	if !f.limited {
		f.limit(now, next)
	} else {
		f.refill(now)
		f.rate = next
		f.tokens = min(f.tokens, f.burst())
	}
	f.cuts++
}

// draining reports whether the backlog, falling at its pace since the
// last decision, is under MaxLag within Drain rounds.
func (f *flow) draining(now time.Time) bool {
	if f.lag >= f.decidedLag {
		return false
	}
	perRound := float64(f.decidedLag-f.lag) / max(1, now.Sub(f.decided).Seconds()/f.round.Seconds())
	return float64(f.lag-f.cfg.MaxLag) <= perRound*float64(f.cfg.Drain)
}

// increase acts on a backlog within MaxLag: a limit no writer waited for
// over the last Patience rounds is lifted. One they wait for returns at
// once to half the capacity if it is below (a deep cut that drained a
// backlog says nothing of what the cluster carries); then, while the
// backlog is under half of MaxLag and the rate under the capacity, the
// peers keep up with room to spare and the rate grows by half; otherwise
// by a tenth of the capacity (or of the rate, while it is unknown).
func (f *flow) increase(now time.Time) {
	if !f.limited {
		return
	}
	if now.Sub(f.waited) > time.Duration(f.cfg.Patience)*f.round {
		f.lift()
		return
	}
	f.refill(now)
	c := f.knownCapacity()
	f.rate = max(f.rate, c*f.cfg.Factor)
	switch {
	case f.lag <= f.cfg.MaxLag/2 && (c == 0 || f.rate < c):
		f.rate += max(f.cfg.MinRate, f.rate/2)
	case c > 0:
		f.rate += max(f.cfg.MinRate, c/10)
	default:
		f.rate += max(f.cfg.MinRate, f.rate/10)
	}
	f.raises++
}

// knownCapacity is the capacity once measured over Patience rounds behind
// (the first rounds' paces are of words from before the backlog), else 0.
func (f *flow) knownCapacity() float64 {
	if f.measured < f.cfg.Patience {
		return 0
	}
	return f.capacity
}

func (f *flow) limit(now time.Time, rate float64) {
	f.limited = true
	f.rate = max(f.cfg.MinRate, rate)
	f.tokens = f.burst()
	f.refilled = now
}

func (f *flow) lift() {
	if f.limited {
		f.lifts++
	}
	f.limited = false
}

func (f *flow) burst() float64 { return max(1, f.rate*f.cfg.Burst.Seconds()) }

func (f *flow) refill(now time.Time) {
	if now.After(f.refilled) {
		f.tokens = min(f.burst(), f.tokens+now.Sub(f.refilled).Seconds()*f.rate)
		f.refilled = now
	}
}

// admit takes n records from the budget if any is left, and returns 0;
// otherwise, how long until some is. The budget may go into debt by one
// admission, so that a write larger than the burst is not refused for
// ever: the writers after it wait the debt off.
func (f *flow) admit(now time.Time, n int) time.Duration {
	if !f.limited || n <= 0 {
		return 0
	}
	f.refill(now)
	if f.tokens >= 1 {
		f.tokens -= float64(n)
		return 0
	}
	f.waited = now
	return time.Duration((1 - f.tokens) / f.rate * float64(time.Second))
}

func (f *flow) stats() FlowStats {
	s := FlowStats{Limited: f.limited, Lag: f.lag, Peers: f.peersSeen, Demand: f.demand, Capacity: f.capacity, Cuts: f.cuts, Raises: f.raises,
		Lifts: f.lifts, Silent: f.silentLifts}
	if f.limited {
		s.Rate = f.rate
	}
	return s
}

// Admit asks to write n local records at now: 0 means write them now
// (they are taken from the budget), anything else is how long to wait
// before asking again. Nothing is reserved for a writer that waits, so
// one that gives up owes nothing.
func (e *Engine) Admit(now time.Time, n int) time.Duration { return e.flow.admit(now, n) }

// Flow reports the write flow controller's state.
func (e *Engine) Flow() FlowStats { return e.flow.stats() }

// observeFlow feeds the controller the sender's word on this node: the
// entry for this node in its digest, of the generation this node is at
// (another generation says nothing of these records). Only the peer's own
// word counts, and only of a peer this node knows, so the words held are
// bounded by the peers; a watermark claimed above this node's own counts
// as in step.
func (e *Engine) observeFlow(msg lsync.Message, now time.Time) {
	var from string
	var d []lsync.DigestEntry
	switch m := msg.(type) {
	case *lsync.Syn:
		from, d = m.From, m.Digest
	case *lsync.SynAck:
		from, d = m.From, m.Digest
	default:
		return
	}
	self := e.state.Self()
	if from == self.ID {
		return
	}
	for i := range d {
		if d[i].ID != self.ID {
			continue
		}
		if v, known := e.state.View(from); known && d[i].Generation == self.Generation {
			e.flow.observe(from, d[i].MaxVersion, self.MaxVersion, now)
			e.own.heard(v.Addr, d[i].MaxVersion)
		}
		return
	}
}

// flowLive reports whether a peer's word counts for the signal: it is
// alive, and has not left.
func (e *Engine) flowLive(id string) bool {
	if _, left := e.left[id]; left {
		return false
	}
	st, ok := e.det.State(id)
	return ok && st == health.Alive
}
