package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand"
	"net"
	"net/netip"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"
)

const trTimeout = 5 * time.Second

func trListenNet(tb testing.TB, cfg NetConfig) *NetTransport {
	tb.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	tr, err := ListenNet(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tr.Close() })
	return tr
}

func trRecv(tb testing.TB, tr Transport) Packet {
	tb.Helper()
	select {
	case p, ok := <-tr.Recv():
		if !ok {
			tb.Fatal("Recv closed")
		}
		return p
	case <-time.After(trTimeout):
		tb.Fatalf("%s: nothing received within %v", tr.Addr(), trTimeout)
	}
	return Packet{}
}

// waitFor polls cond, for state that has no channel to wait on.
func trWaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(trTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func trRandBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func netExchange(t *testing.T, addr string) { netExchangeCfg(t, NetConfig{Addr: addr}) }

func netExchangeCfg(t *testing.T, cfg NetConfig) {
	a := trListenNet(t, cfg)
	b := trListenNet(t, cfg)
	if a.Addr() == b.Addr() {
		t.Fatalf("both transports on %s", a.Addr())
	}

	small := []byte("hello")
	if err := a.Send(b.Addr(), small); err != nil {
		t.Fatal(err)
	}
	p := trRecv(t, b)
	if p.From != a.Addr() || !bytes.Equal(p.Data, small) {
		t.Fatalf("got %q from %s, want %q from %s", p.Data, p.From, small, a.Addr())
	}

	// The reply goes to From, so From must be the advertised address.
	if err := b.Send(p.From, []byte("world")); err != nil {
		t.Fatal(err)
	}
	if p := trRecv(t, a); p.From != b.Addr() || string(p.Data) != "world" {
		t.Fatalf("got %q from %s", p.Data, p.From)
	}

	big := trRandBytes(1<<20, 1)
	if err := a.Send(b.Addr(), big); err != nil {
		t.Fatal(err)
	}
	p = trRecv(t, b)
	if p.From != a.Addr() || !bytes.Equal(p.Data, big) {
		t.Fatalf("got %d bytes from %s, want %d from %s", len(p.Data), p.From, len(big), a.Addr())
	}

	trWaitFor(t, "sender stats", func() bool {
		st := a.Stats()
		return st.UDPPacketsSent == 1 && st.TCPMsgsSent == 1 && st.TCPBytesSent == 1<<20
	})
	st := b.Stats()
	if st.UDPPacketsRecv != 1 || st.TCPMsgsRecv != 1 || st.TCPBytesRecv != 1<<20 {
		t.Errorf("receiver stats %+v", st)
	}
}

func TestNetExchangeIPv4(t *testing.T) {
	t.Parallel()
	netExchange(t, "127.0.0.1:0")
}

func TestNetExchangeIPv6(t *testing.T) {
	t.Parallel()
	l, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("cannot bind ::1: %v", err)
	}
	l.Close()
	netExchange(t, "[::1]:0")
}

// canBind6 skips a test on a host without IPv6 loopback.
func canBind6(t *testing.T) {
	t.Helper()
	l, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("cannot bind ::1: %v", err)
	}
	l.Close()
}

// TestNetBindWildcard: sockets bound to every interface, the node
// advertising one of them, exchange both datagrams and streams; From, the
// address replies go to, is the advertised address, and the stream's
// hello passes the receiver's IP check.
func TestNetBindWildcard(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, bind, addr string
		v6               bool
	}{
		{"ipv4 any", "0.0.0.0", "127.0.0.1:0", false},
		{"ipv6 any serving ipv4", "::", "127.0.0.1:0", true},
		{"ipv6 any", "::", "[::1]:0", true},
		{"same as addr", "127.0.0.1", "127.0.0.1:0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.v6 {
				canBind6(t)
			}
			netExchangeCfg(t, NetConfig{Addr: tc.addr, Bind: tc.bind})
		})
	}
}

