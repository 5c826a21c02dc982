package main

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/leviathan-gossip/leviathan/health"
	"github.com/leviathan-gossip/leviathan/internal/engine"
	"github.com/leviathan-gossip/leviathan/internal/loadtest"
	"github.com/leviathan-gossip/leviathan/internal/sim"
	"github.com/leviathan-gossip/leviathan/node"
	"github.com/leviathan-gossip/leviathan/store"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// The "cluster" scenario runs the same measurements on N real nodes in
// this process (UDP/TCP on 127.0.0.1) and on the simulator, with the same
// settings, so the two can be read side by side: a cold start through 3
// seeds, idle traffic, writes reaching every node, a crash being
// suspected, and the false suspicions of the whole run.

// ClusterResult is one run of the cluster scenario.
type ClusterResult struct {
	Mode       string  `json:"mode"` // real or sim; in the signed scenario badger-unsigned or badger-signed
	Nodes      int     `json:"nodes"`
	IntervalMs float64 `json:"interval_ms"` // gossip, heartbeat and health check
	JoinS      float64 `json:"join_s"`      // until every node sees 99% of the others alive; -1 if not 60s after the last start
	// StartS is how long creating and starting the nodes took, one after
	// the other (part of JoinS); 0 in the simulator.
	StartS float64 `json:"start_s,omitempty"`
	// Write-to-all: from Set returning on one node to the last other node
	// holding the write, over Writes writes.
	Writes     int     `json:"writes"`
	WriteP50S  float64 `json:"write_all_s_p50"`
	WriteMaxS  float64 `json:"write_all_s_max"`
	DetectMinS float64 `json:"detect_first_s"` // crash to the first node suspecting it
	DetectAllS float64 `json:"detect_all_s"`   // to the last; -1 if some did not within 60s
	// FalseSusp counts suspicions of running nodes from the first boot to
	// the crash; NodeMin is that span in node-minutes.
	FalseSusp int     `json:"false_suspicions"`
	NodeMin   float64 `json:"node_min"`
	IdleBytes float64 `json:"idle_bytes_per_node_per_s"` // sent, over 10 s from 10 s after the join and 30 s after the first boot
	// PushBytesPerRecord is the wire bytes of the pushes sent while the
	// writes spread, per record delivered (writes × other nodes).
	PushBytesPerRecord float64 `json:"push_bytes_per_record"`
	WallS              float64 `json:"wall_s"`
	// lat is each write's write-to-all latency, unrounded.
	lat []time.Duration
}

// clusterPush (-push) is the nodes' push_fanout: 0 the default, -1 off.
var clusterPush int

// clusterSoak (-soak) keeps the real cluster running this long after the
// writes before the crash: the false suspicions are counted over it too.
var clusterSoak time.Duration

const (
	clusterSeeds  = 3
	clusterWrites = 8
	idleWindow    = 10 * time.Second
	// idleSettle is how long after the join the idle window starts at
	// least, and idleFromBoot how long after the first boot: the last
	// member lists of the join, the loud rounds that follow membership
	// news and the digests still out of step after a cold start are the
	// join's cost, not a quiet cluster's. The memberlist side of
	// examples/bench/vs starts its window 30 s after the first boot too.
	idleSettle   = 10 * time.Second
	idleFromBoot = 30 * time.Second
)

// idleWait is how long to wait, joined after joined since the first boot,
// before the idle window.
func idleWait(joined time.Duration) time.Duration {
	return max(idleSettle, idleFromBoot-joined)
}

// clusterHealth is the detector configuration of both modes: the node's.
func clusterHealth() health.Config {
	d := node.DefaultConfig()
	return health.Config{
		Threshold: d.PhiThreshold, WindowSize: d.PhiWindow, InitialInterval: d.PhiInitialInterval,
		MaxInterval: d.PhiMaxInterval, DeadAfter: d.DeadAfter, PauseGuard: 5 * time.Second,
		DirectThreshold: d.PhiDirectThreshold,
	}
}

// clusterMode is how realCluster builds its nodes: the cluster scenario's
// zero value, or the signed scenario's.
type clusterMode struct {
	// keys, when not nil, makes every node sign (signed = true) with its
	// key, the keys of all pinned; ids are aliases, n0000 onwards.
	keys *loadtest.Keys
	// badger gives each node the node's own store in memory rather than
	// memStore: records are then signed, which needs a store that keeps
	// their proofs.
	badger bool
	writes int // writes timed; 0: clusterWrites
}

func clusterAlias(i int) string { return fmt.Sprintf("n%04d", i) }

func runCluster(nodes int, interval time.Duration, seed int64) ([]any, error) {
	r, err := realCluster(nodes, interval, seed, clusterMode{})
	if err != nil {
		return nil, fmt.Errorf("real: %w", err)
	}
	s, err := simCluster(nodes, interval, seed)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	return []any{r, s}, nil
}

func quantiles(ds []time.Duration) (p50, maxS float64) {
	if len(ds) == 0 {
		return -1, -1
	}
	slices.Sort(ds)
	return round3(ds[(len(ds)-1)/2].Seconds()), round3(ds[len(ds)-1].Seconds())
}

