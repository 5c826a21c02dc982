package health

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrInvalidConfig is wrapped by every error Config.Validate returns.
var ErrInvalidConfig = errors.New("invalid config")

// Config tunes a Detector. Start from DefaultConfig: a zero field is not
// replaced by its default, because zero is meaningful for AcceptablePause and
// PauseGuard.
type Config struct {
	// Threshold is the phi above which a peer is suspended. On this
	// package's scale (natural log), 8 means one inter-arrival gap in
	// about 3000 is long enough to get a live peer suspected.
	Threshold float64
	// WindowSize is the number of inter-arrival samples kept per peer.
	// Memory is 8 bytes per sample per peer, grown as samples arrive; a
	// large simulation may want it smaller.
	WindowSize int
	// InitialInterval is the mean assumed before a peer has any sample,
	// normally the heartbeat (gossip) interval.
	InitialInterval time.Duration
	// MaxInterval caps what counts as an inter-arrival sample: a longer
	// gap is a restart or a healed partition, not the peer's rhythm, and
	// would inflate the mean and slow the next detection.
	MaxInterval time.Duration
	// AcceptablePause is subtracted from the silence before phi is
	// computed, to tolerate known pauses of the peer (GC) without
	// inflating the threshold.
	AcceptablePause time.Duration
	// DeadAfter is how long a peer stays suspended before it is declared
	// dead.
	DeadAfter time.Duration
	// PauseGuard: a Check this long or longer after the previous Check
	// means the local process was stalled, so that Check suspects no one.
	// 0 disables the guard.
	PauseGuard time.Duration

	// Monitored switches the detector to monitored mode. Heartbeats
	// relayed by gossip reach a node further apart and more irregularly as
	// a cluster grows (a digest lists a few dozen of its members: see
	// docs/failure-detection.md, "Why the detector is built this way"), so
	// phi over them suspects live peers; in monitored
	// mode a peer is suspended on a verdict (a Monitor's: a quorum of its
	// monitors agree it is silent), or as a last resort when phi over its
	// relayed heartbeats passes IndirectThreshold and the Monitor found
	// most of its monitors gone, or it was never alive. Peers that beat to
	// this node directly (Monitor.Observe) are judged by phi over those
	// arrivals against DirectThreshold and reported Silent in a Check, for
	// the Monitor to vote. Relayed samples are not
	// capped at MaxInterval in this mode: at scale most would be dropped,
	// and the mean of the rest would be far too short.
	Monitored bool
	// IndirectThreshold is the last-resort phi over relayed heartbeats in
	// monitored mode; 0 means 4 × Threshold. The silence must also be
	// longer than IndirectFloor (0 means 10 × DeadAfter): relayed
	// heartbeats of a large quiet cluster come far apart, and a mean taken
	// from their bursts says little.
	IndirectThreshold float64
	IndirectFloor     time.Duration
	// DirectThreshold is the phi over direct beats above which a peer is
	// reported Silent; 0 means Threshold.
	DirectThreshold float64
}

// DefaultConfig returns the defaults documented on Config's fields.
func DefaultConfig() Config {
	return Config{
		Threshold:       8,
		WindowSize:      1000,
		InitialInterval: 2 * time.Second,
		MaxInterval:     10 * time.Second,
		AcceptablePause: 0,
		DeadAfter:       30 * time.Second,
		PauseGuard:      5 * time.Second,
		DirectThreshold: 4,
	}
}

// Validate reports the first bad field, wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case math.IsNaN(c.Threshold) || math.IsInf(c.Threshold, 0) || c.Threshold <= 0:
		return invalid("threshold must be > 0 and finite, got %v", c.Threshold)
	case c.WindowSize < 1:
		return invalid("window size must be >= 1, got %d", c.WindowSize)
	case c.InitialInterval <= 0:
		return invalid("initial interval must be > 0, got %v", c.InitialInterval)
	case c.MaxInterval <= 0:
		return invalid("max interval must be > 0, got %v", c.MaxInterval)
	case c.AcceptablePause < 0:
		return invalid("acceptable pause must be >= 0, got %v", c.AcceptablePause)
	case c.DeadAfter <= 0:
		return invalid("dead after must be > 0, got %v", c.DeadAfter)
	case c.PauseGuard < 0:
		return invalid("pause guard must be >= 0 (0 disables it), got %v", c.PauseGuard)
	case c.IndirectFloor < 0:
		return invalid("indirect floor must be >= 0, got %v", c.IndirectFloor)
	case math.IsNaN(c.IndirectThreshold) || math.IsInf(c.IndirectThreshold, 0) || c.IndirectThreshold < 0:
		return invalid("indirect threshold must be >= 0 and finite, got %v", c.IndirectThreshold)
	case math.IsNaN(c.DirectThreshold) || math.IsInf(c.DirectThreshold, 0) || c.DirectThreshold < 0:
		return invalid("direct threshold must be >= 0 and finite, got %v", c.DirectThreshold)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("health: "+format+": %w", append(args, ErrInvalidConfig)...)
}
