package main

import (
	"fmt"
	"io"
	"log"
	"math"
	"math/rand"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// The memberlist run measures what the cluster scenario measures on
// Leviathan: N nodes in this process on loopback with the LAN defaults,
// joined through 3 seeds, idle traffic, broadcasts reaching every node, a
// crash, and false suspicions and deaths from the first boot to the crash.

const (
	mlSeeds = 3
	// mlWait bounds each wait: for the join, a broadcast, the crash. The
	// suspicion timeout alone may reach 48 s at 100 nodes.
	mlWait = 120 * time.Second
	// roundPhase spreads the writes over a random phase of the 1 s probe
	// round, as the cluster scenario does over its 1 s gossip round.
	roundPhase = time.Second
)

// pushPullStagger is memberlist's default PushPullInterval: a node waits a
// random part of it, and then a whole period, before its first push-pull.
// Once that first wait is over, every node push-pulls exactly once in any
// window of one period, so an idle window that starts no earlier and lasts
// a whole period counts every node's share.
var pushPullStagger = memberlist.DefaultLANConfig().PushPullInterval

// pushPullPeriod is memberlist's push-pull period at n nodes: the interval
// grows by one for each doubling past 32 nodes.
func pushPullPeriod(n int) time.Duration {
	if n <= 32 {
		return pushPullStagger
	}
	return time.Duration(math.Ceil(math.Log2(float64(n))-5)+1) * pushPullStagger
}

type mlParams struct {
	Nodes, Writes int
	Seed          int64
	// The idle window starts Settle after the join, and no earlier than
	// pushPullStagger after the first boot, and lasts Idle; 0 is one
	// push-pull period.
	Settle, Idle time.Duration
	Suspicions   *suspicionCounter
	Log          io.Writer
	// Tune, when set, changes each node's configuration after the
	// defaults, to see which setting a result depends on.
	Tune func(*memberlist.Config)
}

// mlCluster is the run's shared state. Its lock is taken inside
// memberlist's callbacks, some of which hold memberlist's own locks, so
// nothing under it calls into memberlist.
type mlCluster struct {
	n       int
	sent    sentBytes
	members []*member

	mu          sync.Mutex
	arrivals    map[string]int // broadcast: nodes other than the sender holding it
	allArrived  chan string
	victim      string
	crashAt     time.Time
	detect      map[string]time.Duration // by observer: crash until it marked the victim dead
	falseDeaths int
	stopped     bool
}

func runMemberlist(p mlParams) (Row, error) {
	wall := time.Now()
	res := Row{System: "memberlist " + memberlistVersion(), Nodes: p.Nodes, Writes: p.Writes,
		Rounds: rounds(p.Tune), Detected: "dead"}
	c := &mlCluster{n: p.Nodes, arrivals: make(map[string]int), allArrived: make(chan string, p.Writes+1),
		detect: make(map[string]time.Duration)}
	defer c.shutdown()
	start := time.Now()
	suspicions0 := p.Suspicions.Load()
	if err := c.start(p.Log, p.Tune); err != nil {
		return res, err
	}
	join, err := c.awaitJoin(start)
	if err != nil {
		return res, err
	}
	res.JoinS = round3(join.Seconds())

	time.Sleep(max(p.Settle, time.Until(start.Add(pushPullStagger)))) // see pushPullStagger
	idle := p.Idle
	if idle <= 0 {
		idle = pushPullPeriod(p.Nodes)
	}
	res.IdleS = idle.Seconds()
	res.IdleUDP, res.IdleTCP = c.idleTraffic(idle)
	res.IdleBytes = round3(res.IdleUDP + res.IdleTCP)

	rng := rand.New(rand.NewSource(p.Seed))
	res.WriteP50S, res.WriteMaxS, res.Missed = c.broadcasts(rng, p.Writes)

	victim := min(mlSeeds+rng.Intn(max(p.Nodes-mlSeeds, 1)), p.Nodes-1)
	res.FalseSusp = int(p.Suspicions.Load() - suspicions0)
	res.NodeMin = round3(float64(p.Nodes) * time.Since(start).Minutes())
	c.mu.Lock()
	res.FalseDeaths = c.falseDeaths
	c.mu.Unlock()
	first, all := c.crash(victim)
	res.DetectMinS, res.DetectAllS = round3(first.Seconds()), round3(all.Seconds())
	res.WallS = round3(time.Since(wall).Seconds())
	return res, nil
}

// idleTraffic waits out window and returns the bytes per node per second
// sent over UDP and TCP in it.
func (c *mlCluster) idleTraffic(window time.Duration) (udp, tcp float64) {
	udp0, tcp0, t0 := c.sent.udp.Load(), c.sent.tcp.Load(), time.Now()
	time.Sleep(window) // the measured idle window
	per := float64(c.n) * time.Since(t0).Seconds()
	return round3(float64(c.sent.udp.Load()-udp0) / per), round3(float64(c.sent.tcp.Load()-tcp0) / per)
}

// start creates every node, then has all of them join the seeds at once.
func (c *mlCluster) start(logOut io.Writer, tune func(*memberlist.Config)) error {
	logger := log.New(logOut, "", log.LstdFlags)
	for i := range c.n {
		m, err := c.newMember(i, logger, tune)
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		c.members = append(c.members, m)
	}
	var seeds []string
	for _, m := range c.members[:min(mlSeeds, c.n)] {
		seeds = append(seeds, m.addr)
	}
	errs := make(chan error, c.n)
	var wg sync.WaitGroup
	for _, m := range c.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			others := slices.DeleteFunc(slices.Clone(seeds), func(s string) bool { return s == m.addr })
			if _, err := m.ml.Join(others); err != nil {
				errs <- fmt.Errorf("%s: join: %w", m.name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs // the first error, or nil
}

func (c *mlCluster) newMember(i int, logger *log.Logger, tune func(*memberlist.Config)) (*member, error) {
	t, port, err := newCountingTransport(&c.sent, logger)
	if err != nil {
		return nil, err
	}
	m := &member{c: c, name: fmt.Sprintf("n%04d", i), addr: fmt.Sprintf("127.0.0.1:%d", port),
		seen: make(map[string]bool)}
	m.queue = &memberlist.TransmitLimitedQueue{NumNodes: m.numNodes, RetransmitMult: memberlist.DefaultLANConfig().RetransmitMult}
	cfg := memberlist.DefaultLANConfig()
	cfg.Name = m.name
	cfg.BindAddr, cfg.BindPort = "127.0.0.1", port
	cfg.AdvertiseAddr, cfg.AdvertisePort = "127.0.0.1", port
	cfg.Transport = t
	cfg.Delegate = m
	cfg.Events = observer{c: c, name: m.name}
	cfg.Logger = logger
	if tune != nil {
		tune(cfg)
	}
	ml, err := memberlist.Create(cfg)
	if err != nil {
		_ = t.Shutdown()
		return nil, err
	}
	m.ml = ml
	m.live.Store(ml)
	return m, nil
}

// awaitJoin polls until every node sees 99% of the others alive.
func (c *mlCluster) awaitJoin(start time.Time) (time.Duration, error) {
	need := c.n - 1 - (c.n-1)/100
	for time.Since(start) < mlWait {
		if !slices.ContainsFunc(c.members, func(m *member) bool { return m.ml.NumMembers()-1 < need }) {
			return time.Since(start), nil
		}
		time.Sleep(50 * time.Millisecond) // polling real sockets, bounded by mlWait
	}
	return 0, fmt.Errorf("%d nodes did not join in %v", c.n, mlWait)
}

// broadcasts sends writes broadcasts from random nodes, one at a time, and
// returns the median and longest time until every other node had one, and
// how many never reached all.
func (c *mlCluster) broadcasts(rng *rand.Rand, writes int) (p50, maxS float64, missed int) {
	var lat []time.Duration
	for w := range writes {
		time.Sleep(time.Duration(rng.Int63n(int64(roundPhase))))
		key := fmt.Sprintf("w%d=x", w)
		c.members[rng.Intn(c.n)].broadcast(key)
		t := time.Now()
		if c.awaitAll(key, t.Add(mlWait)) {
			lat = append(lat, time.Since(t))
		} else {
			missed++
		}
	}
	p50, maxS = quantiles(lat)
	return p50, maxS, missed
}

func (c *mlCluster) awaitAll(key string, deadline time.Time) bool {
	timeout := time.After(time.Until(deadline))
	for {
		select {
		case k := <-c.allArrived:
			if k == key {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// crash shuts the victim down without a leave and returns how long until
// the first and the last other node marked it dead; -1 for the last when
// some did not within mlWait.
func (c *mlCluster) crash(victim int) (first, all time.Duration) {
	m := c.members[victim]
	c.mu.Lock()
	c.victim, c.crashAt = m.name, time.Now()
	c.mu.Unlock()
	_ = m.ml.Shutdown()
	deadline := time.Now().Add(mlWait)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		got := len(c.detect)
		c.mu.Unlock()
		if got >= c.n-1 {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling, bounded by the deadline
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var ds []time.Duration
	for _, d := range c.detect {
		ds = append(ds, d)
	}
	slices.Sort(ds)
	first, all = -time.Second, -time.Second
	if len(ds) > 0 {
		first = ds[0]
	}
	if len(ds) >= c.n-1 {
		all = ds[len(ds)-1]
	}
	return first, all
}

func (c *mlCluster) shutdown() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, m := range c.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = m.ml.Shutdown()
		}()
	}
	wg.Wait()
}

// arrived records that a node other than the sender got key.
func (c *mlCluster) arrived(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.arrivals[key]++; c.arrivals[key] == c.n-1 {
		select {
		case c.allArrived <- key:
		default:
		}
	}
}

// left records that observer saw name leave the member list.
func (c *mlCluster) left(observer, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.stopped || observer == c.victim:
	case name == c.victim:
		if _, seen := c.detect[observer]; !seen {
			c.detect[observer] = time.Since(c.crashAt)
		}
	default:
		c.falseDeaths++
	}
}

func memberlistVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/hashicorp/memberlist" {
				return d.Version
			}
		}
	}
	return "(unknown version)"
}

func quantiles(ds []time.Duration) (p50, maxS float64) {
	if len(ds) == 0 {
		return -1, -1
	}
	slices.Sort(ds)
	return round3(ds[(len(ds)-1)/2].Seconds()), round3(ds[len(ds)-1].Seconds())
}

func round3(x float64) float64 {
	if x < 0 {
		return -1
	}
	return float64(int64(x*1000+0.5)) / 1000
}

// rounds describes the nodes' gossip and probe intervals.
func rounds(tune func(*memberlist.Config)) string {
	c := memberlist.DefaultLANConfig()
	if tune != nil {
		tune(c)
	}
	return fmt.Sprintf("gossip %v, probe %v", c.GossipInterval, c.ProbeInterval)
}
