package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// Defaults and limits of NetConfig.
const (
	DefaultPacketSize     = 1400 // fits a 1500-byte Ethernet MTU with IP/UDP headers and tunnel overhead
	MaxUDPPayload         = 65507
	DefaultMaxMessageSize = 4 << 20
	DefaultReadBuffer     = 4 << 20
	DefaultDialTimeout    = 2 * time.Second
	DefaultWriteTimeout   = 5 * time.Second
	DefaultIdleTimeout    = 60 * time.Second
	DefaultSendQueue      = 64
	DefaultRecvQueue      = 4096
	// Memory is bounded in bytes, not only in messages: 4096 queued
	// messages of 4 MiB would be 16 GiB.
	DefaultRecvQueueBytes = 64 << 20  // received, waiting for Recv
	DefaultSendQueueBytes = 32 << 20  // queued for one destination
	DefaultSendTotalBytes = 128 << 20 // queued for all destinations together

	// MaxInboundConns bounds the goroutines and buffers a flood of stream
	// connections can cost; a cluster needs about one per active peer.
	MaxInboundConns = 256
	// DefaultMaxStreams bounds the outbound side the same way: each sender
	// costs a goroutine, a connection and its watcher, and a node needs one
	// per peer it recently sent a large message to, which in a cluster of
	// any size is its few exchange partners per round over IdleTimeout.
	DefaultMaxStreams = 256

	maxHelloLen   = 512
	udpBufSize    = 64 << 10
	connReadBuf   = 32 << 10
	readChunk     = 64 << 10
	bindAttempts  = 16
	fromCacheSize = 4096
)

// errEmpty is returned for an empty message: the stream framing reserves
// length 0 as invalid, and both paths must behave the same.
var errEmpty = errors.New("transport: empty message")

// NetConfig configures ListenNet. Zero fields take the defaults above.
type NetConfig struct {
	Addr string // host:port to advertise, and to bind unless Bind is set; port 0 picks a free port (same number for UDP and TCP)
	// Bind is the IP or host name the sockets listen on, without a port
	// (the port is Addr's), when it is not Addr's host: "0.0.0.0" or "::"
	// for every interface, as in a container whose advertised address is
	// the host's. "::" listens for IPv4 as well. Empty: Addr's host.
	Bind           string
	PacketSize     int           // largest datagram payload; default 1400; at most 65507
	MaxMessageSize int           // largest message at all (stream path); default 4 MiB
	ReadBuffer     int           // UDP socket receive buffer; default 4 MiB (bursts are lost without it)
	DialTimeout    time.Duration // default 2s
	WriteTimeout   time.Duration // default 5s
	IdleTimeout    time.Duration // stream connections idle this long are closed; default 60s
	SendQueue      int           // per-destination queue of pending stream messages; default 64
	RecvQueue      int           // Recv channel capacity; default 4096
	MaxStreams     int           // live outbound stream senders; default DefaultMaxStreams
	// Byte bounds; each must admit one message of MaxMessageSize, and
	// defaults to the constant above or MaxMessageSize, whichever is larger.
	RecvQueueBytes int // bytes of received messages not yet taken from Recv
	SendQueueBytes int // bytes of stream messages queued for one destination
	SendTotalBytes int // bytes of stream messages queued for all destinations
	// AllowStream, if set, is asked before a message too large for a
	// datagram is sent, with its (canonical) destination; false refuses it
	// with ErrUnknownDestination. A datagram's source address is easily
	// forged, so without it a few small spoofed requests could make this
	// node stream replies of up to MaxMessageSize to any address. Send calls
	// it without holding any lock of the transport, possibly from several
	// goroutines at once; it must be quick and must not call Send.
	AllowStream func(addr string) bool
	Logger      zerolog.Logger
}

// NetStats are cumulative counters of a NetTransport.
type NetStats struct {
	UDPPacketsSent uint64
	UDPBytesSent   uint64
	UDPPacketsRecv uint64
	UDPBytesRecv   uint64
	TCPMsgsSent    uint64 // written to a stream connection (not necessarily received)
	TCPBytesSent   uint64
	TCPMsgsRecv    uint64
	TCPBytesRecv   uint64
	RecvDropped    uint64 // received but Recv channel full (in messages or bytes)
	SendDropped    uint64 // Send returned ErrQueueFull (in messages or bytes)
	SendFailed     uint64 // stream messages lost to a failed dial or write, or dropped with an evicted sender
	DialErrors     uint64
	BadFrames      uint64 // inbound streams closed for a bad hello or length, and empty datagrams
	ConnsRejected  uint64 // inbound streams closed because MaxInboundConns were open
	HelloMismatch  uint64 // inbound streams closed because the hello named an IP other than the connection's
	Streams        uint64 // outbound stream senders running now (a gauge, at most MaxStreams)
	StreamsEvicted uint64 // senders stopped to make room for a new destination
	StreamsRefused uint64 // Send returned ErrUnknownDestination
}

