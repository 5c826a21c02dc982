package admin

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/leviathan-gossip/leviathan/node"
	"github.com/leviathan-gossip/leviathan/sync/transport"
)

// fastConfig makes a node gossip, beat and check every few milliseconds,
// so that tests converge quickly without sleeping.
func fastConfig(alias string) node.Config {
	return node.Config{
		Alias:              alias,
		Cluster:            "test",
		Addr:               "127.0.0.1",
		InMemory:           true,
		GossipVal:          20 * time.Millisecond,
		HeartbeatVal:       20 * time.Millisecond,
		HealthCheckVal:     20 * time.Millisecond,
		PhiInitialInterval: 50 * time.Millisecond,
		PhiMaxInterval:     time.Second,
		// Generous, so that a stalled -race run does not suspend a live peer.
		PhiThreshold: 20,
		DeadAfter:    5 * time.Second,
	}
}

// eventually polls cond until it returns nil or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		<-tick.C
	}
}

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

// newNode is a node that is not started, with cfg tweaked: its admin API
// answers without gossip.
func newNode(t *testing.T, cfg node.Config, opts ...node.Option) *node.Node {
	t.Helper()
	n, err := node.New(cfg, append([]node.Option{node.WithLogger(testLogger(t))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func startNode(t *testing.T, cfg node.Config, opts ...node.Option) *node.Node {
	t.Helper()
	n := newNode(t, cfg, opts...)
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	return n
}

// memCluster starts n nodes m0.. on an in-memory network; node 0 is the
// seed.
func memCluster(t *testing.T, n int) []*node.Node {
	t.Helper()
	net := transport.NewMemNetwork(1)
	var nodes []*node.Node
	for i := 0; i < n; i++ {
		nodes = append(nodes, memNode(t, net, i))
	}
	return nodes
}

// memNode starts node m<i> on net, with m0 as its seed.
func memNode(t *testing.T, net *transport.MemNetwork, i int) *node.Node {
	t.Helper()
	tr, err := net.Listen(fmt.Sprintf("mem-%d:1", i), 1400, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig(fmt.Sprintf("m%d", i))
	cfg.Seeds = []string{"mem-0:1"}
	return startNode(t, cfg, node.WithTransport(tr), node.WithRandSeed(int64(i+1)))
}

// udpCluster starts n nodes u0.. on loopback with real sockets; node 0 is
// the seed. tweak, when set, adjusts node i's config.
func udpCluster(t *testing.T, n int, tweak func(i int, c *node.Config)) []*node.Node {
	t.Helper()
	var nodes []*node.Node
	for i := 0; i < n; i++ {
		cfg := fastConfig(fmt.Sprintf("u%d", i))
		if i > 0 {
			cfg.Seeds = []string{nodes[0].Addr()}
		}
		if tweak != nil {
			tweak(i, &cfg)
		}
		nodes = append(nodes, startNode(t, cfg))
	}
	return nodes
}

// handler is the admin API of n as its own config sets it.
func handler(n *node.Node) http.Handler { return New(n, ConfigFrom(n.Config())) }
