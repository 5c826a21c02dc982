package node

import (
	"testing"
	"time"
)

// TestNodesStartInTheirOwnPhase: nodes created together draw their timers'
// phase within one gossip interval, each its own, so that a cluster
// started at once does not round in lockstep.
func TestNodesStartInTheirOwnPhase(t *testing.T) {
	cfg := fastConfig("p")
	seen := map[time.Duration]bool{}
	for seed := int64(0); seed < 8; seed++ {
		n, err := New(cfg, WithRandSeed(seed), WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		if n.phase < 0 || n.phase >= cfg.GossipVal {
			t.Fatalf("phase %v outside [0, %v)", n.phase, cfg.GossipVal)
		}
		seen[n.phase] = true
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) < 6 {
		t.Fatalf("8 nodes drew only %d distinct phases", len(seen))
	}
}