type netCounters struct {
	udpPacketsSent, udpBytesSent atomic.Uint64
	udpPacketsRecv, udpBytesRecv atomic.Uint64
	tcpMsgsSent, tcpBytesSent    atomic.Uint64
	tcpMsgsRecv, tcpBytesRecv    atomic.Uint64
	recvDropped, sendDropped     atomic.Uint64
	sendFailed, dialErrors       atomic.Uint64
	badFrames, connsRejected     atomic.Uint64
	helloMismatch                atomic.Uint64
	streamsEvicted               atomic.Uint64
	streamsRefused               atomic.Uint64
}

// NetTransport is the production Transport: UDP for messages of up to
// PacketSize bytes, TCP for larger ones. Both sockets share one port, the
// advertised address, so that a datagram's source address is the address a
// reply must go to.
type NetTransport struct {
	cfg    NetConfig
	addr   string
	hello  []byte
	udp    *net.UDPConn
	tcp    *net.TCPListener
	log    zerolog.Logger
	recv   chan Packet
	rq     recvBytes
	sent   atomic.Int64 // bytes queued on all streamSenders
	stats  netCounters
	dialer net.Dialer
	// streams counts runSender goroutines, including evicted ones still
	// winding down: it is what MaxStreams bounds. Raised only under mu.
	streams atomic.Int64
	// clock orders the senders' progress for eviction; a counter rather
	// than the time so that a jump of the wall clock cannot reorder them.
	clock atomic.Uint64

	// ctx is cancelled by Close to abort dials in progress.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	wg     gosync.WaitGroup

	closed    atomic.Bool // lock-free check for the UDP fast path
	closeOnce gosync.Once

	mu      gosync.RWMutex // guards the fields below and the transition to closed
	senders map[string]*streamSender
	conns   map[net.Conn]struct{} // every open stream connection, so Close can interrupt blocked I/O
	inbound int
}

// streamSender owns the outbound connection to one destination. Messages go
// through a queue so that a slow or dead peer costs only its own goroutine,
// never the caller of Send.
type streamSender struct {
	dest  string
	q     chan []byte
	bytes atomic.Int64 // queued in q or being written
	// ctx ends the sender: cancelled by Close (through the transport's
	// context) or by eviction, it also aborts a dial in progress.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when runSender has exited
	// active is the transport's clock when the sender was started or last
	// wrote a message: the smallest marks the sender idle, or stuck, longest.
	active atomic.Uint64
	conn   net.Conn // the connection in use, under NetTransport.mu, for eviction to close
}

// recvBytes accounts for the bytes of the packets in the Recv channel. The
// consumer takes from the channel without telling us; as the channel is a
// FIFO, the packets it took are the oldest we put in, so before each put
// the sizes beyond len(recv) are forgotten from the head.
type recvBytes struct {
	mu    gosync.Mutex
	sizes []int // ring of the sizes put in, oldest at head
	head  int
	n     int
	bytes int
}

