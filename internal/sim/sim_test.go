package sim

import (
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/health"
)

// newCluster starts a cluster of n nodes and waits for it to form.
func newCluster(t *testing.T, n int, seed int64, net NetConfig) *Cluster {
	t.Helper()
	if net == (NetConfig{}) {
		net = DefaultNet
	}
	c, err := New(Config{Nodes: n, Seed: seed, Net: net})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.WarmUp(60 * time.Second); !ok {
		t.Fatalf("cluster of %d did not form in 60s", n)
	}
	return c
}

// noViolations fails the test with every invariant the run broke.
func noViolations(t *testing.T, c *Cluster) {
	t.Helper()
	for _, v := range c.Violations() {
		t.Error(v)
	}
}

func write(t *testing.T, c *Cluster, i int, key, val string) uint64 {
	t.Helper()
	v, err := c.Write(i, KV{Key: key, Value: []byte(val)})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// value returns what node i holds for node o's key.
func value(c *Cluster, i, o int, key string) (string, bool) {
	r, ok := c.Node(i).State().Get(c.Node(o).ID, key)
	return string(r.Value), ok
}

// healthOf is what node i believes about node j.
func healthOf(c *Cluster, i, j int) health.State {
	st, _ := c.Node(i).Health(c.Node(j).ID)
	return st
}

func TestEventQueueOrdersByTimeThenSequence(t *testing.T) {
	var q queue
	for i, at := range []time.Duration{5, 1, 3, 1, 5, 0} {
		q.push(event{at: at, node: int32(i)})
	}
	want := []int32{5, 1, 3, 2, 0, 4}
	for _, w := range want {
		if e := q.pop(); e.node != w {
			t.Fatalf("popped node %d, want %d", e.node, w)
		}
	}
	if q.len() != 0 {
		t.Fatal("queue not empty")
	}
}

func TestNetworkFaults(t *testing.T) {
	n := newNetwork(NetConfig{Drop: 0.5, Duplicate: 0.5, DelayMin: time.Millisecond, DelayMax: 2 * time.Millisecond}, 4, 1)
	lost, dup := 0, 0
	var buf []time.Duration
	for range 10000 {
		buf = n.route(100, 1400, buf)
		switch len(buf) {
		case 0:
			lost++
		case 2:
			dup++
		}
		for _, d := range buf {
			if d < time.Millisecond || d > 2*time.Millisecond {
				t.Fatalf("delay %v outside [1ms, 2ms]", d)
			}
		}
	}
	if lost < 4500 || lost > 5500 || dup < 2000 || dup > 3000 {
		t.Fatalf("lost %d, duplicated %d of 10000; want about 5000 and 2500", lost, dup)
	}
	// A stream message is late rather than lost, unless every retry fails.
	streamLost, late := 0, 0
	for range 10000 {
		buf = n.route(5000, 1400, buf)
		if len(buf) == 0 {
			streamLost++
		} else if buf[0] >= 200*time.Millisecond {
			late++
		}
	}
	if streamLost > 300 || late < 4000 {
		t.Fatalf("stream: %d lost, %d late of 10000; want ~1.6%% lost, ~50%% late", streamLost, late)
	}
	n.partition([][]int{{0, 1}})
	if n.reachable(0, 2) || !n.reachable(0, 1) || !n.reachable(2, 3) {
		t.Fatal("partition {0,1} | {2,3} not applied")
	}
	n.heal()
	n.blocked[[2]int{0, 1}] = true
	if n.reachable(0, 1) || !n.reachable(1, 0) {
		t.Fatal("one-way block not applied")
	}
}

func TestWriteReachesEveryNode(t *testing.T) {
	c := newCluster(t, 5, 1, NetConfig{})
	v := write(t, c, 2, "greeting", "hello")
	c.RunFor(10 * time.Second)
	for i := range 5 {
		got, ok := value(c, i, 2, "greeting")
		if !ok || got != "hello" {
			t.Fatalf("node %d holds %q (%v), want hello", i, got, ok)
		}
		if r, _ := c.Node(i).State().Get(c.Node(2).ID, "greeting"); r.Version != v {
			t.Fatalf("node %d holds version %d, want %d", i, r.Version, v)
		}
	}
	if err := c.Converged(); err != nil {
		t.Fatal(err)
	}
	noViolations(t, c)
}

func TestPartitionSuspendsAndHealConverges(t *testing.T) {
	c := newCluster(t, 6, 2, NetConfig{})
	left, right := []int{0, 1, 2}, []int{3, 4, 5}
	c.Partition(left, right)
	write(t, c, 1, "side", "left")
	write(t, c, 4, "side", "right")
	c.RunFor(40 * time.Second)
	for _, i := range left {
		for _, j := range right {
			if st := healthOf(c, i, j); st != health.Suspended && st != health.Dead {
				t.Fatalf("node %d sees %d across the partition as %v", i, j, st)
			}
			if st := healthOf(c, j, i); st != health.Suspended && st != health.Dead {
				t.Fatalf("node %d sees %d across the partition as %v", j, i, st)
			}
		}
	}
	if _, ok := value(c, 0, 4, "side"); ok {
		t.Fatal("a write crossed the partition")
	}
	if got, _ := value(c, 0, 1, "side"); got != "left" {
		t.Fatalf("left side did not converge: %q", got)
	}
	c.Heal()
	c.RunFor(30 * time.Second)
	if err := c.Converged(); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		for j := range 6 {
			if i != j && healthOf(c, i, j) != health.Alive {
				t.Fatalf("after heal node %d sees %d as %v", i, j, healthOf(c, i, j))
			}
		}
	}
	noViolations(t, c)
}