func TestNetBindRefused(t *testing.T) {
	t.Parallel()
	canBind6(t)
	for _, cfg := range []NetConfig{
		{Addr: "[::1]:0", Bind: "0.0.0.0"}, // IPv4 sockets cannot take IPv6 traffic
		{Addr: "127.0.0.1:0", Bind: "::1"},
		{Addr: "127.0.0.1:0", Bind: "[::]"},
		{Addr: "127.0.0.1:0", Bind: "0.0.0.0:7946"}, // the port is Addr's
	} {
		if tr, err := ListenNet(cfg); err == nil {
			tr.Close()
			t.Errorf("ListenNet(%+v) succeeded", cfg)
		}
	}
}

func TestDialFromAdvertised(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		advertised, bound string
		want              bool
	}{
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.1", "0.0.0.0", true},  // local: keep the hello check passing on multi-homed hosts
		{"192.0.2.1", "0.0.0.0", false}, // TEST-NET-1, not this host's: behind NAT
		{"2001:db8::1", "::", false},    // documentation prefix, not this host's
		{"0.0.0.0", "0.0.0.0", false},
	} {
		got := dialFromAdvertised(netip.MustParseAddr(tc.advertised), netip.MustParseAddr(tc.bound))
		if got != tc.want {
			t.Errorf("dialFromAdvertised(%s, %s) = %v, want %v", tc.advertised, tc.bound, got, tc.want)
		}
	}
}

func TestNetAddrResolved(t *testing.T) {
	t.Parallel()
	tr := trListenNet(t, NetConfig{Addr: "localhost:0"})
	if !strings.HasPrefix(tr.Addr(), "127.0.0.1:") || strings.HasSuffix(tr.Addr(), ":0") {
		t.Errorf("Addr() = %q, want 127.0.0.1 with the chosen port", tr.Addr())
	}
	if tr.PacketSize() != DefaultPacketSize || tr.MaxMessageSize() != DefaultMaxMessageSize {
		t.Errorf("sizes %d, %d", tr.PacketSize(), tr.MaxMessageSize())
	}
}

func TestNetSizeLimits(t *testing.T) {
	t.Parallel()
	a := trListenNet(t, NetConfig{PacketSize: 512, MaxMessageSize: 64 << 10})
	b := trListenNet(t, NetConfig{PacketSize: 512, MaxMessageSize: 64 << 10})
	if err := a.Send(b.Addr(), make([]byte, 64<<10+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized Send: %v, want ErrTooLarge", err)
	}
	if err := a.Send(b.Addr(), nil); err == nil {
		t.Fatal("empty Send succeeded")
	}
	for _, n := range []int{1, 512, 513, 64 << 10} {
		msg := trRandBytes(n, int64(n))
		if err := a.Send(b.Addr(), msg); err != nil {
			t.Fatalf("Send %d bytes: %v", n, err)
		}
		if p := trRecv(t, b); !bytes.Equal(p.Data, msg) {
			t.Fatalf("sent %d bytes, got %d", n, len(p.Data))
		}
	}
	// The sender counts after its write returns, which may be after delivery.
	trWaitFor(t, "sender stats", func() bool {
		st := a.Stats()
		return st.UDPPacketsSent == 2 && st.TCPMsgsSent == 2
	})
	if err := a.Send("localhost:1", make([]byte, 10)); !errors.Is(err, ErrBadAddr) {
		t.Errorf("Send to a host name: %v, want ErrBadAddr", err)
	}
	if err := a.Send("localhost:1", make([]byte, 1000)); !errors.Is(err, ErrBadAddr) {
		t.Errorf("stream Send to a host name: %v, want ErrBadAddr", err)
	}
	for _, cfg := range []NetConfig{
		{PacketSize: MaxUDPPayload + 1},
		{PacketSize: 2000, MaxMessageSize: 1000},
		{SendQueue: -1},
		{Addr: "127.0.0.1"},
	} {
		if cfg.Addr == "" {
			cfg.Addr = "127.0.0.1:0"
		}
		if tr, err := ListenNet(cfg); err == nil {
			tr.Close()
			t.Errorf("ListenNet(%+v) succeeded", cfg)
		}
	}
}

func TestNetUDPBurst(t *testing.T) {
	t.Parallel()
	a := trListenNet(t, NetConfig{})
	b := trListenNet(t, NetConfig{})
	const n = 2000
	msg := make([]byte, 200)
	for i := range n {
		binary.BigEndian.PutUint32(msg, uint32(i))
		if err := a.Send(b.Addr(), msg); err != nil {
			t.Fatal(err)
		}
	}
	seen := make(map[uint32]bool)
	// Loss is the point of the test, so stop at the first quiet second.
	for len(seen) < n {
		select {
		case p := <-b.Recv():
			seen[binary.BigEndian.Uint32(p.Data)] = true
		case <-time.After(time.Second):
			goto done
		}
	}
done:
	if len(seen) < n*95/100 {
		t.Fatalf("received %d of %d datagrams; stats %+v", len(seen), n, b.Stats())
	}
	t.Logf("received %d of %d datagrams", len(seen), n)
}

// rawStream opens a stream connection to tr as a misbehaving peer would.
func trRawStream(t *testing.T, tr *NetTransport, frames ...[]byte) net.Conn {
	t.Helper()
	return trDialStream(t, tr, "", frames...)
}

// trDialStream is trRawStream from local, a local IP ("" for any).
func trDialStream(t *testing.T, tr *NetTransport, local string, frames ...[]byte) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: trTimeout}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", tr.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, f := range frames {
		if _, err := c.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func trHello(addr string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(addr))), addr...)
}

