package transport

import (
	"bytes"
	"errors"
	"net"
	"runtime"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"
)

// guardLoopbackAlias returns a second loopback IP to connect from or bind
// to, or skips where the system routes only 127.0.0.1 (macOS).
func guardLoopbackAlias(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no second loopback address: %v", err)
	}
	l.Close()
	return "127.0.0.2"
}

// guardStreamFrom is trRawStream from a chosen local IP ("" for any).
func guardStreamFrom(t *testing.T, tr *NetTransport, local string, frames ...[]byte) net.Conn {
	t.Helper()
	return trDialStream(t, tr, local, frames...)
}

// TestGuardHelloMustMatchPeerIP: a stream's hello names the address its
// messages are taken to come from and replies go to; a peer naming an IP
// other than its connection's is refused, as it could otherwise speak for
// any node and steer replies to any host.
func TestGuardHelloMustMatchPeerIP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		alias    bool   // connect from the second loopback IP
		hello    string // %s is the second loopback IP
		wantFrom string // "" if refused
	}{
		{name: "own IP", hello: "127.0.0.1:7001", wantFrom: "127.0.0.1:7001"},
		{name: "own IP, IPv4-mapped", hello: "[::ffff:127.0.0.1]:7001", wantFrom: "127.0.0.1:7001"},
		{name: "remote host", hello: "192.0.2.7:7001"},
		{name: "other loopback IP", hello: "127.0.0.2:7001"},
		{name: "IPv6 loopback over IPv4", hello: "[::1]:7001"},
		{name: "IPv4-mapped remote host", hello: "[::ffff:192.0.2.7]:7001"},
		{name: "from alias, own IP", alias: true, hello: "127.0.0.2:7001", wantFrom: "127.0.0.2:7001"},
		{name: "from alias, claiming 127.0.0.1", alias: true, hello: "127.0.0.1:7001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			local := ""
			if tt.alias {
				local = guardLoopbackAlias(t)
			}
			tr := trListenNet(t, NetConfig{})
			c := guardStreamFrom(t, tr, local, trHello(tt.hello), trFrame(3, []byte("abc")))
			if tt.wantFrom != "" {
				if p := trRecv(t, tr); p.From != tt.wantFrom || string(p.Data) != "abc" {
					t.Fatalf("got %q from %s, want \"abc\" from %s", p.Data, p.From, tt.wantFrom)
				}
				if st := tr.Stats(); st.HelloMismatch != 0 || st.BadFrames != 0 {
					t.Fatalf("accepted stream counted: %+v", st)
				}
				return
			}
			trExpectClosed(t, c)
			trWaitFor(t, "mismatch counted", func() bool { return tr.Stats().HelloMismatch == 1 })
			if st := tr.Stats(); st.BadFrames != 0 || st.TCPMsgsRecv != 0 {
				t.Fatalf("refused stream: %+v", st)
			}
			select {
			case p := <-tr.Recv():
				t.Fatalf("refused stream delivered %q from %s", p.Data, p.From)
			default:
			}
		})
	}
}

// TestGuardHelloFromAdvertisedIP: a transport advertising one of several
// local IPs dials from it, so that its own hellos pass the check even when
// the route to the peer would pick another source address.
func TestGuardHelloFromAdvertisedIP(t *testing.T) {
	t.Parallel()
	alias := guardLoopbackAlias(t)
	a := trListenNet(t, NetConfig{Addr: alias + ":0"})
	b := trListenNet(t, NetConfig{})
	msg := trRandBytes(10000, 4)
	if err := a.Send(b.Addr(), msg); err != nil {
		t.Fatal(err)
	}
	if p := trRecv(t, b); p.From != a.Addr() || !bytes.Equal(p.Data, msg) {
		t.Fatalf("got %d bytes from %s, want %d from %s", len(p.Data), p.From, len(msg), a.Addr())
	}
	if st := b.Stats(); st.HelloMismatch != 0 {
		t.Fatalf("HelloMismatch = %d", st.HelloMismatch)
	}
}

// guardWritten waits until every stream message tr accepted is written or
// given up, so that senders' progress follows the order of the Sends.
func guardWritten(t *testing.T, tr *NetTransport, accepted int) {
	t.Helper()
	trWaitFor(t, "stream messages written or failed", func() bool {
		st := tr.Stats()
		return st.TCPMsgsSent+st.SendFailed >= uint64(accepted)
	})
}

