package sim

import (
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// TestPropertiesUnderRandomFaults drives small clusters through random
// schedules of writes, crashes, restarts, partitions, one-way blocks and
// changing loss, duplication and reordering. Throughout, the cluster's
// store checks every batch (no older version over a newer one, watermarks
// never back, a watermark never above what its owner stored, versions of a
// node strictly increasing) and each step checks that every watermark
// tells the truth. Once the faults stop and the network heals, every node
// must converge on every peer's data. A failure names its seed: rerun it
// with -run and the seed to replay it exactly.
func TestPropertiesUnderRandomFaults(t *testing.T) {
	seeds := 40
	if testing.Short() || raceEnabled {
		seeds = 10
	}
	for seed := int64(1); seed <= int64(seeds); seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			t.Parallel()
			randomRun(t, seed)
		})
	}
}

func randomRun(t *testing.T, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	n := 4 + rng.Intn(5)
	c, err := New(Config{Nodes: n, Seed: seed, Seeds: 1 + rng.Intn(2), Net: DefaultNet})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for step := range 40 {
		fault(t, c, rng)
		c.RunFor(time.Duration(1+rng.Intn(5)) * time.Second)
		if err := c.CheckPrefixes(); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
	}
	// Faults stop: heal, bring everyone back, let gossip finish.
	c.Heal()
	c.SetNet(DefaultNet)
	for i, node := range c.Nodes() {
		if !node.Up() {
			if err := c.Restart(i); err != nil {
				t.Fatal(err)
			}
		}
	}
	for waited := 0; c.Converged() != nil; waited++ {
		if waited == 120 {
			t.Fatalf("no convergence 120s after the faults stopped: %v", c.Converged())
		}
		c.RunFor(time.Second)
	}
	noViolations(t, c)
}

// fault applies one random action.
func fault(t *testing.T, c *Cluster, rng *rand.Rand) {
	n := len(c.Nodes())
	i := rng.Intn(n)
	switch k := rng.Intn(10); {
	case k < 4:
		if c.Node(i).Up() {
			kv := make([]KV, 1+rng.Intn(3))
			for j := range kv {
				kv[j] = KV{Key: fmt.Sprintf("k%d", rng.Intn(4)), Value: []byte(fmt.Sprint(rng.Int63()))}
			}
			if _, err := c.Write(i, kv...); err != nil {
				t.Fatal(err)
			}
		}
	case k == 4:
		c.Crash(i)
	case k == 5:
		if !c.Node(i).Up() {
			if err := c.Restart(i); err != nil {
				t.Fatal(err)
			}
		}
	case k == 6:
		perm := rng.Perm(n)
		c.Partition(perm[:1+rng.Intn(n-1)])
	case k == 7:
		c.Block(i, rng.Intn(n))
	case k == 8:
		c.Heal()
	default:
		drops := []float64{0, 0.2, 0.5}
		c.SetNet(NetConfig{Drop: drops[rng.Intn(3)], Duplicate: 0.2 * rng.Float64(), Reorder: 0.3 * rng.Float64(),
			ReorderWindow: 2 * time.Second, DelayMin: time.Millisecond, DelayMax: 30 * time.Millisecond})
	}
}
