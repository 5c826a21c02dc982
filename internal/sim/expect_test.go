package sim

import (
	"cmp"
	"hash/fnv"
	"slices"
	"testing"
	"time"
)

// ringSuccessor is the member after id on the monitoring ring (FNV-1a of
// the ids, as internal/engine orders it).
func ringSuccessor(ids []string, id string) string {
	h := func(s string) uint64 {
		f := fnv.New64a()
		f.Write([]byte(s))
		return f.Sum64()
	}
	ring := slices.Clone(ids)
	slices.SortFunc(ring, func(a, b string) int {
		if c := cmp.Compare(h(a), h(b)); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	at := slices.Index(ring, id)
	return ring[(at+1)%len(ring)]
}

// TestNeverBeatenPeerIsSuspected: with one monitor each, a node whose
// beats never reach its monitor (it gossips with the others, so its
// monitor knows it alive by relayed heartbeats only) and that then stops
// is suspected by every live node within seconds: its monitor, by its own
// ring, expected beats that never came and votes when the relayed
// heartbeats stop too. Without expected beats no node would judge a peer
// that never beat to it, and the crash would go unsuspected for 10 x
// dead_after (docs/failure-detection.md, "Why the detector is built this
// way"). Relayed heartbeats travel only in digests, and a quiet round
// sends a summary instead, so the cluster keeps its rounds' digests here:
// with summaries a node blocked from its only monitor is judged by no one.
func TestNeverBeatenPeerIsSuspected(t *testing.T) {
	c, err := New(Config{Nodes: 4, Seed: 5, Net: DefaultNet, Monitors: 1, QuietSummary: -1})
	if err != nil {
		t.Fatal(err)
	}
	const x = 3
	var ids []string
	for _, n := range c.Nodes() {
		ids = append(ids, n.ID)
	}
	m := c.byID[ringSuccessor(ids, c.Node(x).ID)]
	c.Block(x, m)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.WarmUp(60 * time.Second); !ok {
		t.Fatal("cluster did not form")
	}
	if mons := c.Node(x).Engine().Monitors(); !slices.Equal(mons, []string{c.Node(m).ID}) {
		t.Fatalf("node %d beats to %v, want its ring successor %s", x, mons, c.Node(m).ID)
	}
	if c.Node(m).Engine().Monitor().Direct(c.Node(x).ID) {
		t.Fatal("the monitor got a beat through the block")
	}
	c.RunFor(time.Minute)
	w := watchSuspicions(c, x)
	w.at = c.Now()
	c.Crash(x)
	c.RunFor(15 * time.Second)
	if len(w.got) != 3 || w.falseSusp != 0 {
		t.Fatalf("%d of 3 live nodes suspected the crash within 15 s (%v), %d false suspicions", len(w.got), w.got, w.falseSusp)
	}
	noViolations(t, c)
}