func TestCrashRestartKeepsStoreAndCatchesUp(t *testing.T) {
	c := newCluster(t, 5, 3, NetConfig{})
	before := write(t, c, 3, "k", "before")
	c.RunFor(5 * time.Second)
	c.Crash(3)
	write(t, c, 0, "while", "down")
	c.RunFor(20 * time.Second)
	for i := range 3 {
		if st := healthOf(c, i, 3); st != health.Suspended {
			t.Fatalf("node %d sees crashed node 3 as %v after 20s", i, st)
		}
	}
	if err := c.Restart(3); err != nil {
		t.Fatal(err)
	}
	// The store survived: its own write and the peers' data are back
	// before any gossip.
	if got, _ := value(c, 3, 3, "k"); got != "before" {
		t.Fatalf("restarted node lost its own write: %q", got)
	}
	after := write(t, c, 3, "k", "after")
	if after <= before {
		t.Fatalf("version after restart %d not above %d", after, before)
	}
	c.RunFor(20 * time.Second)
	if got, _ := value(c, 3, 0, "while"); got != "down" {
		t.Fatalf("restarted node did not catch up: %q", got)
	}
	for i := range 5 {
		if got, _ := value(c, i, 3, "k"); got != "after" {
			t.Fatalf("node %d holds %q for node 3, want the post-restart write", i, got)
		}
		if i != 3 && healthOf(c, i, 3) != health.Alive {
			t.Fatalf("node %d did not see node 3 recover: %v", i, healthOf(c, i, 3))
		}
	}
	if err := c.Converged(); err != nil {
		t.Fatal(err)
	}
	noViolations(t, c)
}

func TestOneWayBlockStillConverges(t *testing.T) {
	c := newCluster(t, 4, 4, NetConfig{})
	// 0 can hear 1 but not talk to it: 1 learns 0's writes through others.
	c.Block(0, 1)
	write(t, c, 0, "k", "v")
	c.RunFor(15 * time.Second)
	if got, _ := value(c, 1, 0, "k"); got != "v" {
		t.Fatalf("node 1 did not get node 0's write around the block: %q", got)
	}
	if err := c.Converged(); err != nil {
		t.Fatal(err)
	}
	noViolations(t, c)
}

