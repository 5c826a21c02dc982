package sim

import (
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/internal/engine"
)

// TestColdStartSeesEveryoneAliveAtOnce: 100 nodes started within one
// round, through 3 seeds. A peer is alive as soon as its own word, a risen
// heartbeat or a member's list arrives (not at the next health check),
// and a joiner greets every member it hears of, so every node sees every
// other alive within moments of the last node's start, at 0 % loss; at
// 20 % loss within a few rounds. No one is suspected, no one discovered
// twice, and the joins end with a bounded number of member lists asked.
func TestColdStartSeesEveryoneAliveAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		drop   float64
		within time.Duration // from the first boot; the last node starts before 1 s
		asks   int           // most member lists any node asked for
	}{
		{"no loss", 0, 1100 * time.Millisecond, 4}, // the first, the last new members, 2 quiet rounds
		{"20 % loss", 0.2, 6 * time.Second, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 100
			net := DefaultNet
			net.Drop = tc.drop
			c, err := New(Config{Nodes: n, Seed: 1, Net: net})
			if err != nil {
				t.Fatal(err)
			}
			seen := make([]map[string]bool, n)
			for i := range seen {
				seen[i] = make(map[string]bool)
			}
			complete, twice, suspected := 0, 0, 0
			c.Hooks.Events = func(i int, evs []engine.Event) {
				for _, ev := range evs {
					switch ev.Kind {
					case engine.Discover:
						for _, id := range ev.Peers {
							if seen[i][id] {
								twice++
							}
							seen[i][id] = true
						}
						if len(seen[i]) == n-1 {
							complete++
						}
					case engine.Suspend:
						suspected += len(ev.Peers)
					}
				}
			}
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			if !c.RunWhile(tc.within, func() bool { return complete < n }) {
				t.Fatalf("%d of %d nodes saw every other alive within %v", complete, n, tc.within)
			}
			t.Logf("every node saw every other alive %v after the first boot", c.Now())
			c.RunFor(30 * time.Second)
			most := 0
			for _, nd := range c.Nodes() {
				asks, joined := nd.Engine().JoinState()
				if !joined {
					t.Fatalf("%s still joining after %v", nd.ID, c.Now())
				}
				most = max(most, asks)
			}
			t.Logf("up to %d member lists asked", most)
			if most > tc.asks || twice > 0 || suspected > 0 {
				t.Fatalf("up to %d member lists asked (want at most %d), %d discovered twice, %d suspicions",
					most, tc.asks, twice, suspected)
			}
			noViolations(t, c)
		})
	}
}
