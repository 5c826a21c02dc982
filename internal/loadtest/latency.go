package loadtest

import (
	"context"
	"fmt"
	"math/rand"
	"path/filepath"
	"sort"
	"time"

	"github.com/leviathan-gossip/leviathan/node"
)

// LatencyResult is write-to-all latency over real sockets.
type LatencyResult struct {
	Scenario string  `json:"scenario"`
	Nodes    int     `json:"nodes"`
	GossipMs float64 `json:"gossip_ms"`
	Writes   int     `json:"writes"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
}

// Latency starts nodes in this process (real UDP/TCP on 127.0.0.1, data in
// dir), then writes one key at a time on a random node, at a random phase
// of the gossip interval, and measures until every other node has
// announced it.
func Latency(nodes, writes int, gossip time.Duration, dir string, seed int64) (LatencyResult, error) {
	res := LatencyResult{Scenario: "latency", Nodes: nodes, GossipMs: float64(gossip.Milliseconds()), Writes: writes}
	var ns []*node.Node
	defer func() {
		for _, n := range ns {
			n.Close()
		}
	}()
	for i := 0; i < nodes; i++ {
		cfg := node.DefaultConfig()
		cfg.Alias, cfg.Cluster, cfg.Port = fmt.Sprintf("n%02d", i), "latency", 0
		cfg.DataDir = filepath.Join(dir, cfg.Alias)
		cfg.GossipVal, cfg.HeartbeatVal, cfg.HealthCheckVal = gossip, gossip, gossip
		if i > 0 {
			cfg.Seeds = []string{ns[0].Addr()}
		}
		n, err := node.New(cfg)
		if err == nil {
			err = n.Start()
		}
		if err != nil {
			return res, err
		}
		ns = append(ns, n)
	}
	for _, n := range ns {
		if err := waitLive(n, nodes-1, 60*time.Second); err != nil {
			return res, err
		}
	}
	// Every node reports arrivals of keys on one channel.
	type arrival struct {
		key string
		at  time.Time
	}
	arrivals := make(chan arrival, 4096)
	for _, n := range ns {
		sub := n.Subscribe(4096)
		defer sub.Close()
		go func() {
			for ev := range sub.C {
				for _, d := range ev.Deltas {
					arrivals <- arrival{d.Key, time.Now()}
				}
			}
		}()
	}
	rng := rand.New(rand.NewSource(seed))
	var lat []time.Duration
	for w := 0; w < writes; w++ {
		time.Sleep(time.Duration(rng.Int63n(int64(gossip)))) // a random phase of the round
		key := fmt.Sprintf("lat-%d", w)
		start := time.Now()
		if _, err := ns[rng.Intn(nodes)].Set(context.Background(), key, []byte("x")); err != nil {
			return res, err
		}
		got := 0
		deadline := time.After(60 * gossip)
		for got < nodes-1 {
			select {
			case a := <-arrivals:
				if a.key == key {
					got++
					if got == nodes-1 {
						lat = append(lat, a.at.Sub(start))
					}
				}
			case <-deadline:
				return res, fmt.Errorf("loadtest: write %d reached %d of %d nodes", w, got, nodes-1)
			}
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	res.P50Ms = ms(lat[len(lat)/2])
	res.P99Ms = ms(lat[(len(lat)*99)/100])
	res.MaxMs = ms(lat[len(lat)-1])
	return res, nil
}