func trFrame(n uint32, payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, n), payload...)
}

// expectClosed waits for the transport to close c.
func trExpectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(trTimeout))
	var b [1]byte
	_, err := c.Read(b[:])
	if err == nil {
		t.Fatal("transport sent data")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("connection not closed")
	}
}

func TestNetBadFrames(t *testing.T) {
	t.Parallel()
	tr := trListenNet(t, NetConfig{MaxMessageSize: 1 << 20})
	// The hello must name the IP the connection comes from.
	const peer = "127.0.0.1:7001"

	bad := [][][]byte{
		{trFrame(0, nil)[:2]},       // hello of length 0
		{{0xff, 0xff}},              // hello longer than 512
		{trHello("not an address")}, // hello that is no address
		{trHello(peer), trFrame(0, nil)},
		{trHello(peer), trFrame(1<<20+1, nil)},
		{trHello(peer), trFrame(0xffffffff, []byte("xyz"))},
	}
	for i, frames := range bad {
		c := trRawStream(t, tr, frames...)
		trExpectClosed(t, c)
		trWaitFor(t, "bad frame counted", func() bool { return tr.Stats().BadFrames == uint64(i+1) })
	}

	// A valid stream still works, with From taken from the hello, and a
	// truncated frame costs nothing but its connection.
	c := trRawStream(t, tr, trHello(peer), trFrame(3, []byte("abc")), trFrame(5, []byte("de")))
	p := trRecv(t, tr)
	if p.From != peer || string(p.Data) != "abc" {
		t.Fatalf("got %q from %s", p.Data, p.From)
	}
	c.Close()
	trWaitFor(t, "stream reader gone", func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.inbound == 0
	})
	select {
	case p := <-tr.Recv():
		t.Fatalf("truncated frame delivered: %q", p.Data)
	default:
	}
}

func TestNetInboundLimit(t *testing.T) {
	t.Parallel()
	tr := trListenNet(t, NetConfig{})
	for range MaxInboundConns {
		trRawStream(t, tr)
	}
	trWaitFor(t, "inbound connections registered", func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.inbound == MaxInboundConns
	})
	trExpectClosed(t, trRawStream(t, tr))
	if got := tr.Stats().ConnsRejected; got != 1 {
		t.Fatalf("ConnsRejected = %d", got)
	}
}