func TestLossDuplicationReorderingConverge(t *testing.T) {
	net := NetConfig{Drop: 0.3, Duplicate: 0.3, Reorder: 0.3, ReorderWindow: 3 * time.Second,
		DelayMin: time.Millisecond, DelayMax: 50 * time.Millisecond}
	c := newCluster(t, 6, 5, net)
	for i := range 6 {
		for k := range 5 {
			write(t, c, i, string(rune('a'+k)), "v")
		}
		c.RunFor(time.Second)
	}
	c.RunFor(30 * time.Second)
	if err := c.Converged(); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckPrefixes(); err != nil {
		t.Fatal(err)
	}
	noViolations(t, c)
}

func TestSameSeedSameRun(t *testing.T) {
	run := func(seed int64) string {
		net := NetConfig{Drop: 0.2, Duplicate: 0.1, Reorder: 0.2, ReorderWindow: time.Second, DelayMax: 20 * time.Millisecond}
		c := newCluster(t, 6, seed, net)
		write(t, c, 1, "a", "1")
		c.Crash(4)
		c.RunFor(5 * time.Second)
		c.Partition([]int{0, 1})
		write(t, c, 2, "b", "2")
		c.RunFor(10 * time.Second)
		c.Heal()
		if err := c.Restart(4); err != nil {
			t.Fatal(err)
		}
		c.RunFor(10 * time.Second)
		return c.Fingerprint()
	}
	a, b := run(7), run(7)
	if a != b {
		t.Fatalf("same seed, different runs: %s vs %s", a, b)
	}
	if run(8) == a {
		t.Fatal("different seeds gave identical runs")
	}
}

func TestDigestStaysWithinMTU(t *testing.T) {
	c := newCluster(t, 60, 6, NetConfig{})
	c.RunFor(10 * time.Second)
	s := c.Syns()
	if s.MaxBytes > 1400 {
		t.Fatalf("largest syn %d bytes exceeds the MTU", s.MaxBytes)
	}
	if s.Incomplete == 0 {
		t.Fatal("60 nodes should not fit one digest")
	}
	noViolations(t, c) // the cluster also checks every syn against the MTU
}

// TestFlowControlBoundsStaleness overloads a small cluster — every node
// writes 200 records a second of distinct keys, and each takes in 60 kB
// a second over streams, less than the deltas of the others' writes — and
// checks that the engine's flow control throttles the writers, keeps the
// backlog a fraction of what it is without, and lets the cluster converge
// soon after the writes stop, where without it the backlog is still there
// two minutes later. Pushes are off: their datagrams are not held up by
// the simulated intake, so they would carry what the test means to choke.
func TestFlowControlBoundsStaleness(t *testing.T) {
	p := Params{Nodes: 6, Seed: 1, Duration: 40 * time.Second, WriteRate: 200, MessageBudget: 64 << 10, Keys: 1 << 20,
		CrashEvery: time.Hour, PushFanout: -1, StreamRate: 60000}
	free, err := Churn(p)
	if err != nil {
		t.Fatal(err)
	}
	p.Flow = true
	flow, err := Churn(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("without flow control: %+v", *free)
	t.Logf("with flow control:    %+v", *flow)
	if flow.Deferred == 0 || flow.RateAvg >= p.WriteRate {
		t.Fatalf("flow control never throttled: rate %v, deferred %d", flow.RateAvg, flow.Deferred)
	}
	if 3*flow.StaleEntriesP99 >= free.StaleEntriesP99 {
		t.Fatalf("p99 writes missing with flow control %v, without %v", flow.StaleEntriesP99, free.StaleEntriesP99)
	}
	if flow.ConvergedS < 0 || flow.ConvergedS > 30 || free.ConvergedS >= 0 && free.ConvergedS < 2*flow.ConvergedS {
		t.Fatalf("converged %vs after the writes with flow control, %vs without", flow.ConvergedS, free.ConvergedS)
	}
	if flow.Violations+free.Violations > 0 {
		t.Fatalf("violations: %v / %v", free.Violated, flow.Violated)
	}
}
