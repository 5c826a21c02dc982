package sim

import (
	"fmt"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Flow is a local congestion controller in the spirit of the Scuttlebutt
// paper's: additive increase, multiplicative decrease (AIMD) of the rate at
// which the node lets its application write.
//
// Why: gossip carries a bounded number of bytes per exchange. When a node
// writes faster than its exchanges can carry its deltas away, nothing is
// lost — versions are a prefix and the next exchange resumes where the
// last stopped — but peers fall further and further behind on it, and
// staleness grows without bound instead of the queue being pushed back to
// the writer. Peers' digests say how far behind they are on this node; when
// that lag exceeds what one message carries (overflow) round after round,
// the node halves its allowed write rate; when the lag stays within one
// message (underflow) round after round, it adds a fixed step back. The
// caller defers (or coalesces) writes above Rate: with keys that are
// overwritten, a deferred write usually costs nothing at all.
//
// Flow is pure like sync.State: the caller feeds it observations and instants
// and it never reads a clock. It is not safe for concurrent use.
type Flow struct {
	cfg     FlowConfig
	rate    float64 // allowed writes per second
	tokens  float64 // writes allowed now (token bucket, at most Burst)
	last    time.Time
	started bool

	lag       uint64 // largest lag seen since the last Tick
	seen      bool   // any lag reported since the last Tick
	overflow  int    // consecutive overflowing ticks
	underflow int    // consecutive calm ticks
}

// FlowConfig tunes a Flow. Rates are records per second.
type FlowConfig struct {
	Initial  float64 // starting rate
	Min, Max float64 // bounds of the rate; Min > 0 so a node is never silenced
	Step     float64 // additive increase after Patience calm ticks
	Factor   float64 // multiplicative decrease, in (0,1), after Patience overflowing ticks
	Patience int     // consecutive ticks of one kind before acting; ≥ 1
	// Capacity is the lag, in records, one message can carry away: a peer
	// further behind than this on the node cannot catch up in one exchange.
	Capacity uint64
	Burst    float64 // largest number of writes allowed at once; ≥ 1
}

// DefaultFlowConfig suits a node gossiping once a second.
func DefaultFlowConfig(capacity uint64) FlowConfig {
	return FlowConfig{Initial: 100, Min: 1, Max: 10000, Step: 10, Factor: 0.5, Patience: 3, Capacity: capacity, Burst: 100}
}

// NewFlow validates cfg and returns a controller at cfg.Initial.
func NewFlow(cfg FlowConfig) (*Flow, error) {
	switch {
	case !(cfg.Min > 0) || cfg.Max < cfg.Min || cfg.Initial < cfg.Min || cfg.Initial > cfg.Max:
		return nil, fmt.Errorf("%w: flow rates need 0 < min ≤ initial ≤ max, got %v ≤ %v ≤ %v", lsync.ErrInvalidConfig, cfg.Min, cfg.Initial, cfg.Max)
	case !(cfg.Factor > 0 && cfg.Factor < 1) || !(cfg.Step > 0):
		return nil, fmt.Errorf("%w: flow factor must be in (0,1) and step > 0, got %v and %v", lsync.ErrInvalidConfig, cfg.Factor, cfg.Step)
	case cfg.Patience < 1 || cfg.Capacity < 1 || cfg.Burst < 1:
		return nil, fmt.Errorf("%w: flow patience, capacity and burst must be ≥ 1", lsync.ErrInvalidConfig)
	}
	return &Flow{cfg: cfg, rate: cfg.Initial, tokens: cfg.Burst}, nil
}

// Rate is the allowed local write rate, in records per second.
func (f *Flow) Rate() float64 { return f.rate }

// ObserveLag records how many versions a peer's digest shows it behind on
// the local node.
func (f *Flow) ObserveLag(lag uint64) {
	f.lag = max(f.lag, lag)
	f.seen = true
}

// Tick closes an observation period (a gossip round) and adapts the rate.
// It returns true when the rate changed. A period in which no digest
// mentioned the node changes nothing: silence is not evidence of calm.
func (f *Flow) Tick() bool {
	if !f.seen {
		return false
	}
	over := f.lag > f.cfg.Capacity
	f.lag, f.seen = 0, false
	if over {
		f.underflow = 0
		if f.overflow++; f.overflow >= f.cfg.Patience {
			f.overflow = 0
			return f.set(f.rate * f.cfg.Factor)
		}
		return false
	}
	f.overflow = 0
	if f.underflow++; f.underflow >= f.cfg.Patience {
		f.underflow = 0
		return f.set(f.rate + f.cfg.Step)
	}
	return false
}

func (f *Flow) set(r float64) bool {
	r = min(max(r, f.cfg.Min), f.cfg.Max)
	changed := r != f.rate
	f.rate = r
	return changed
}

// Allow reports whether n more local writes fit the rate at now, and takes
// them from the budget if so. Writes refused should be deferred.
func (f *Flow) Allow(now time.Time, n int) bool {
	if !f.started {
		f.last, f.started = now, true
	}
	if dt := now.Sub(f.last); dt > 0 {
		f.tokens = min(f.cfg.Burst, f.tokens+dt.Seconds()*f.rate)
		f.last = now
	}
	if float64(n) > f.tokens {
		return false
	}
	f.tokens -= float64(n)
	return true
}