// TestGuardStreamsCapped: every destination of a large message gets a
// sender goroutine, so without a cap a node made to stream to many
// addresses (forged requests, a flapping membership) would start as many
// goroutines and connections as it is given destinations.
func TestGuardStreamsCapped(t *testing.T) {
	t.Parallel()
	msg := trRandBytes(10000, 5)

	// Sent one after another, the senders' progress follows the Sends:
	// each new destination evicts the oldest, and the last MaxStreams,
	// listening, keep their senders and get their messages.
	t.Run("evicts the longest idle", func(t *testing.T) {
		t.Parallel()
		const maxStreams, dead = 4, 12
		tr := trListenNet(t, NetConfig{PacketSize: 512, MaxStreams: maxStreams, IdleTimeout: time.Minute})
		var dests []string
		for range dead {
			dests = append(dests, trDeadPort(t))
		}
		var live []*NetTransport
		for range maxStreams {
			rx := trListenNet(t, NetConfig{PacketSize: 512})
			live = append(live, rx)
			dests = append(dests, rx.Addr())
		}
		for i, d := range dests {
			if err := tr.Send(d, msg); err != nil {
				t.Fatalf("Send %d: %v", i, err)
			}
			if n := tr.Stats().Streams; n > maxStreams {
				t.Fatalf("after %d destinations: %d senders, cap %d", i+1, n, maxStreams)
			}
			guardWritten(t, tr, i+1)
		}
		for _, rx := range live {
			if p := trRecv(t, rx); p.From != tr.Addr() || !bytes.Equal(p.Data, msg) {
				t.Fatalf("%s: got %d bytes from %s", rx.Addr(), len(p.Data), p.From)
			}
		}
		// A sender to a dead port whose dial failed may end before its
		// turn to be evicted comes: up to dead evictions, never fewer than
		// the destinations beyond the cap that found every slot taken by a
		// live-looking sender.
		st := tr.Stats()
		if st.Streams != maxStreams || st.StreamsEvicted > dead || st.StreamsEvicted < dead-maxStreams || st.DialErrors != dead {
			t.Fatalf("stats %+v, want %d streams, %d to %d evicted, %d dial errors", st, maxStreams, dead-maxStreams, dead, dead)
		}
		tr.mu.Lock()
		defer tr.mu.Unlock()
		for _, rx := range live {
			if tr.senders[rx.Addr()] == nil {
				t.Errorf("sender to %s, the newest, evicted", rx.Addr())
			}
		}
	})

	// A sender stuck on a peer that does not read is evicted like an idle
	// one: its write is interrupted and its queued messages are given up,
	// their bytes returned to the transport's budget.
	t.Run("evicts a stuck sender", func(t *testing.T) {
		t.Parallel()
		tr := trListenNet(t, NetConfig{PacketSize: 512, MaxStreams: 1, SendQueue: 4,
			WriteTimeout: time.Minute, IdleTimeout: time.Minute})
		hole := trBlackHole(t)
		big := make([]byte, 1<<20)
		full := 0
		trWaitFor(t, "queue to the black hole full", func() bool {
			switch err := tr.Send(hole, big); {
			case errors.Is(err, ErrQueueFull):
				full++
			case err != nil:
				t.Fatal(err)
			}
			return full >= 10
		})
		rx := trListenNet(t, NetConfig{PacketSize: 512})
		start := time.Now()
		if err := tr.Send(rx.Addr(), msg); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Send evicting a stuck sender took %v", d)
		}
		if p := trRecv(t, rx); !bytes.Equal(p.Data, msg) {
			t.Fatal("corrupt message")
		}
		trWaitFor(t, "budget returned", func() bool { return tr.sent.Load() == 0 })
		if st := tr.Stats(); st.Streams != 1 || st.StreamsEvicted != 1 || st.SendFailed == 0 {
			t.Fatalf("stats %+v", st)
		}
	})

	// Concurrent Sends to new destinations each evict a sender and wait for
	// it to go; none may start a sender before a slot is free.
	t.Run("concurrent", func(t *testing.T) {
		t.Parallel()
		const maxStreams, workers, each = 8, 8, 12
		tr := trListenNet(t, NetConfig{PacketSize: 512, MaxStreams: maxStreams, IdleTimeout: time.Minute})
		dests := make([][]string, workers)
		for w := range dests {
			for i := range each {
				if i%3 == 0 {
					dests[w] = append(dests[w], trBlackHole(t))
				} else {
					dests[w] = append(dests[w], trDeadPort(t))
				}
			}
		}
		var over atomic.Uint64
		stop := make(chan struct{})
		var wg, sampler gosync.WaitGroup
		sampler.Add(1)
		go func() {
			defer sampler.Done()
			for {
				if n := tr.Stats().Streams; n > maxStreams {
					over.Store(n)
				}
				runtime.Gosched()
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for round := range 3 {
					for _, d := range dests[w] {
						err := tr.Send(d, msg)
						if err != nil && !errors.Is(err, ErrQueueFull) && !errors.Is(err, ErrTooManyStreams) {
							t.Errorf("round %d: Send to %s: %v", round, d, err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(stop)
		sampler.Wait()
		if n := over.Load(); n != 0 {
			t.Fatalf("%d senders running, cap %d", n, maxStreams)
		}
		st := tr.Stats()
		if st.Streams > maxStreams || st.StreamsEvicted == 0 {
			t.Fatalf("stats %+v", st)
		}
		tr.mu.Lock()
		defer tr.mu.Unlock()
		if len(tr.senders) > maxStreams {
			t.Fatalf("%d senders registered", len(tr.senders))
		}
	})

	// Idle senders still retire on their own, evictions or not.
	t.Run("idle reaping", func(t *testing.T) {
		t.Parallel()
		const maxStreams = 2
		tr := trListenNet(t, NetConfig{PacketSize: 512, MaxStreams: maxStreams, IdleTimeout: 50 * time.Millisecond})
		for i := range 5 {
			rx := trListenNet(t, NetConfig{PacketSize: 512})
			if err := tr.Send(rx.Addr(), msg); err != nil {
				t.Fatalf("Send %d: %v", i, err)
			}
			if n := tr.Stats().Streams; n > maxStreams {
				t.Fatalf("%d senders, cap %d", n, maxStreams)
			}
		}
		trWaitFor(t, "idle senders retired", func() bool {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			return tr.Stats().Streams == 0 && len(tr.senders) == 0 && len(tr.conns) == 0
		})
	})
}

// TestGuardStreamsOnlyToAllowed: a datagram's source is easily forged, and
// a small request can draw a reply of megabytes; with AllowStream set, no
// stream goes to an address it refuses, while datagrams are unaffected.
func TestGuardStreamsOnlyToAllowed(t *testing.T) {
	t.Parallel()
	known := trListenNet(t, NetConfig{PacketSize: 512})
	stranger := trListenNet(t, NetConfig{PacketSize: 512})
	var asked atomic.Int64
	tr := trListenNet(t, NetConfig{PacketSize: 512, AllowStream: func(addr string) bool {
		asked.Add(1)
		return addr == known.Addr()
	}})

	tests := []struct {
		name    string
		to      *NetTransport
		size    int
		wantErr error
		asks    int64 // calls of AllowStream
	}{
		{name: "stream to a member", to: known, size: 10000, asks: 1},
		{name: "stream to a stranger", to: stranger, size: 10000, wantErr: ErrUnknownDestination, asks: 1},
		{name: "largest stream to a stranger", to: stranger, size: DefaultMaxMessageSize, wantErr: ErrUnknownDestination, asks: 1},
		{name: "datagram to a stranger", to: stranger, size: 512},
		{name: "datagram to a member", to: known, size: 100},
	}
	refused := uint64(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := asked.Load()
			msg := trRandBytes(tt.size, int64(tt.size))
			err := tr.Send(tt.to.Addr(), msg)
			if got := asked.Load() - before; got != tt.asks {
				t.Errorf("AllowStream called %d times, want %d", got, tt.asks)
			}
			if tt.wantErr != nil {
				refused++
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.to.Addr()) {
					t.Fatalf("Send: %v, want %v naming %s", err, tt.wantErr, tt.to.Addr())
				}
				if st := tr.Stats(); st.StreamsRefused != refused {
					t.Fatalf("StreamsRefused = %d, want %d", st.StreamsRefused, refused)
				}
				tr.mu.Lock()
				defer tr.mu.Unlock()
				if tr.senders[tt.to.Addr()] != nil {
					t.Fatal("sender started for a refused destination")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p := trRecv(t, tt.to); p.From != tr.Addr() || !bytes.Equal(p.Data, msg) {
				t.Fatalf("got %d bytes from %s", len(p.Data), p.From)
			}
		})
	}
	// Nothing refused arrived later either.
	if st := stranger.Stats(); st.TCPMsgsRecv != 0 {
		t.Fatalf("stranger received %d stream messages", st.TCPMsgsRecv)
	}
}
