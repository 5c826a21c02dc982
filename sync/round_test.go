package sync

import (
	"fmt"
	"math/rand"
	"testing"
)

func addrs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d:7946", prefix, i)
	}
	return out
}

// TestTargetsSeedGate: seeds are always tried while few peers are live
// (start-up, split cliques) and are not a hot spot in a large cluster.
func TestTargetsSeedGate(t *testing.T) {
	seeds := []string{"seed0:7946", "seed1:7946", "seed2:7946"}
	const rounds = 10000
	for _, tc := range []struct {
		name              string
		live, unreachable int
		minRate, maxRate  float64 // share of rounds that include a seed
		liveIncludesSeeds bool
		wantAlwaysOneSeed bool
	}{
		{name: "no peer live", live: 0, unreachable: 20, minRate: 1, maxRate: 1, wantAlwaysOneSeed: true},
		{name: "fewer live than seeds", live: 2, unreachable: 500, minRate: 1, maxRate: 1, wantAlwaysOneSeed: true},
		{name: "1000 live", live: 997, liveIncludesSeeds: true, minRate: 0.005, maxRate: 0.02},
		{name: "100 live, 100 unreachable", live: 100, unreachable: 100, minRate: 0.01, maxRate: 0.03},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(1))
			live := addrs("live", tc.live)
			if tc.liveIncludesSeeds {
				live = append(live, seeds...)
			}
			unreachable := addrs("down", tc.unreachable)
			isSeed := map[string]bool{}
			for _, s := range seeds {
				isSeed[s] = true
			}
			withSeed := 0
			for range rounds {
				got := Targets(live, unreachable, seeds, "self:7946", 3, rng)
				n := 0
				for _, a := range got {
					if isSeed[a] {
						n++
					}
				}
				if tc.wantAlwaysOneSeed && n == 0 {
					t.Fatalf("round without a seed: %v", got)
				}
				if n > 0 {
					withSeed++
				}
			}
			rate := float64(withSeed) / rounds
			if rate < tc.minRate || rate > tc.maxRate {
				t.Fatalf("a seed in %.4f of rounds, want [%v, %v]", rate, tc.minRate, tc.maxRate)
			}
		})
	}
}

// TestTargetsNeverSelfOrTwice: whatever the inputs overlap in.
func TestTargetsNeverSelfOrTwice(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	live := []string{"a:1", "b:1", "self:1", "s:1"}
	down := []string{"a:1", "c:1", "self:1"}
	seeds := []string{"s:1", "self:1", "a:1"}
	for range 1000 {
		got := Targets(live, down, seeds, "self:1", 3, rng)
		seen := map[string]bool{}
		for _, a := range got {
			if a == "self:1" || seen[a] {
				t.Fatalf("bad targets %v", got)
			}
			seen[a] = true
		}
	}
}
