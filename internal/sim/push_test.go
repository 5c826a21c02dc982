package sim

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// pushCluster is a formed cluster of n nodes with the default push.
func pushCluster(t *testing.T, n int, seed int64, drop float64) *Cluster {
	t.Helper()
	net := DefaultNet
	net.Drop = drop
	return warmCluster(t, Config{Nodes: n, Seed: seed, Net: net})
}

// A write reaches nearly every node by pushes, long before any round
// could carry it, and the rest by anti-entropy. The cluster checks every
// push against the sender's store as it is sent (notePush): nothing is
// passed on before it is durable.
func TestPushSpreadsAWriteAtOnce(t *testing.T) {
	c := pushCluster(t, 50, 1, 0)
	v := write(t, c, 7, "k", "v")
	id := c.nodes[7].ID
	held := func() int {
		k := 0
		for _, n := range c.nodes {
			if p, ok := n.State().Peer(id); ok && p.MaxVersion >= v {
				k++
			}
		}
		return k
	}
	c.RunFor(50 * time.Millisecond)
	if got := held(); got < 45 {
		t.Fatalf("%d of 50 nodes hold the write 50 ms after it, want 45 or more by pushes", got)
	}
	c.RunFor(3 * time.Second)
	if got := held(); got != 50 {
		t.Fatalf("%d of 50 nodes hold the write after 3 rounds", got)
	}
	noViolations(t, c)
}

// Each node receives each write only a few times: a node that held it
// already does not pass it on, and the hop limit bounds the rest.
func TestPushDuplicatesAreBounded(t *testing.T) {
	c := pushCluster(t, 50, 2, 0)
	type key struct {
		node int
		rec  string
	}
	got := make(map[key]int)
	c.Hooks.Message = func(i int, m lsync.Message) {
		p, ok := m.(*lsync.Push)
		if !ok {
			return
		}
		for _, d := range p.Deltas {
			for _, r := range d.Records {
				got[key{i, d.ID + "/" + r.Key}]++
			}
		}
	}
	rng := rand.New(rand.NewSource(2))
	const writes = 20
	for w := 0; w < writes; w++ {
		write(t, c, rng.Intn(50), fmt.Sprint("w", w), "x")
		c.RunFor(500 * time.Millisecond)
	}
	c.RunFor(2 * time.Second)
	most, total := 0, 0
	for _, k := range got {
		most = max(most, k)
		total += k
	}
	mean := float64(total) / float64(writes*49)
	t.Logf("pushes received per node and write: mean %.2f, most %d", mean, most)
	// Each node that took a write sends it to push_fanout others: about
	// that many receptions per node, a few more for the unlucky.
	f := c.cfg.PushFanout
	if mean > float64(f)+0.5 || most > 4*f {
		t.Fatalf("pushes received per node and write: mean %.2f, most %d", mean, most)
	}
	if err := c.Converged(); err != nil {
		t.Fatal(err)
	}
	noViolations(t, c)
}

// At 20 % loss pushes miss some nodes and are cut short; anti-entropy
// still brings every write to every node.
func TestPushWithAntiEntropyDeliversAtLoss(t *testing.T) {
	c := pushCluster(t, 50, 3, 0.2)
	rng := rand.New(rand.NewSource(3))
	for w := 0; w < 40; w++ {
		if _, err := c.Write(rng.Intn(50), KV{Key: fmt.Sprint("w", w%10), Value: []byte{byte(w)}}); err != nil {
			t.Fatal(err)
		}
		c.RunFor(time.Duration(rng.Intn(300)) * time.Millisecond)
	}
	c.RunFor(20 * time.Second)
	if err := c.Converged(); err != nil {
		t.Fatal(err)
	}
	if c.Traffic().Pushes == 0 {
		t.Fatal("no push was sent")
	}
	noViolations(t, c)
}

// Every write reaches every node within a fraction of a round: the few
// nodes all pushes miss are found by the probes that follow them (the
// engine's probe.go), not left for their next exchange.
func TestProbesFindWhatPushesMissed(t *testing.T) {
	c := pushCluster(t, 100, 4, 0)
	rng := rand.New(rand.NewSource(4))
	for w := 0; w < 10; w++ {
		writer := rng.Intn(100)
		v := write(t, c, writer, fmt.Sprint("w", w), "x")
		id := c.nodes[writer].ID
		start := c.Now()
		ok := c.RunWhile(start+time.Second, func() bool {
			for _, n := range c.nodes {
				if p, ok := n.State().Peer(id); !ok || p.MaxVersion < v {
					return true
				}
			}
			return false
		})
		if took := c.Now() - start; !ok || took > 300*time.Millisecond {
			t.Fatalf("write %d reached every node after %v, want within 300 ms", w, took)
		}
		c.RunFor(time.Duration(rng.Int63n(int64(time.Second))))
	}
	noViolations(t, c)
}

// Twenty nodes each writing every 5 ms: every write reaches every node
// by its writer's own pushes, each widened to what its target missed,
// within a fraction of a round, and the bytes sent per record delivered
// stay under twice the record's size (no relays' duplicates).
func TestSteadyWritersReachEveryoneByPush(t *testing.T) {
	const nodes, every, span = 20, 5 * time.Millisecond, 3 * time.Second
	c := pushCluster(t, nodes, 3, 0)
	value := make([]byte, 100)
	type pending struct {
		w  int
		v  uint64
		at time.Duration
	}
	var open []pending
	var took []time.Duration
	before := c.Traffic().BytesOut
	start := c.Now()
	held := func(p pending) bool {
		id := c.nodes[p.w].ID
		for _, n := range c.nodes {
			if pi, ok := n.State().Peer(id); !ok || pi.MaxVersion < p.v {
				return false
			}
		}
		return true
	}
	for step := 0; c.Now()-start < span || len(open) > 0; step++ {
		if c.Now()-start > span+5*time.Second {
			t.Fatalf("%d writes still not everywhere 5 s after the last", len(open))
		}
		if c.Now()-start < span {
			for w := range nodes {
				v, err := c.Write(w, KV{fmt.Sprintf("key-%09d", step), value})
				if err != nil {
					t.Fatal(err)
				}
				open = append(open, pending{w, v, c.Now()})
			}
		}
		c.RunFor(every)
		keep := open[:0]
		for _, p := range open {
			if held(p) {
				took = append(took, c.Now()-p.at)
			} else {
				keep = append(keep, p)
			}
		}
		open = keep
	}
	slices.Sort(took)
	p99 := took[len(took)*99/100]
	perDelivery := float64(c.Traffic().BytesOut-before) / float64(len(took)*(nodes-1))
	recSize := float64(len("key-000000000") + len(value) + 16)
	t.Logf("%d writes: p50 %v, p99 %v, %.0f B sent per delivery (record ~%.0f B)",
		len(took), took[len(took)/2], p99, perDelivery, recSize)
	if p99 > 500*time.Millisecond {
		t.Errorf("write-to-all p99 %v, want at most half a round", p99)
	}
	if perDelivery > 2*recSize {
		t.Errorf("%.0f B sent per delivery, want at most twice the record's %.0f", perDelivery, recSize)
	}
	noViolations(t, c)
}