// blackHole accepts stream connections and never reads from them.
func trBlackHole(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    gosync.WaitGroup
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// deadPort returns a loopback address with nothing listening on it.
func trDeadPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestNetSendNeverBlocks(t *testing.T) {
	t.Parallel()
	// Timeouts far above the bound on Send, so that a Send waiting for a
	// dial or a write cannot pass.
	tr, err := ListenNet(NetConfig{Addr: "127.0.0.1:0", SendQueue: 4, DialTimeout: time.Minute, WriteTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	msg := make([]byte, 1<<20)

	send := func(addr string) error {
		start := time.Now()
		err := tr.Send(addr, msg)
		// Generous for loaded CI machines running with -race; blocking
		// would show as a minute.
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Send to %s took %v: %v", addr, d, err)
		}
		return err
	}

	// Keep offering messages until the black hole's socket buffers are full
	// and the sender is stuck in a write.
	hole := trBlackHole(t)
	accepted, full := 0, 0
	for i := 0; i < 2000 && full < 200; i++ {
		switch err := send(hole); {
		case errors.Is(err, ErrQueueFull):
			full++
		case err != nil:
			t.Fatal(err)
		default:
			accepted++
		}
	}
	if full < 200 {
		t.Fatalf("queue to a black hole never filled: %d accepted", accepted)
	}
	if st := tr.Stats(); st.SendDropped != uint64(full) {
		t.Errorf("SendDropped = %d, want %d", st.SendDropped, full)
	}
	// Stuck means a full queue plus one message taken off it and not written.
	trWaitFor(t, "sender stuck in a write", func() bool {
		if err := send(hole); err == nil {
			accepted++
		} else if !errors.Is(err, ErrQueueFull) {
			t.Fatal(err)
		}
		st := tr.Stats()
		return uint64(accepted)-st.TCPMsgsSent-st.SendFailed > 4
	})
	t.Logf("black hole: %d accepted, %d written", accepted, tr.Stats().TCPMsgsSent)

	dead := trDeadPort(t)
	for range 10 {
		if err := send(dead); err != nil && !errors.Is(err, ErrQueueFull) {
			t.Fatal(err)
		}
	}
	trWaitFor(t, "dial errors", func() bool { return tr.Stats().DialErrors > 0 && tr.Stats().SendFailed > 0 })

	// Datagrams are unaffected by stuck streams.
	if err := tr.Send(hole, []byte("x")); err != nil {
		t.Fatal(err)
	}

	// Close interrupts the write stuck on the black hole instead of waiting
	// out WriteTimeout.
	start := time.Now()
	tr.Close()
	if d := time.Since(start); d > trTimeout {
		t.Fatalf("Close took %v", d)
	}
}

func TestNetClose(t *testing.T) {
	t.Parallel()
	a := trListenNet(t, NetConfig{})
	b := trListenNet(t, NetConfig{})
	// Leave a stream connection and its sender running.
	if err := a.Send(b.Addr(), make([]byte, 10000)); err != nil {
		t.Fatal(err)
	}
	trRecv(t, b)

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case _, ok := <-a.Recv():
		if ok {
			t.Fatal("packet after Close")
		}
	case <-time.After(trTimeout):
		t.Fatal("Recv not closed")
	}
	for _, n := range []int{10, 10000, 100 << 20} {
		if err := a.Send(b.Addr(), make([]byte, n)); !errors.Is(err, ErrTransportClosed) {
			t.Errorf("Send %d bytes after Close: %v", n, err)
		}
	}
	// The peer notices the closed stream and drops its end.
	trWaitFor(t, "inbound stream closed", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.inbound == 0
	})
}

func TestNetConcurrentClose(t *testing.T) {
	t.Parallel()
	a := trListenNet(t, NetConfig{})
	b := trListenNet(t, NetConfig{SendQueue: 1024})
	var wg gosync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := make([]byte, 100+i*3000)
			for {
				err := b.Send(a.Addr(), msg)
				if errors.Is(err, ErrTransportClosed) {
					return
				}
				if err != nil && !errors.Is(err, ErrQueueFull) {
					t.Error(err)
					return
				}
			}
		}()
	}
	trWaitFor(t, "traffic", func() bool { return a.Stats().TCPMsgsRecv > 10 && a.Stats().UDPPacketsRecv > 10 })
	a.Close()
	var cwg gosync.WaitGroup
	for range 3 {
		cwg.Add(1)
		go func() { defer cwg.Done(); b.Close() }()
	}
	cwg.Wait()
	wg.Wait()
}

