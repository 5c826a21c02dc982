package node_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leviathan-gossip/leviathan/node"
	"github.com/leviathan-gossip/leviathan/sync/transport"
)

// A node in memory on a free loopback port: set a key and read it back.
func ExampleNew() {
	n, err := node.New(node.Config{Alias: "example", Addr: "127.0.0.1", Port: 0, InMemory: true})
	if err != nil {
		log.Fatal(err)
	}
	if err := n.Start(); err != nil {
		log.Fatal(err)
	}
	defer n.Close()

	ctx := context.Background()
	v, err := n.Set(ctx, "greeting", []byte("hello"))
	if err != nil {
		log.Fatal(err)
	}
	e, err := n.Get(ctx, "", "greeting") // "" is this node
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("greeting = %s (version %d of %d)\n", e.Value, e.Version, v)
	// Output: greeting = hello (version 1 of 1)
}

// A preset, adjusted: a node for one machine, in memory on a free port.
func ExampleDefaultLocalConfig() {
	cfg := node.DefaultLocalConfig()
	cfg.Alias, cfg.Port, cfg.InMemory = "local", 0, true
	n, err := node.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()
	fmt.Println(cfg.GossipVal, n.ID())
	// Output: 200ms local
}

// Get tells a peer this node never heard of from a key that is missing.
func ExampleNode_Get() {
	n, err := node.New(fast("me"))
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	if _, err := n.Set(ctx, "greeting", []byte("hello")); err != nil {
		log.Fatal(err)
	}
	for _, q := range [][2]string{{"self", "greeting"}, {"self", "nothing"}, {"peer9", "greeting"}} {
		e, err := n.Get(ctx, q[0], q[1])
		switch {
		case errors.Is(err, node.ErrUnknownPeer):
			fmt.Println(q[0], "is not a peer this node knows")
		case errors.Is(err, node.ErrNotFound):
			fmt.Println(q[0], "has no key", q[1])
		default:
			fmt.Printf("%s = %s (version %d)\n", q[1], e.Value, e.Version)
		}
	}
	// Output:
	// greeting = hello (version 1)
	// self has no key nothing
	// peer9 is not a peer this node knows
}

// Configuration from TOML text; intervals are milliseconds or durations.
func ExampleParseConfig() {
	cfg, err := node.ParseConfig(`
alias = "peer1"
seeds = ["127.0.0.1:7002"]
gossip_val = 500
dead_after = "1m"
`, "inline")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.Alias, cfg.Seeds, cfg.GossipVal, cfg.DeadAfter, cfg.PhiThreshold)

	_, err = node.ParseConfig(`gossip_vall = 500`, "typo.toml")
	fmt.Println(err)
	// Output:
	// peer1 [127.0.0.1:7002] 500ms 1m0s 8
	// config typo.toml: invalid config:
	//   unknown key gossip_vall (did you mean gossip_val?)
}

// fast makes an example cluster converge in milliseconds.
func fast(alias string) node.Config {
	d := 20 * time.Millisecond
	return node.Config{Alias: alias, Cluster: "example", InMemory: true, GossipVal: d, HeartbeatVal: d, HealthCheckVal: d}
}

// Two nodes on an in-memory network: b's subscriber is told of a's write.
func ExampleNode_Subscribe() {
	network := transport.NewMemNetwork(1)
	ta, _ := network.Listen("a:1", 1400, 4<<20)
	tb, _ := network.Listen("b:1", 1400, 4<<20)
	a, err := node.New(fast("a"), node.WithTransport(ta))
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	cfg := fast("b")
	cfg.Seeds = []string{"a:1"}
	b, err := node.New(cfg, node.WithTransport(tb))
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	sub := b.Subscribe(64)
	defer sub.Close()
	_ = a.Start()
	_ = b.Start()
	if _, err := a.Set(context.Background(), "greeting", []byte("hello")); err != nil {
		log.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-sub.C:
			// After ev.Missed > 0, re-read with Keys and Get: events are
			// notifications, the store is the truth.
			if ev.Type != node.EventUpdates {
				continue // peers_discover and friends
			}
			for _, d := range ev.Deltas {
				fmt.Printf("%s: %s/%s = %s (version %d)\n", ev.Type, d.Peer, d.Key, d.Value, d.Version)
			}
			return
		case <-timeout:
			fmt.Println("no update within 10 s")
			return
		}
	}
	// Output: updates: a/greeting = hello (version 1)
}

// Join at run time and wait for the first contact, then Leave without
// closing: the peer sees a leave, not a failure.
func ExampleNode_Join() {
	network := transport.NewMemNetwork(1)
	ta, _ := network.Listen("a:1", 1400, 4<<20)
	tb, _ := network.Listen("b:1", 1400, 4<<20)
	a, err := node.New(fast("a"), node.WithTransport(ta))
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := node.New(fast("b"), node.WithTransport(tb)) // no seeds
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	_ = a.Start()
	_ = b.Start()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Join(ctx, "a:1"); err != nil {
		log.Fatal(err)
	}
	if err := b.WaitContact(ctx); err != nil {
		log.Fatal(err) // a never answered within 10 s
	}
	fmt.Println("b sees a", b.Peers()[0].State)
	// stateOfB polls a's view of b until it is want, for at most 10 s.
	stateOfB := func(want node.PeerState) node.PeerState {
		var got node.PeerState
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if peers := a.Peers(); len(peers) == 1 {
				if got = peers[0].State; got == want {
					break
				}
			}
		}
		return got
	}
	fmt.Println("after Join, a sees b", stateOfB(node.StateAlive))
	if err := b.Leave(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("after Leave, a sees b", stateOfB(node.StateLeft))
	_, err = b.Set(ctx, "k", []byte("v"))
	fmt.Println("b.Set:", err)
	// Output:
	// b sees a alive
	// after Join, a sees b alive
	// after Leave, a sees b left
	// b.Set: node: left the cluster
}

// Metrics go into the registry you pass (and are served at GET /metrics).
func ExampleWithMetrics() {
	reg := prometheus.NewRegistry()
	n, err := node.New(fast("metered"), node.WithMetrics(reg))
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()
	for _, k := range []string{"a", "b", "c"} {
		if _, err := n.Set(context.Background(), k, []byte("v")); err != nil {
			log.Fatal(err)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range families {
		switch f.GetName() {
		case "leviathan_keys", "leviathan_max_version":
			fmt.Println(f.GetName(), f.GetMetric()[0].GetGauge().GetValue())
		case "leviathan_store_write_seconds":
			for _, m := range f.GetMetric() {
				fmt.Println(f.GetName(), m.GetLabel()[0].GetValue(), "writes:", m.GetHistogram().GetSampleCount())
			}
		}
	}
	// Output:
	// leviathan_keys 3
	// leviathan_max_version 3
	// leviathan_store_write_seconds local writes: 3
	// leviathan_store_write_seconds remote writes: 0
}
