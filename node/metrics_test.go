package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/leviathan-gossip/leviathan/sync/transport"
)

// memCluster starts n nodes m0.. on an in-memory network; node 0 is the
// seed. opts adds options per node, tweaks adjust every config.
func memCluster(t *testing.T, n int, opts func(i int) []Option, tweaks ...func(*Config)) []*Node {
	t.Helper()
	net := transport.NewMemNetwork(1)
	var nodes []*Node
	for i := 0; i < n; i++ {
		tr, err := net.Listen(fmt.Sprintf("mem-%d:1", i), 1400, 4<<20)
		if err != nil {
			t.Fatal(err)
		}
		cfg := fastConfig(fmt.Sprintf("m%d", i))
		cfg.Seeds = []string{"mem-0:1"}
		for _, tweak := range tweaks {
			tweak(&cfg)
		}
		o := []Option{WithTransport(tr), WithRandSeed(int64(i + 1))}
		if opts != nil {
			o = append(o, opts(i)...)
		}
		nodes = append(nodes, startNode(t, cfg, o...))
	}
	return nodes
}

// sample returns the value of a counter, gauge or the sample count of a
// histogram whose labels include want; ok is false if no series matches.
func sample(fams []*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for k, v := range want {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == k && l.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func series(fams []*dto.MetricFamily, name string) int {
	for _, f := range fams {
		if f.GetName() == name {
			return len(f.GetMetric())
		}
	}
	return 0
}

func TestMetricsAfterClusterRun(t *testing.T) {
	reg := prometheus.NewRegistry()
	nodes := memCluster(t, 3, func(i int) []Option {
		if i == 0 {
			return []Option{WithMetrics(reg)}
		}
		return nil
	})
	// A subscriber that never reads, to be counted as dropping events.
	slow := nodes[0].Subscribe(1)
	defer slow.Close()
	const keys = 20
	var last uint64
	for i := 0; i < keys; i++ {
		v, err := nodes[1].Set(context.Background(), fmt.Sprintf("k%02d", i), []byte("v"))
		if err != nil {
			t.Fatal(err)
		}
		last = v
		// Spread the writes over several rounds, so that several
		// batches and events are produced.
		if i%5 == 4 {
			eventually(t, 10*time.Second, func() error { return converged(nodes, "m1", fmt.Sprintf("k%02d", i), v) })
		}
	}
	eventually(t, 10*time.Second, func() error { return converged(nodes, "m1", "k19", last) })
	eventually(t, 10*time.Second, func() error {
		if live := len(nodes[0].LivePeers()); live != 2 {
			return fmt.Errorf("m0 sees %d live peers", live)
		}
		return nil
	})
	if _, err := nodes[0].Set(context.Background(), "own", []byte("x")); err != nil {
		t.Fatal(err)
	}

	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"leviathan_gossip_rounds_total", nil, 1},
		{"leviathan_messages_sent_total", map[string]string{"type": "syn"}, 1},
		{"leviathan_messages_received_total", map[string]string{"type": "syn"}, 1},
		{"leviathan_messages_received_total", map[string]string{"type": "synack"}, 1},
		{"leviathan_sent_bytes_total", map[string]string{"type": "syn"}, 10},
		{"leviathan_received_bytes_total", map[string]string{"type": "synack"}, 10},
		{"leviathan_deltas_applied_total", nil, keys},
		{"leviathan_batches_applied_total", nil, 1},
		{"leviathan_batch_records", nil, 1},                                         // sample count
		{"leviathan_store_write_seconds", map[string]string{"origin": "remote"}, 1}, // sample count
		{"leviathan_store_write_seconds", map[string]string{"origin": "local"}, 1},
		{"leviathan_peers", map[string]string{"state": "alive"}, 2},
		{"leviathan_events_published_total", map[string]string{"type": "updates"}, 2},
		{"leviathan_subscriber_dropped_events_total", nil, 1},
		{"leviathan_subscribers", nil, 1},
		{"leviathan_subscriber_lag_events", nil, 1},
		{"leviathan_keys", nil, 1},
		{"leviathan_max_version", nil, 1},
		{"leviathan_generation", nil, 1},
		{"leviathan_store_size_bytes", map[string]string{"part": "lsm"}, 0},
		{"leviathan_rejected_total", map[string]string{"reason": "decode"}, 0},
		{"leviathan_rejected_total", map[string]string{"reason": "bad_cluster"}, 0},
		{"leviathan_peer_phi_max", nil, 0},
	}
	for _, c := range checks {
		got, ok := sample(fams, c.name, c.labels)
		if !ok {
			t.Errorf("%s%v: no such series", c.name, c.labels)
			continue
		}
		if got < c.min {
			t.Errorf("%s%v = %v, want >= %v", c.name, c.labels, got, c.min)
		}
	}
	if k := series(fams, "leviathan_peer_phi"); k != 2 {
		t.Errorf("leviathan_peer_phi has %d series, want one per peer (2)", k)
	}
	if v, _ := sample(fams, "leviathan_peers", map[string]string{"state": "dead"}); v != 0 {
		t.Errorf("dead peers = %v", v)
	}

	// Gatherer gives the same registry (GET /metrics serves it).
	if got, err := nodes[0].Gatherer().Gather(); err != nil || series(got, "leviathan_gossip_rounds_total") == 0 {
		t.Fatalf("Gatherer with WithMetrics: %d families, %v", len(got), err)
	}
	// A node without WithMetrics still gathers its own metrics.
	if got, err := nodes[1].Gatherer().Gather(); err != nil || series(got, "leviathan_deltas_applied_total") == 0 {
		t.Fatalf("Gatherer without WithMetrics: %d families, %v", len(got), err)
	}
	// Nothing went to the global registry.
	global, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range global {
		if strings.HasPrefix(f.GetName(), "leviathan_") {
			t.Fatalf("%s registered globally", f.GetName())
		}
	}
}

func TestPhiSeriesBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := fastConfig("bounded")
	// Peers known from seeds that never answer: each is tracked (and
	// suspected), none may add a series beyond PhiPeersReported.
	net := transport.NewMemNetwork(1)
	tr, err := net.Listen("mem-self:1", 1400, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	var others []*Node
	for i := 0; i < PhiPeersReported+3; i++ {
		otr, err := net.Listen(fmt.Sprintf("mem-o%d:1", i), 1400, 4<<20)
		if err != nil {
			t.Fatal(err)
		}
		oc := fastConfig(fmt.Sprintf("o%02d", i))
		oc.Seeds = []string{"mem-self:1"}
		others = append(others, startNode(t, oc, WithTransport(otr)))
	}
	n := startNode(t, cfg, WithTransport(tr), WithMetrics(reg))
	eventually(t, 15*time.Second, func() error {
		if k := len(n.Peers()); k != len(others) {
			return fmt.Errorf("%d peers known", k)
		}
		return nil
	})
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if k := series(fams, "leviathan_peer_phi"); k != PhiPeersReported {
		t.Fatalf("leviathan_peer_phi has %d series, want %d", k, PhiPeersReported)
	}
}

func TestWithMetricsRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	view := func(id string) prometheus.Registerer {
		return prometheus.WrapRegistererWith(prometheus.Labels{"node": id}, reg)
	}
	cfg := fastConfig("a")
	a, err := New(cfg, WithMetrics(view("a")), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	// A second node with the same labels collides: an error, not a panic.
	b, err := New(fastConfig("b"), WithMetrics(view("a")), WithLogger(testLogger(t)))
	if err == nil {
		_ = b.Close()
		t.Fatal("second node registered the same series")
	}
	// Its own labelled view takes it.
	b, err = New(fastConfig("b"), WithMetrics(view("b")), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if _, ok := sample(fams, "leviathan_gossip_rounds_total", map[string]string{"node": id}); !ok {
			t.Errorf("no rounds series for node %s", id)
		}
	}
	_ = b.Close()
	// Close unregisters, so a restarted node registers again.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a, err = New(cfg, WithMetrics(view("a")), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
}
