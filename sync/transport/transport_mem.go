package transport

import (
	"fmt"
	"math/rand"
	gosync "sync"
	"sync/atomic"
	"time"
)

// memRecvQueue matches the NetTransport default so that tests see the same
// overflow behaviour as production.
const memRecvQueue = 4096

// MemNetwork is an in-process network of MemTransports with injectable
// faults, for deterministic tests of the protocol without sockets. Faults are
// drawn from one seeded generator, so with synchronous delivery (no delay)
// and a single sending goroutine a run is reproducible.
type MemNetwork struct {
	delivered, dropped, duplicated, sent atomic.Uint64

	mu       gosync.Mutex
	rng      *rand.Rand
	nodes    map[string]*MemTransport
	next     int
	drop     float64
	dup      float64
	minDelay time.Duration
	maxDelay time.Duration
	group    map[string]int // partition group (1-based) by address; nil when not partitioned
	blocked  map[[2]string]struct{}
}

// MemStats are cumulative counters of a MemNetwork. Every Send that passes the
// size and closed checks counts once in Sent; each of its copies ends up
// in Delivered or Dropped.
type MemStats struct {
	Sent       uint64
	Delivered  uint64
	Dropped    uint64 // by SetDrop, a partition or block, an unknown or closed destination, or a full Recv queue
	Duplicated uint64
}

// NewMemNetwork returns an empty network whose faults are drawn from seed.
func NewMemNetwork(seed int64) *MemNetwork {
	return &MemNetwork{
		rng:     rand.New(rand.NewSource(seed)),
		nodes:   make(map[string]*MemTransport),
		blocked: make(map[[2]string]struct{}),
	}
}

// Listen attaches a transport at addr, or at a fresh "mem-N:1" address when
// addr is empty. Addresses are opaque strings here; nothing is resolved.
// packetSize and maxMessageSize of 0 take the NetConfig defaults.
func (n *MemNetwork) Listen(addr string, packetSize, maxMessageSize int) (*MemTransport, error) {
	if packetSize == 0 {
		packetSize = DefaultPacketSize
	}
	if maxMessageSize == 0 {
		maxMessageSize = DefaultMaxMessageSize
	}
	if packetSize < 0 || maxMessageSize < packetSize {
		return nil, fmt.Errorf("transport: mem listen: bad sizes %d, %d", packetSize, maxMessageSize)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if addr == "" {
		for {
			n.next++
			addr = fmt.Sprintf("mem-%d:1", n.next)
			if n.nodes[addr] == nil {
				break
			}
		}
	}
	if n.nodes[addr] != nil {
		return nil, fmt.Errorf("transport: mem listen %s: address already in use", addr)
	}
	t := &MemTransport{
		net:        n,
		addr:       addr,
		packetSize: packetSize,
		maxMsg:     maxMessageSize,
		recv:       make(chan Packet, memRecvQueue),
		timers:     make(map[*time.Timer]struct{}),
	}
	n.nodes[addr] = t
	return t, nil
}

// SetDrop makes the network lose fraction p (0..1) of messages.
func (n *MemNetwork) SetDrop(p float64) {
	n.mu.Lock()
	n.drop = p
	n.mu.Unlock()
}

// SetDuplicate makes the network deliver fraction p (0..1) of messages twice.
func (n *MemNetwork) SetDuplicate(p float64) {
	n.mu.Lock()
	n.dup = p
	n.mu.Unlock()
}

// SetDelay delays each delivery by a uniform random duration in [min, max].
// With 0, 0 delivery is synchronous: the packet is in the receiver's Recv
// channel when Send returns, and order is preserved. Delayed packets may
// arrive out of order, as on a real network.
func (n *MemNetwork) SetDelay(min, max time.Duration) {
	if max < min {
		min, max = max, min
	}
	n.mu.Lock()
	n.minDelay, n.maxDelay = min, max
	n.mu.Unlock()
}

// Partition splits the network: two addresses reach each other only when
// they are in the same group. Addresses listed in no group (including nodes
// that listen later) together form one more implicit group, so
// Partition([]string{a}) isolates a from everyone else. A new call replaces
// the previous partition; calling it with no groups heals it.
func (n *MemNetwork) Partition(groups ...[]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(groups) == 0 {
		n.group = nil
		return
	}
	n.group = make(map[string]int)
	for i, g := range groups {
		for _, a := range g {
			n.group[a] = i + 1
		}
	}
}

// Heal removes the partition and every Block, restoring full connectivity.
// Drop, duplicate and delay settings are kept.
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	n.group = nil
	clear(n.blocked)
	n.mu.Unlock()
}

// Block cuts the link from one address to another in that direction only.
func (n *MemNetwork) Block(from, to string) {
	n.mu.Lock()
	n.blocked[[2]string{from, to}] = struct{}{}
	n.mu.Unlock()
}

