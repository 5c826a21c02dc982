package sim

import (
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// TestSignedIdleCost: a cluster that signs node records forms as one that
// does not, every node ends up holding every node's record, and once
// quiet it sends at most 1.5 times the bytes: the records travel once,
// and a quiet round's summary carries none.
func TestSignedIdleCost(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("100 nodes for a simulated minute")
	}
	const nodes = 100
	idle := func(signed bool) (float64, map[string]float64, *Cluster) {
		c, err := New(Config{Nodes: nodes, Seed: 5, Net: DefaultNet, Signed: signed})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		formed, ok := c.WarmUp(60 * time.Second)
		if !ok {
			t.Fatal("no cluster")
		}
		t.Logf("signed %v: formed in %v", signed, formed)
		c.RunFor(40 * time.Second) // past the rounds that keep news loud
		t0 := c.Traffic()
		c.RunFor(10 * time.Second)
		t1 := c.Traffic()
		perNode := func(b uint64) float64 { return float64(b) / nodes / 10 }
		byType := make(map[string]float64)
		for i, b := range t1.ByType {
			if d := b - t0.ByType[i]; d > 0 {
				byType[lsync.MsgType(i).String()] = perNode(d)
			}
		}
		t.Logf("signed %v: %.0f bytes per node over the first 50 s, %.0f of them in member lists", signed,
			float64(t1.BytesOut)/nodes, float64(t1.ByType[lsync.MsgMembers])/nodes)
		noViolations(t, c)
		return perNode(t1.BytesOut - t0.BytesOut), byType, c
	}
	unsigned, ub, _ := idle(false)
	signed, sb, c := idle(true)
	t.Logf("idle bytes per node per second at N = %d: unsigned %.0f %v, signed %.0f %v (%.2fx)",
		nodes, unsigned, ub, signed, sb, signed/unsigned)
	if signed > 1.5*unsigned {
		t.Errorf("signed idle traffic %.0f B/s per node, over 1.5 x unsigned %.0f", signed, unsigned)
	}
	for _, n := range c.nodes {
		if st := n.eng.RecordStats(); st.Held != nodes || st.BadSignature+st.UntrustedKey+st.UnsignedClaims > 0 {
			t.Fatalf("%s: %+v, want all %d records and nothing refused", n.ID, st, nodes)
		}
	}
}