// ListenNet binds the UDP and TCP sockets of cfg.Addr and starts receiving.
func ListenNet(cfg NetConfig) (*NetTransport, error) {
	if cfg.PacketSize == 0 {
		cfg.PacketSize = DefaultPacketSize
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.ReadBuffer == 0 {
		cfg.ReadBuffer = DefaultReadBuffer
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.SendQueue == 0 {
		cfg.SendQueue = DefaultSendQueue
	}
	if cfg.RecvQueue == 0 {
		cfg.RecvQueue = DefaultRecvQueue
	}
	if cfg.MaxStreams == 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	for _, f := range []struct {
		v   *int
		def int
	}{{&cfg.RecvQueueBytes, DefaultRecvQueueBytes}, {&cfg.SendQueueBytes, DefaultSendQueueBytes}, {&cfg.SendTotalBytes, DefaultSendTotalBytes}} {
		if *f.v == 0 {
			*f.v = max(f.def, cfg.MaxMessageSize)
		}
	}
	switch {
	case cfg.PacketSize < 0 || cfg.PacketSize > MaxUDPPayload:
		return nil, fmt.Errorf("transport: packet size %d out of range 1..%d", cfg.PacketSize, MaxUDPPayload)
	case cfg.MaxMessageSize < cfg.PacketSize || cfg.MaxMessageSize > 1<<31-1:
		return nil, fmt.Errorf("transport: max message size %d out of range %d..%d", cfg.MaxMessageSize, cfg.PacketSize, 1<<31-1)
	case cfg.ReadBuffer < 0, cfg.DialTimeout < 0, cfg.WriteTimeout < 0, cfg.IdleTimeout < 0, cfg.SendQueue < 0, cfg.RecvQueue < 0, cfg.MaxStreams < 0:
		return nil, errors.New("transport: negative NetConfig field")
	case cfg.RecvQueueBytes < cfg.MaxMessageSize || cfg.SendQueueBytes < cfg.MaxMessageSize || cfg.SendTotalBytes < cfg.SendQueueBytes:
		return nil, fmt.Errorf("transport: queue byte bounds %d, %d, %d cannot hold a message of %d bytes (or total below per destination)",
			cfg.RecvQueueBytes, cfg.SendQueueBytes, cfg.SendTotalBytes, cfg.MaxMessageSize)
	}
	canon, err := CanonicalAddr(cfg.Addr)
	if err != nil {
		return nil, err
	}
	ap := netip.MustParseAddrPort(canon)
	bindAP := ap
	if cfg.Bind != "" {
		if bindAP, err = bindAddr(cfg.Bind, ap); err != nil {
			return nil, err
		}
	}

	udp, tcp, err := bind(bindAP)
	if err != nil {
		return nil, err
	}
	ap = netip.AddrPortFrom(ap.Addr(), uint16(tcp.Addr().(*net.TCPAddr).Port))

	t := &NetTransport{
		cfg:     cfg,
		addr:    ap.String(),
		udp:     udp,
		tcp:     tcp,
		log:     cfg.Logger.With().Str("transport", ap.String()).Logger(),
		recv:    make(chan Packet, cfg.RecvQueue),
		rq:      recvBytes{sizes: make([]int, cfg.RecvQueue)},
		done:    make(chan struct{}),
		senders: make(map[string]*streamSender),
		conns:   make(map[net.Conn]struct{}),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.dialer = net.Dialer{Timeout: cfg.DialTimeout}
	if dialFromAdvertised(ap.Addr(), bindAP.Addr()) {
		// Receivers refuse a stream whose hello names another IP than the
		// connection's; on a host with several addresses the route to a
		// peer may leave from one other than the advertised address.
		t.dialer.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr(), 0))
	}
	t.hello = binary.BigEndian.AppendUint16(nil, uint16(len(t.addr)))
	t.hello = append(t.hello, t.addr...)

	if err := udp.SetReadBuffer(cfg.ReadBuffer); err != nil {
		t.log.Warn().Err(err).Int("bytes", cfg.ReadBuffer).Msg("cannot set UDP read buffer; bursts may be lost")
	}

	t.wg.Add(2)
	go t.readUDP()
	go t.acceptTCP()
	return t, nil
}

// bindAddr is the socket address for NetConfig.Bind: its IP (a name is
// resolved as CanonicalAddr does) with the advertised address's port.
// Sockets of one IP family do not receive what peers send to an advertised
// address of the other ("::" excepted, which takes both), so that pairing
// is refused here rather than left to time out.
func bindAddr(host string, advertised netip.AddrPort) (netip.AddrPort, error) {
	canon, err := CanonicalAddr(net.JoinHostPort(host, strconv.Itoa(int(advertised.Port()))))
	if err != nil {
		return netip.AddrPort{}, err
	}
	ap := netip.MustParseAddrPort(canon)
	if ap.Addr() != netip.IPv6Unspecified() && ap.Addr().Is4() != advertised.Addr().Is4() {
		return netip.AddrPort{}, badAddr(host, fmt.Errorf("bind address of another IP family than the advertised %s", advertised.Addr()))
	}
	return ap, nil
}

// dialFromAdvertised reports whether outbound streams should leave from
// the advertised IP. They must, for the receiver's hello check, when the
// sockets are bound to it. Bound to a wildcard, they still should if the
// IP is this host's (the route may pick another of its addresses), but
// cannot if it is not: behind NAT the advertised IP belongs to the NAT,
// and binding to it fails.
func dialFromAdvertised(advertised, bound netip.Addr) bool {
	switch {
	case advertised.IsUnspecified():
		return false
	case !bound.IsUnspecified():
		return true
	}
	return isLocalIP(advertised)
}

// isLocalIP reports whether ip is one of this host's addresses: binding a
// socket to it succeeds.
func isLocalIP(ip netip.Addr) bool {
	if ip.IsLoopback() {
		return true
	}
	network := "udp4"
	if !ip.Is4() {
		network = "udp6"
	}
	c, err := net.ListenPacket(network, netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// bind opens UDP and TCP on the same port. With port 0 the kernel picks the
// UDP port, which may already be taken for TCP, so that case retries.
func bind(ap netip.AddrPort) (*net.UDPConn, *net.TCPListener, error) {
	udpNet, tcpNet := "udp4", "tcp4"
	switch {
	case ap.Addr() == netip.IPv6Unspecified():
		// Dual stack: "::" also takes IPv4, which "udp6" would refuse
		// (IPV6_V6ONLY), so that an IPv4 advertised address works too.
		udpNet, tcpNet = "udp", "tcp"
	case !ap.Addr().Is4():
		udpNet, tcpNet = "udp6", "tcp6"
	}
	for attempt := 0; ; attempt++ {
		udp, err := net.ListenUDP(udpNet, net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return nil, nil, fmt.Errorf("transport: %w", err)
		}
		port := uint16(udp.LocalAddr().(*net.UDPAddr).Port)
		tcp, err := net.ListenTCP(tcpNet, net.TCPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr(), port)))
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if ap.Port() != 0 || !errors.Is(err, syscall.EADDRINUSE) || attempt == bindAttempts-1 {
			return nil, nil, fmt.Errorf("transport: %w", err)
		}
	}
}

// Addr implements Transport.
func (t *NetTransport) Addr() string { return t.addr }

// PacketSize implements Transport.
func (t *NetTransport) PacketSize() int { return t.cfg.PacketSize }

// MaxMessageSize implements Transport.
func (t *NetTransport) MaxMessageSize() int { return t.cfg.MaxMessageSize }

// Recv implements Transport.
func (t *NetTransport) Recv() <-chan Packet { return t.recv }

// Send implements Transport. addr must be canonical (see CanonicalAddr); a
// host name is rejected rather than resolved, because resolving could block.
// Send takes ownership of b: the caller must not modify it afterwards, since
// a stream message is written later from another goroutine.
func (t *NetTransport) Send(addr string, b []byte) error {
	if t.closed.Load() {
		return ErrTransportClosed
	}
	switch {
	case len(b) == 0:
		return errEmpty
	case len(b) > t.cfg.MaxMessageSize:
		return ErrTooLarge
	case len(b) <= t.cfg.PacketSize:
		return t.sendUDP(addr, b)
	}
	if _, err := netip.ParseAddrPort(addr); err != nil {
		return badAddr(addr, err)
	}
	if t.cfg.AllowStream != nil && !t.cfg.AllowStream(addr) {
		t.stats.streamsRefused.Add(1)
		return fmt.Errorf("transport: %d-byte message to %s: %w", len(b), addr, ErrUnknownDestination)
	}
	// Enqueueing under (at least) the read lock lets an idle sender, which
	// holds the write lock, decide atomically that its queue is empty and
	// retire; the read lock keeps concurrent Sends from contending.
	t.mu.RLock()
	if t.closed.Load() {
		t.mu.RUnlock()
		return ErrTransportClosed
	}
	if s := t.senders[addr]; s != nil {
		err := t.enqueue(s, b)
		t.mu.RUnlock()
		return err
	}
	t.mu.RUnlock()
	return t.sendNew(addr, b)
}

// evictAttempts bounds how often one Send evicts a sender and then finds
// the freed slot taken by a concurrent Send.
const evictAttempts = 3

// sendNew starts a sender for addr, unless a concurrent Send just did, and
// queues b on it. At MaxStreams it evicts the sender that has gone longest
// without writing: idle, or stuck on a peer that does not read. Refusing
// the new destination instead would leave a cluster larger than the cap
// unable to stream to some peers for up to IdleTimeout at a time, and let
// senders stuck on dead peers shut out healthy ones; an evicted idle sender
// costs only a redial, a stuck one the messages it would not have written
// anyway. Send waits for the evicted goroutine to exit, so that senders
// never outnumber MaxStreams; its I/O is interrupted, so that is quick.
func (t *NetTransport) sendNew(addr string, b []byte) error {
	var deadline *time.Timer
	for attempt := 0; ; attempt++ {
		t.mu.Lock()
		if t.closed.Load() {
			t.mu.Unlock()
			return ErrTransportClosed
		}
		if s := t.senders[addr]; s != nil {
			err := t.enqueue(s, b)
			t.mu.Unlock()
			return err
		}
		if t.streams.Load() < int64(t.cfg.MaxStreams) {
			s := t.startSender(addr)
			err := t.enqueue(s, b)
			t.mu.Unlock()
			return err
		}
		var victim *streamSender
		if attempt < evictAttempts {
			victim = t.evictLocked()
		}
		t.mu.Unlock()
		if victim == nil {
			return fmt.Errorf("transport: stream to %s: %d senders running: %w", addr, t.cfg.MaxStreams, ErrTooManyStreams)
		}
		if deadline == nil {
			// Bounds Send as the Transport contract requires, should the
			// evicted sender be slow to go.
			deadline = time.NewTimer(t.cfg.WriteTimeout)
			defer deadline.Stop()
		}
		select {
		case <-victim.done:
		case <-deadline.C:
			return fmt.Errorf("transport: stream to %s: evicted sender did not exit: %w", addr, ErrTooManyStreams)
		}
	}
}

// startSender registers and starts a sender for dest; the caller holds mu.
func (t *NetTransport) startSender(dest string) *streamSender {
	s := &streamSender{dest: dest, q: make(chan []byte, t.cfg.SendQueue), done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(t.ctx)
	s.active.Store(t.clock.Add(1))
	t.senders[dest] = s
	t.streams.Add(1)
	t.wg.Add(1)
	go t.runSender(s)
	return s
}

// evictLocked stops the sender that has gone longest without writing and
// returns it, or nil if there is none; the caller holds mu. Removing it
// from the map first means no Send can queue on it any more, so what its
// queue holds is all it will ever hold.
func (t *NetTransport) evictLocked() *streamSender {
	var victim *streamSender
	for _, s := range t.senders {
		if victim == nil || s.active.Load() < victim.active.Load() {
			victim = s
		}
	}
	if victim == nil {
		return nil
	}
	delete(t.senders, victim.dest)
	victim.cancel()
	if victim.conn != nil {
		// Interrupts a write in progress, which the context cannot.
		victim.conn.Close()
	}
	t.stats.streamsEvicted.Add(1)
	t.log.Debug().Str("to", victim.dest).Msg("stream sender evicted: MaxStreams reached")
	return victim
}

// enqueue queues b for s within the queue's length and byte bounds; the
// bytes are released by runSender once b is written (or given up).
func (t *NetTransport) enqueue(s *streamSender, b []byte) error {
	n := int64(len(b))
	if s.bytes.Add(n) > int64(t.cfg.SendQueueBytes) {
		s.bytes.Add(-n)
		t.stats.sendDropped.Add(1)
		return ErrQueueFull
	}
	if t.sent.Add(n) > int64(t.cfg.SendTotalBytes) {
		t.release(s, n)
		t.stats.sendDropped.Add(1)
		return ErrQueueFull
	}
	select {
	case s.q <- b:
		return nil
	default:
		t.release(s, n)
		t.stats.sendDropped.Add(1)
		return ErrQueueFull
	}
}

func (t *NetTransport) release(s *streamSender, n int64) {
	s.bytes.Add(-n)
	t.sent.Add(-n)
}

func (t *NetTransport) sendUDP(addr string, b []byte) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return badAddr(addr, err)
	}
	// A full socket send buffer makes the write wait; the deadline keeps
	// Send bounded as the Transport contract requires.
	if err := t.udp.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout)); err != nil {
		return t.closedOr(err)
	}
	if _, err := t.udp.WriteToUDPAddrPort(b, ap); err != nil {
		return t.closedOr(err)
	}
	t.stats.udpPacketsSent.Add(1)
	t.stats.udpBytesSent.Add(uint64(len(b)))
	return nil
}