// Unblock restores a link cut by Block.
func (n *MemNetwork) Unblock(from, to string) {
	n.mu.Lock()
	delete(n.blocked, [2]string{from, to})
	n.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (n *MemNetwork) Stats() MemStats {
	return MemStats{
		Sent:       n.sent.Load(),
		Delivered:  n.delivered.Load(),
		Dropped:    n.dropped.Load(),
		Duplicated: n.duplicated.Load(),
	}
}

// route decides the fate of one message under n.mu: the destination and the
// delay of each copy to deliver (none when it is lost).
func (n *MemNetwork) route(from, to string) (*MemTransport, []time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	dst := n.nodes[to]
	if dst == nil {
		return nil, nil
	}
	if _, cut := n.blocked[[2]string{from, to}]; cut {
		return nil, nil
	}
	if n.group != nil && n.group[from] != n.group[to] {
		return nil, nil
	}
	if n.drop > 0 && n.rng.Float64() < n.drop {
		return nil, nil
	}
	copies := 1
	if n.dup > 0 && n.rng.Float64() < n.dup {
		copies = 2
		n.duplicated.Add(1)
	}
	delays := make([]time.Duration, copies)
	for i := range delays {
		delays[i] = n.minDelay
		if span := n.maxDelay - n.minDelay; span > 0 {
			delays[i] += time.Duration(n.rng.Int63n(int64(span) + 1))
		}
	}
	return dst, delays
}

func (n *MemNetwork) detach(t *MemTransport) {
	n.mu.Lock()
	if n.nodes[t.addr] == t {
		delete(n.nodes, t.addr)
	}
	n.mu.Unlock()
}

// MemTransport is one node's attachment to a MemNetwork. It implements
// Transport with the same size rules as NetTransport.
type MemTransport struct {
	net        *MemNetwork
	addr       string
	packetSize int
	maxMsg     int
	recv       chan Packet

	// pending counts delayed deliveries not yet finished, so Close can wait
	// for timer callbacks already running.
	pending gosync.WaitGroup

	mu     gosync.Mutex // guards closed, timers and sends on recv
	closed bool
	timers map[*time.Timer]struct{}
}

// Addr implements Transport.
func (t *MemTransport) Addr() string { return t.addr }

// PacketSize implements Transport.
func (t *MemTransport) PacketSize() int { return t.packetSize }

// MaxMessageSize implements Transport.
func (t *MemTransport) MaxMessageSize() int { return t.maxMsg }

// Recv implements Transport.
func (t *MemTransport) Recv() <-chan Packet { return t.recv }

// Send implements Transport. b is copied, so unlike NetTransport.Send the
// caller keeps ownership; tests must not rely on that. Messages to unknown
// addresses are dropped silently, as UDP would.
func (t *MemTransport) Send(addr string, b []byte) error {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	switch {
	case closed:
		return ErrTransportClosed
	case len(b) == 0:
		return errEmpty
	case len(b) > t.maxMsg:
		return ErrTooLarge
	}
	n := t.net
	n.sent.Add(1)
	dst, delays := n.route(t.addr, addr)
	if dst == nil {
		n.dropped.Add(1)
		return nil
	}
	for _, d := range delays {
		// A copy per delivery: receivers may modify Data.
		p := Packet{From: t.addr, Data: append([]byte(nil), b...)}
		if d <= 0 {
			dst.deliver(p)
		} else {
			dst.schedule(d, p)
		}
	}
	return nil
}

// deliver runs under t.mu so that it cannot race with Close closing recv.
func (t *MemTransport) deliver(p Packet) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.deliverLocked(p)
}

func (t *MemTransport) deliverLocked(p Packet) {
	if t.closed {
		t.net.dropped.Add(1)
		return
	}
	select {
	case t.recv <- p:
		t.net.delivered.Add(1)
	default:
		t.net.dropped.Add(1)
	}
}

func (t *MemTransport) schedule(d time.Duration, p Packet) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		t.net.dropped.Add(1)
		return
	}
	t.pending.Add(1)
	var tm *time.Timer
	// The callback takes t.mu, which is held until tm is recorded, so it
	// always sees its own timer.
	tm = time.AfterFunc(d, func() {
		defer t.pending.Done()
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.timers, tm)
		t.deliverLocked(p)
	})
	t.timers[tm] = struct{}{}
}

// Close implements Transport: it detaches the address (which may then be
// reused), cancels pending delayed deliveries to this transport and closes
// Recv. Delayed messages this transport sent to others are still delivered.
func (t *MemTransport) Close() error {
	t.net.detach(t)
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.pending.Wait()
		return nil
	}
	t.closed = true
	for tm := range t.timers {
		// A timer that cannot be stopped is already running its callback,
		// which will find closed set and call Done itself.
		if tm.Stop() {
			t.net.dropped.Add(1)
			t.pending.Done()
		}
	}
	clear(t.timers)
	close(t.recv)
	t.mu.Unlock()
	t.pending.Wait()
	return nil
}

var (
	_ Transport = (*MemTransport)(nil)
	_ Transport = (*NetTransport)(nil)
)
