package sim

import (
	"math/rand"
	"time"
)

// NetConfig describes the faults of the simulated network.
//
// A message of at most the MTU is a datagram: it is lost with probability
// Drop, as UDP is. A larger one goes over a stream (TCP in the real
// transport), which does not lose messages silently but pays for loss in
// time: each lost attempt (probability Drop) adds a retransmission timeout
// that doubles, and after MaxRetries lost attempts the connection is given
// up and the message lost — as the real transport gives up a failed dial.
// Partitions and one-way blocks stop both kinds.
type NetConfig struct {
	Drop          float64       // fraction of datagrams (and stream attempts) lost
	Duplicate     float64       // fraction of datagrams delivered twice
	Reorder       float64       // fraction of messages given an extra delay up to ReorderWindow
	ReorderWindow time.Duration // extra delay of a reordered message
	DelayMin      time.Duration // one-way delay is uniform in [DelayMin, DelayMax]
	DelayMax      time.Duration
	RTO           time.Duration // first stream retransmission timeout; default 200ms
	MaxRetries    int           // stream attempts lost before the message is; default 5
}

// DefaultNet is a LAN: 1–5 ms one way, nothing lost.
var DefaultNet = NetConfig{DelayMin: time.Millisecond, DelayMax: 5 * time.Millisecond}

// network decides the fate of each message. It owns its own random stream
// so that the faults drawn do not depend on what the nodes draw.
type network struct {
	cfg     NetConfig
	rng     *rand.Rand
	group   []int // partition of each node; nodes in different groups cannot talk
	blocked map[[2]int]bool
}

func newNetwork(cfg NetConfig, n int, seed int64) *network {
	if cfg.RTO <= 0 {
		cfg.RTO = 200 * time.Millisecond
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 5
	}
	if cfg.DelayMax < cfg.DelayMin {
		cfg.DelayMax = cfg.DelayMin
	}
	return &network{cfg: cfg, rng: rand.New(rand.NewSource(seed)), group: make([]int, n), blocked: make(map[[2]int]bool)}
}

// reachable reports whether a message from one node can reach another now.
func (n *network) reachable(from, to int) bool {
	return n.group[from] == n.group[to] && !n.blocked[[2]int{from, to}]
}

// partition puts each set of nodes in a group of its own; nodes in no set
// stay together in the rest.
func (n *network) partition(sets [][]int) {
	for i := range n.group {
		n.group[i] = 0
	}
	for g, set := range sets {
		for _, i := range set {
			n.group[i] = g + 1
		}
	}
}

func (n *network) heal() {
	for i := range n.group {
		n.group[i] = 0
	}
	clear(n.blocked)
}

func (n *network) delay() time.Duration {
	d := n.cfg.DelayMin
	if span := n.cfg.DelayMax - n.cfg.DelayMin; span > 0 {
		d += time.Duration(n.rng.Int63n(int64(span) + 1))
	}
	if n.cfg.Reorder > 0 && n.rng.Float64() < n.cfg.Reorder && n.cfg.ReorderWindow > 0 {
		d += time.Duration(n.rng.Int63n(int64(n.cfg.ReorderWindow) + 1))
	}
	return d
}

// route returns the delays after which copies of a message arrive: none if
// it is lost, two if a datagram is duplicated.
func (n *network) route(size, mtu int, buf []time.Duration) []time.Duration {
	out := buf[:0]
	if size <= mtu {
		if n.cfg.Drop > 0 && n.rng.Float64() < n.cfg.Drop {
			return out
		}
		out = append(out, n.delay())
		if n.cfg.Duplicate > 0 && n.rng.Float64() < n.cfg.Duplicate {
			out = append(out, n.delay())
		}
		return out
	}
	d, rto := n.delay(), n.cfg.RTO
	for lost := 0; n.cfg.Drop > 0 && n.rng.Float64() < n.cfg.Drop; lost++ {
		if lost == n.cfg.MaxRetries {
			return out
		}
		d += rto
		rto *= 2
	}
	return append(out, d)
}