func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }

// memStore is a node.Store that keeps nothing: the scenario never
// restarts a node, and a hundred Badger instances on two cores would
// measure Badger.
type memStore struct{ gen uint64 }

func (s *memStore) Boot(id string, gen uint64) (store.SelfInfo, error) {
	s.gen = gen
	return store.SelfInfo{ID: id, Generation: gen, Boot: 1, Fresh: true}, nil
}
func (s *memStore) Apply(*lsync.Batch) error { return nil }
func (s *memStore) Load(func(lsync.PeerMeta, []lsync.Record) error) error {
	return nil
}
func (s *memStore) Close() error { return nil }

func realCluster(n int, interval time.Duration, seed int64, m clusterMode) (ClusterResult, error) {
	if m.writes == 0 {
		m.writes = clusterWrites
	}
	res := ClusterResult{Mode: "real", Nodes: n, IntervalMs: float64(interval.Milliseconds()), Writes: m.writes}
	wall := time.Now()
	ns := make([]*node.Node, 0, n)
	var alias map[string]int
	defer func() {
		for _, nd := range ns {
			nd.Close()
		}
	}()
	var seeds []string
	crashed := atomic.Int64{}
	crashed.Store(-1)
	var mu gosync.Mutex
	var falseSusp int
	var crashAt time.Time
	detect := make(map[int]time.Duration) // by observer: its first suspicion
	arrivals := make(map[string]int)
	allArrived := make(chan string, 64)
	start := time.Now()
	alias = make(map[string]int)
	for i := 0; i < n; i++ {
		cfg := node.DefaultConfig()
		cfg.Alias, cfg.Cluster, cfg.Port = clusterAlias(i), "bench", 0
		cfg.GossipVal, cfg.HeartbeatVal, cfg.HealthCheckVal = interval, interval, interval
		cfg.Seeds = append([]string(nil), seeds...)
		cfg.SkipLeave = true // a Close is a crash
		cfg.InMemory = true
		cfg.PushFanout = clusterPush
		m.keys.Sign(&cfg, cfg.Alias)
		opts := []node.Option{node.WithRandSeed(seed*1_000_003 + int64(i))}
		if !m.badger {
			opts = append(opts, node.WithStore(&memStore{}))
		}
		nd, err := node.New(cfg, opts...)
		if err != nil {
			return res, err
		}
		mu.Lock()
		alias[nd.ID()] = i
		mu.Unlock()
		sub := nd.Subscribe(1 << 14)
		go func() {
			for ev := range sub.C {
				mu.Lock()
				switch ev.Type {
				case node.EventSuspend:
					for _, id := range ev.Peers {
						if int64(alias[id]) == crashed.Load() {
							if _, seen := detect[i]; !seen && !crashAt.IsZero() {
								detect[i] = time.Since(crashAt)
							}
						} else {
							falseSusp++
						}
					}
				case node.EventUpdates:
					for _, d := range ev.Deltas {
						if arrivals[d.Key]++; arrivals[d.Key] == n-1 {
							allArrived <- d.Key
						}
					}
				}
				mu.Unlock()
			}
		}()
		// Started back to back, as a deploy starts them: each node's own
		// random phase is what spreads rounds, beats and checks.
		if err := nd.Start(); err != nil {
			return res, err
		}
		ns = append(ns, nd)
		if i < clusterSeeds {
			seeds = append(seeds, nd.Addr())
		}
	}
	res.StartS = round3(time.Since(start).Seconds())
	need := n - 1 - (n-1)/100
	res.JoinS = -1
	// The deadline runs from the last start: a signed node hashes its
	// heartbeat chain in New, and a hundred of them take a while.
	started := time.Now()
	for time.Since(started) < 60*time.Second {
		ok := true
		for _, nd := range ns {
			if len(nd.LivePeers()) < need {
				ok = false
				break
			}
		}
		if ok {
			res.JoinS = round3(time.Since(start).Seconds())
			break
		}
		time.Sleep(50 * time.Millisecond) // polling real sockets, bounded by the deadline
	}
	if res.JoinS < 0 {
		return res, fmt.Errorf("%d nodes did not join in 60s", n)
	}
	bytesOut := func() uint64 {
		var sum uint64
		for _, nd := range ns {
			sum += nd.Status().Stats.BytesOut
		}
		return sum
	}
	time.Sleep(idleWait(time.Since(start)))
	b0, t0 := bytesOut(), time.Now()
	time.Sleep(idleWindow) // the measured idle window
	res.IdleBytes = round3(float64(bytesOut()-b0) / float64(n) / time.Since(t0).Seconds())

	pushBytes := func() uint64 {
		var sum uint64
		for _, nd := range ns {
			sum += nd.Status().Stats.PushBytesOut
		}
		return sum
	}
	p0 := pushBytes()
	rng := rand.New(rand.NewSource(seed))
	var lat []time.Duration
	for w := 0; w < m.writes; w++ {
		time.Sleep(time.Duration(rng.Int63n(int64(interval)))) // a random phase of the round
		key := fmt.Sprintf("w%d", w)
		if _, err := ns[rng.Intn(n)].Set(context.Background(), key, []byte("x")); err != nil {
			return res, err
		}
		t := time.Now()
		select {
		case <-allArrived:
			lat = append(lat, time.Since(t))
		case <-time.After(60 * time.Second):
			return res, fmt.Errorf("write %d did not reach every node in 60s", w)
		}
	}
	res.WriteP50S, res.WriteMaxS = quantiles(lat)
	res.lat = lat
	res.PushBytesPerRecord = round3(float64(pushBytes()-p0) / float64(m.writes*(n-1)))

	if clusterSoak > 0 {
		time.Sleep(clusterSoak) // -soak: a long quiet run, for false suspicions
	}
	victim := clusterSeeds + rng.Intn(max(n-clusterSeeds, 1))
	victim = min(victim, n-1)
	mu.Lock()
	res.FalseSusp = falseSusp
	res.NodeMin = round3(float64(n) * time.Since(start).Minutes())
	crashed.Store(int64(victim))
	crashAt = time.Now()
	mu.Unlock()
	ns[victim].Close()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		got := len(detect)
		mu.Unlock()
		if got >= n-1 {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling, bounded by the deadline
	}
	mu.Lock()
	res.setDetection(detect, n)
	mu.Unlock()
	res.WallS = round3(time.Since(wall).Seconds())
	return res, nil
}