func TestNetPortInUse(t *testing.T) {
	t.Parallel()
	a := trListenNet(t, NetConfig{})
	_, err := ListenNet(NetConfig{Addr: a.Addr()})
	if err == nil {
		t.Fatal("second ListenNet on the same address succeeded")
	}
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), a.Addr()) ||
		!strings.HasPrefix(err.Error(), "transport: listen udp") {
		t.Fatalf("error %q does not say which address is in use", err)
	}

	// Only the TCP port taken.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = ListenNet(NetConfig{Addr: l.Addr().String()})
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.HasPrefix(err.Error(), "transport: listen tcp") {
		t.Fatalf("error %v", err)
	}
}

func TestNetIdleReconnect(t *testing.T) {
	t.Parallel()
	a := trListenNet(t, NetConfig{IdleTimeout: 50 * time.Millisecond})
	b := trListenNet(t, NetConfig{})
	msg := trRandBytes(5000, 2)
	for range 2 {
		if err := a.Send(b.Addr(), msg); err != nil {
			t.Fatal(err)
		}
		if p := trRecv(t, b); !bytes.Equal(p.Data, msg) {
			t.Fatal("corrupt message")
		}
		trWaitFor(t, "idle sender retired", func() bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			return len(a.senders) == 0 && len(a.conns) == 0
		})
	}
}

func TestNetPeerRestart(t *testing.T) {
	t.Parallel()
	a := trListenNet(t, NetConfig{})
	b := trListenNet(t, NetConfig{})
	addr := b.Addr()
	msg := trRandBytes(5000, 3)
	if err := a.Send(addr, msg); err != nil {
		t.Fatal(err)
	}
	trRecv(t, b)
	b.Close()
	trWaitFor(t, "outbound stream dropped", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.conns) == 0
	})
	b2, err := ListenNet(NetConfig{Addr: addr})
	if err != nil {
		t.Skipf("port taken meanwhile: %v", err)
	}
	defer b2.Close()
	if err := a.Send(addr, msg); err != nil {
		t.Fatal(err)
	}
	if p := trRecv(t, b2); p.From != a.Addr() || !bytes.Equal(p.Data, msg) {
		t.Fatal("wrong message after restart")
	}
}

func TestReadN(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, readChunk, readChunk + 1, 5*readChunk + 7} {
		want := trRandBytes(n, int64(n))
		got, err := readN(bytes.NewReader(want), n)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("readN(%d): %v", n, err)
		}
		if _, err := readN(bytes.NewReader(want[:n-1]), n); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			t.Fatalf("short readN(%d): %v", n, err)
		}
	}
}

func BenchmarkNetUDP(b *testing.B) {
	trBenchNet(b, 1024)
}

func BenchmarkNetTCP(b *testing.B) {
	trBenchNet(b, 256<<10)
}

// benchNet measures delivered messages: a window of in-flight messages keeps
// the sender from outrunning the receiver, so nothing is lost to a full
// queue or socket buffer and the numbers reflect what the path sustains.
func trBenchNet(b *testing.B, size int) {
	const window = 32
	tx := trListenNet(b, NetConfig{SendQueue: 2 * window})
	rx := trListenNet(b, NetConfig{})
	msg := make([]byte, size)
	credit := make(chan struct{}, window)
	for range window {
		credit <- struct{}{}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range rx.Recv() {
			credit <- struct{}{}
		}
	}()
	b.SetBytes(int64(size))
	b.ResetTimer()
	for range b.N {
		select {
		case <-credit:
		case <-time.After(time.Second):
			// A datagram was lost: its credit never comes back.
		}
		if err := tx.Send(rx.Addr(), msg); err != nil {
			b.Fatal(err)
		}
	}
	for range window {
		select {
		case <-credit:
		case <-time.After(time.Second):
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	st := rx.Stats()
	b.ReportMetric(float64(st.UDPPacketsRecv+st.TCPMsgsRecv)/float64(b.N), "delivered/op")
	rx.Close()
	<-done
}