func (t *NetTransport) closedOr(err error) error {
	if t.closed.Load() || errors.Is(err, net.ErrClosed) {
		return ErrTransportClosed
	}
	return fmt.Errorf("transport: %w", err)
}

// Stats returns a snapshot of the counters.
func (t *NetTransport) Stats() NetStats {
	c := &t.stats
	return NetStats{
		UDPPacketsSent: c.udpPacketsSent.Load(),
		UDPBytesSent:   c.udpBytesSent.Load(),
		UDPPacketsRecv: c.udpPacketsRecv.Load(),
		UDPBytesRecv:   c.udpBytesRecv.Load(),
		TCPMsgsSent:    c.tcpMsgsSent.Load(),
		TCPBytesSent:   c.tcpBytesSent.Load(),
		TCPMsgsRecv:    c.tcpMsgsRecv.Load(),
		TCPBytesRecv:   c.tcpBytesRecv.Load(),
		RecvDropped:    c.recvDropped.Load(),
		SendDropped:    c.sendDropped.Load(),
		SendFailed:     c.sendFailed.Load(),
		DialErrors:     c.dialErrors.Load(),
		BadFrames:      c.badFrames.Load(),
		ConnsRejected:  c.connsRejected.Load(),
		HelloMismatch:  c.helloMismatch.Load(),
		Streams:        uint64(max(0, t.streams.Load())),
		StreamsEvicted: c.streamsEvicted.Load(),
		StreamsRefused: c.streamsRefused.Load(),
	}
}

