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
	// StreamRate, when > 0, is how many bytes a second each node takes in
	// over streams: a stream message waits for those before it to a node,
	// as on a link or a CPU that is saturated. Datagrams are not held up,
	// as the node's control lane is not by its data lane. 0: no bound.
	StreamRate int
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
	// free is when each node is done taking in the streams sent to it so
	// far (StreamRate).
	free []time.Duration
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
	return &network{cfg: cfg, rng: rand.New(rand.NewSource(seed)), group: make([]int, n), blocked: make(map[[2]int]bool),
		free: make([]time.Duration, n)}
}

// streamBacklog is how far behind a node's intake may fall before stream
// messages to it are dropped, as the node drops data messages while its
// data lane is full: senders send again, and a queue of stale deltas
// does not grow without end.
const streamBacklog = time.Second

// queue returns when a stream message of size bytes arriving at node to
// at is taken in, after those before it (StreamRate), and false if it is
// dropped because the intake is streamBacklog behind.
func (n *network) queue(to int, at time.Duration, size int) (time.Duration, bool) {
	if n.cfg.StreamRate <= 0 {
		return at, true
	}
	start := max(at, n.free[to])
	if start-at > streamBacklog {
		return 0, false
	}
	done := start + time.Duration(float64(size)/float64(n.cfg.StreamRate)*float64(time.Second))
	n.free[to] = done
	return done, true
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