// setDetection fills the first and last detection times from the time each
// node first suspected the crashed one; -1 where none or not all did.
func (res *ClusterResult) setDetection(detect map[int]time.Duration, n int) {
	var d []time.Duration
	for _, t := range detect {
		d = append(d, t)
	}
	slices.Sort(d)
	res.DetectMinS, res.DetectAllS = -1, -1
	if len(d) > 0 {
		res.DetectMinS = round3(d[0].Seconds())
	}
	if len(d) >= n-1 {
		res.DetectAllS = round3(d[len(d)-1].Seconds())
	}
}

func simCluster(n int, interval time.Duration, seed int64) (ClusterResult, error) {
	res := ClusterResult{Mode: "sim", Nodes: n, IntervalMs: float64(interval.Milliseconds()), Writes: clusterWrites}
	wall := time.Now()
	h := clusterHealth()
	c, err := sim.New(sim.Config{Nodes: n, Seed: seed, Seeds: clusterSeeds, Gossip: interval, Heartbeat: interval,
		Check: interval, Health: &h, PushFanout: clusterPush})
	if err != nil {
		return res, err
	}
	crashed := -1
	var crashAt time.Duration
	detect := make(map[int]time.Duration)
	c.Hooks.Events = func(i int, evs []engine.Event) {
		for _, ev := range evs {
			if ev.Kind != engine.Suspend {
				continue
			}
			for _, id := range ev.Peers {
				if crashed >= 0 && id == c.Node(crashed).ID {
					if _, seen := detect[i]; !seen {
						detect[i] = c.Now() - crashAt
					}
				} else {
					res.FalseSusp++
				}
			}
		}
	}
	if err := c.Start(); err != nil {
		return res, err
	}
	join, ok := c.WarmUp(60 * time.Second)
	res.JoinS = round3(join.Seconds())
	if !ok {
		return res, fmt.Errorf("%d nodes did not join in 60s", n)
	}
	c.RunFor(idleWait(join))
	b0 := c.Traffic().BytesOut
	c.RunFor(idleWindow)
	res.IdleBytes = round3(float64(c.Traffic().BytesOut-b0) / float64(n) / idleWindow.Seconds())

	p0 := c.Traffic().PushBytes
	rng := rand.New(rand.NewSource(seed))
	var lat []time.Duration
	for w := 0; w < clusterWrites; w++ {
		c.RunFor(time.Duration(rng.Int63n(int64(interval))))
		origin := rng.Intn(n)
		v, err := c.Write(origin, sim.KV{Key: fmt.Sprintf("w%d", w), Value: []byte("x")})
		if err != nil {
			return res, err
		}
		t := c.Now()
		id := c.Node(origin).ID
		held := func() int {
			k := 0
			for _, nd := range c.Nodes() {
				if p, ok := nd.State().Peer(id); ok && p.MaxVersion >= v {
					k++
				}
			}
			return k
		}
		if !c.RunWhile(t+60*time.Second, func() bool { return held() < n-1 }) {
			return res, fmt.Errorf("write %d did not reach every node in 60s", w)
		}
		lat = append(lat, c.Now()-t)
	}
	res.WriteP50S, res.WriteMaxS = quantiles(lat)
	res.PushBytesPerRecord = round3(float64(c.Traffic().PushBytes-p0) / float64(clusterWrites*(n-1)))

	victim := min(clusterSeeds+rng.Intn(max(n-clusterSeeds, 1)), n-1)
	res.NodeMin = round3(float64(n) * c.Now().Minutes())
	crashed, crashAt = victim, c.Now()
	c.Crash(victim)
	c.RunWhile(crashAt+60*time.Second, func() bool { return len(detect) < n-1 })
	res.setDetection(detect, n)
	res.WallS = round3(time.Since(wall).Seconds())
	return res, nil
}