// Close implements Transport. It is idempotent; every call returns after all
// goroutines of the transport have exited and Recv is closed.
func (t *NetTransport) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed.Store(true)
		conns := make([]net.Conn, 0, len(t.conns))
		for c := range t.conns {
			conns = append(conns, c)
		}
		t.mu.Unlock()

		t.cancel()
		close(t.done)
		t.udp.Close()
		t.tcp.Close()
		// Closing unblocks reads and writes in progress, which deadlines
		// alone would only end after up to IdleTimeout.
		for _, c := range conns {
			c.Close()
		}
		t.wg.Wait()
		// Every producer has exited, so nothing can send on recv any more.
		close(t.recv)
	})
	return nil
}

// deliver never blocks: a consumer that falls behind loses messages, which
// gossip repairs, instead of stalling the sockets' readers. What waits in
// Recv is bounded by RecvQueueBytes as well as by RecvQueue messages.
func (t *NetTransport) deliver(p Packet) bool {
	q := &t.rq
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.n > len(t.recv) { // taken by the consumer since the last put
		q.bytes -= q.sizes[q.head]
		q.head = (q.head + 1) % len(q.sizes)
		q.n--
	}
	// q.n == len(sizes): the channel was full when trimmed.
	if q.n == len(q.sizes) || q.bytes+len(p.Data) > t.cfg.RecvQueueBytes {
		t.stats.recvDropped.Add(1)
		return false
	}
	select {
	case t.recv <- p:
		q.sizes[(q.head+q.n)%len(q.sizes)] = len(p.Data)
		q.n++
		q.bytes += len(p.Data)
		return true
	default:
		t.stats.recvDropped.Add(1)
		return false
	}
}

