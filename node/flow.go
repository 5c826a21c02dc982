package node

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/leviathan-gossip/leviathan/internal/engine"
)

// Write flow control (docs/design.md, "Write flow control"): local writes
// wait for the engine's admission while the peers' digests show that the
// cluster is not keeping up with this node's writes, so that a writer
// faster than the cluster is slowed down instead of piling up a backlog
// that only anti-entropy, long after, works off.

// DefaultMaxWriteLag is max_write_lag's default, in records.
const DefaultMaxWriteLag = 2000

// admission counts the writes that waited for flow control.
type admission struct {
	delayed atomic.Uint64
}

// flowConfig is the engine's flow control for max_write_lag; negative
// turns it off (the engine still observes the lag).
func (c Config) flowConfig() engine.FlowConfig {
	if c.MaxWriteLag < 0 {
		return engine.FlowConfig{}
	}
	return engine.DefaultFlowConfig(uint64(c.MaxWriteLag))
}

// admit waits until flow control lets recs local records be written, or
// until ctx ends (its error: nothing was written) or the node closes. It
// asks again at least every quarter round, so that a limit lifted or
// raised meanwhile counts at once; a writer that waits reserves nothing,
// so one that gives up costs the others nothing.
func (n *Node) admit(ctx context.Context, recs int) error {
	delayed := false
	for {
		n.mu.Lock()
		wait := n.eng.Admit(n.clock.Now(), recs)
		n.mu.Unlock()
		if wait <= 0 {
			return nil
		}
		if !delayed {
			delayed = true
			n.admission.delayed.Add(1)
		}
		t := n.clock.NewTicker(min(wait, max(n.cfg.GossipVal/4, time.Millisecond)))
		select {
		case <-t.C():
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-n.stop:
			t.Stop()
			return ErrClosed
		}
	}
}
