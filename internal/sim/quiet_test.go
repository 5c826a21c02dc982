package sim

import (
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// A quiet cluster trades summaries, not digests: once nothing changed for
// 30 rounds, a node sends its beats and one summary a round, and nobody
// answers a summary from a node in step. With digest slices instead
// (QuietSummary off) the same cluster sends several times as much.
func TestQuietClusterIsNearlySilent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		summary int
		min     float64 // bytes per node per second
		max     float64
	}{
		{name: "summaries", summary: 0, min: 100, max: 260},
		{name: "digest slices", summary: -1, min: 600, max: 1200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := warmCluster(t, Config{Nodes: 50, Seed: 3, Net: DefaultNet, QuietSummary: tc.summary})
			c.RunFor(40 * time.Second) // past the 30 rounds that keep news loud
			t0 := c.Traffic()
			c.RunFor(10 * time.Second)
			t1 := c.Traffic()
			perNode := func(b uint64) float64 { return float64(b) / 50 / 10 }
			got := perNode(t1.BytesOut - t0.BytesOut)
			if got < tc.min || got > tc.max {
				t.Fatalf("%.0f B/s per node, want [%v, %v]", got, tc.min, tc.max)
			}
			answers := perNode(t1.ByType[lsync.MsgSynAck] - t0.ByType[lsync.MsgSynAck])
			if tc.summary == 0 && answers > 0 {
				t.Fatalf("%.1f B/s per node of SynAcks in a quiet cluster in step", answers)
			}
			noViolations(t, c)
		})
	}
}