func (t *NetTransport) readUDP() {
	defer t.wg.Done()
	buf := make([]byte, udpBufSize)
	// Formatting the source address allocates; peers are few, so cache it.
	from := make(map[netip.AddrPort]string)
	for {
		n, ap, err := t.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if t.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			t.log.Debug().Err(err).Msg("udp read")
			continue
		}
		if n == 0 {
			t.stats.badFrames.Add(1)
			continue
		}
		src, ok := from[ap]
		if !ok {
			if len(from) >= fromCacheSize {
				clear(from)
			}
			src = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
			from[ap] = src
		}
		t.stats.udpPacketsRecv.Add(1)
		t.stats.udpBytesRecv.Add(uint64(n))
		t.deliver(Packet{From: src, Data: slices.Clone(buf[:n])})
	}
}

func (t *NetTransport) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	c.Close()
}

func (t *NetTransport) acceptTCP() {
	defer t.wg.Done()
	for {
		c, err := t.tcp.Accept()
		if err != nil {
			if t.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Typically EMFILE: back off briefly instead of spinning.
			t.log.Debug().Err(err).Msg("tcp accept")
			select {
			case <-t.done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		t.mu.Lock()
		switch {
		case t.closed.Load():
			t.mu.Unlock()
			c.Close()
			return
		case t.inbound >= MaxInboundConns:
			t.mu.Unlock()
			t.stats.connsRejected.Add(1)
			c.Close()
			continue
		}
		t.inbound++
		t.conns[c] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go t.readStream(c)
	}
}

// inboundIdle is how long an inbound stream may stay silent. It exceeds the
// sender's IdleTimeout so that the sender, not the receiver, ends an idle
// connection: a sender that writes into a connection the receiver has just
// closed loses that message without noticing.
func (t *NetTransport) inboundIdle() time.Duration {
	return t.cfg.IdleTimeout + t.cfg.IdleTimeout/4 + time.Second
}

func (t *NetTransport) readStream(c net.Conn) {
	defer t.wg.Done()
	defer func() {
		t.mu.Lock()
		t.inbound--
		t.mu.Unlock()
		t.untrack(c)
	}()
	log := t.log.With().Str("remote", c.RemoteAddr().String()).Logger()
	r := bufio.NewReaderSize(c, connReadBuf)
	var hdr [4]byte

	c.SetReadDeadline(time.Now().Add(t.inboundIdle()))
	if _, err := io.ReadFull(r, hdr[:2]); err != nil {
		log.Debug().Err(err).Msg("stream hello")
		return
	}
	n := int(binary.BigEndian.Uint16(hdr[:2]))
	if n == 0 || n > maxHelloLen {
		t.stats.badFrames.Add(1)
		log.Debug().Int("len", n).Msg("stream hello: bad length")
		return
	}
	hello := make([]byte, n)
	if _, err := io.ReadFull(r, hello); err != nil {
		log.Debug().Err(err).Msg("stream hello")
		return
	}
	ap, err := netip.ParseAddrPort(string(hello))
	if err != nil {
		t.stats.badFrames.Add(1)
		log.Debug().Err(err).Msg("stream hello: bad address")
		return
	}
	// From is where replies go and whom the messages are taken to come
	// from, so a peer may only name its own IP, as a datagram's source
	// does; the port it cannot prove, as the connection's is ephemeral.
	// Zones are left out of the comparison: each side names its own
	// interface. From keeps ours, as the UDP path's does.
	remote, ok := remoteAddr(c)
	if !ok || remote.WithZone("") != ap.Addr().Unmap().WithZone("") {
		t.stats.helloMismatch.Add(1)
		log.Debug().Str("hello", ap.String()).Msg("stream hello: address of another host")
		return
	}
	from := netip.AddrPortFrom(remote, ap.Port()).String()
	log = log.With().Str("from", from).Logger()

	for {
		c.SetReadDeadline(time.Now().Add(t.inboundIdle()))
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if !errors.Is(err, io.EOF) && !t.closed.Load() {
				log.Debug().Err(err).Msg("stream read")
			}
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 || n > uint32(t.cfg.MaxMessageSize) {
			t.stats.badFrames.Add(1)
			log.Debug().Uint32("len", n).Msg("stream frame: bad length")
			return
		}
		data, err := readN(r, int(n))
		if err != nil {
			if !t.closed.Load() {
				log.Debug().Err(err).Msg("stream read")
			}
			return
		}
		t.stats.tcpMsgsRecv.Add(1)
		t.stats.tcpBytesRecv.Add(uint64(n))
		t.deliver(Packet{From: from, Data: data})
	}
}

// remoteAddr is the unmapped IP at the other end of c.
func remoteAddr(c net.Conn) (netip.Addr, bool) {
	a, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, false
	}
	return a.AddrPort().Addr().Unmap(), true
}

// readN reads exactly n bytes, growing the buffer as data arrives, so that a
// peer announcing a large frame and then stalling pins at most a few times
// what it sent. Growing fourfold keeps the copying to a third of n.
func readN(r io.Reader, n int) ([]byte, error) {
	if n <= readChunk {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	b := make([]byte, 0, readChunk)
	for len(b) < n {
		m := min(n-len(b), max(readChunk, 3*len(b)))
		b = slices.Grow(b, m)
		if _, err := io.ReadFull(r, b[len(b):len(b)+m]); err != nil {
			return nil, err
		}
		b = b[:len(b)+m]
	}
	return b, nil
}

func (t *NetTransport) runSender(s *streamSender) {
	log := t.log.With().Str("to", s.dest).Logger()
	var c net.Conn
	defer func() {
		if c != nil {
			t.untrackSender(s, c)
		}
		s.cancel()
		// Only an evicted sender can hold messages here (an idle one retires
		// with an empty queue, and after Close nothing counts): they were
		// accepted and will never be written, and their bytes must return
		// to the transport's budget.
		for drained := false; !drained; {
			select {
			case b := <-s.q:
				t.release(s, int64(len(b)))
				if !t.closed.Load() {
					t.stats.sendFailed.Add(1)
				}
			default:
				drained = true
			}
		}
		t.streams.Add(-1)
		close(s.done)
		t.wg.Done()
	}()
	idle := time.NewTimer(t.cfg.IdleTimeout)
	defer idle.Stop()
	for {
		// Checked first: select picks at random among ready cases, and an
		// evicted sender must not take further messages to dial for.
		if s.ctx.Err() != nil {
			return
		}
		select {
		case <-s.ctx.Done():
			return
		case <-idle.C:
			if c != nil {
				t.untrackSender(s, c)
				c = nil
			}
			// Retire, unless a message slipped in: Send enqueues under
			// t.mu's read lock, so an empty queue here stays empty until
			// the sender is gone from the map.
			t.mu.Lock()
			if len(s.q) == 0 {
				if t.senders[s.dest] == s {
					delete(t.senders, s.dest)
				}
				t.mu.Unlock()
				return
			}
			t.mu.Unlock()
			idle.Reset(t.cfg.IdleTimeout)
		case b := <-s.q:
			c = t.writeStream(log, s, c, b)
			t.release(s, int64(len(b)))
			idle.Reset(t.cfg.IdleTimeout)
		}
	}
}

// untrackSender closes c, a connection of s.
func (t *NetTransport) untrackSender(s *streamSender, c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	if s.conn == c {
		s.conn = nil
	}
	t.mu.Unlock()
	c.Close()
}

// writeStream writes one message on c, dialing when c is nil, and returns the
// connection to use next (nil after a failure, so the next message re-dials).
func (t *NetTransport) writeStream(log zerolog.Logger, s *streamSender, c net.Conn, b []byte) net.Conn {
	// A reused connection may have been closed by the peer (restart, idle
	// timeout); that only shows as a failed write, so retry once on a fresh one.
	for attempt := 0; attempt < 2; attempt++ {
		fresh := c == nil
		var pre []byte
		if fresh {
			var err error
			if c, err = t.dial(s); err != nil {
				switch {
				case t.closed.Load():
				case s.ctx.Err() != nil: // evicted: the dial was aborted, not failed
					t.stats.sendFailed.Add(1)
				default:
					t.stats.dialErrors.Add(1)
					t.stats.sendFailed.Add(1)
					log.Debug().Err(err).Msg("stream dial")
				}
				return nil
			}
			pre = t.hello
		}
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
		bufs := net.Buffers{pre, hdr[:], b}
		c.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
		_, err := bufs.WriteTo(c)
		if err == nil {
			t.stats.tcpMsgsSent.Add(1)
			t.stats.tcpBytesSent.Add(uint64(len(b)))
			s.active.Store(t.clock.Add(1))
			return c
		}
		t.untrackSender(s, c)
		c = nil
		if t.closed.Load() {
			return nil
		}
		if s.ctx.Err() != nil {
			break // evicted: the write was interrupted, and is not retried
		}
		log.Debug().Err(err).Bool("fresh", fresh).Msg("stream write")
		// A timeout means a slow reader, not a closed connection: a fresh
		// connection would only queue behind it.
		var ne net.Error
		if fresh || errors.As(err, &ne) && ne.Timeout() {
			break
		}
	}
	t.stats.sendFailed.Add(1)
	return nil
}

func (t *NetTransport) dial(s *streamSender) (net.Conn, error) {
	network := "tcp4"
	if ap, err := netip.ParseAddrPort(s.dest); err == nil && !ap.Addr().Is4() {
		network = "tcp6"
	}
	c, err := t.dialer.DialContext(s.ctx, network, s.dest)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	// Under mu, so that an eviction either sees s.conn to close or has
	// cancelled s.ctx before this check.
	if t.closed.Load() || s.ctx.Err() != nil {
		t.mu.Unlock()
		c.Close()
		return nil, ErrTransportClosed
	}
	s.conn = c
	t.conns[c] = struct{}{}
	t.wg.Add(1)
	t.mu.Unlock()
	go t.watchPeer(c)
	return c, nil
}

// watchPeer notices when the peer closes an outbound connection (restart,
// idle timeout) and closes our end. Otherwise the next write would succeed
// into the dead connection and its message would vanish; on a closed
// connection it fails and writeStream retries on a fresh one.
func (t *NetTransport) watchPeer(c net.Conn) {
	defer t.wg.Done()
	var b [1]byte
	// The peer never sends on this connection: any return means it is over.
	c.Read(b[:])
	t.untrack(c)
}
