package main

import (
	"fmt"
	"log"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// sentBytes counts what memberlist nodes write: datagrams, and streams in
// both directions of a connection (a push-pull's reply is sent on the
// accepted side).
type sentBytes struct {
	udp, tcp atomic.Uint64
}

// countingTransport is memberlist's own NetTransport with every byte it
// sends counted.
type countingTransport struct {
	*memberlist.NetTransport
	sent    *sentBytes
	streams chan net.Conn
	done    chan struct{}
	stop    sync.Once
}

var _ memberlist.NodeAwareTransport = (*countingTransport)(nil)

// newCountingTransport listens on 127.0.0.1 at a port the kernel picks
// for TCP and then binds for UDP, retrying when that UDP port is taken.
func newCountingTransport(sent *sentBytes, logger *log.Logger) (*countingTransport, int, error) {
	var err error
	for range 10 {
		var nt *memberlist.NetTransport
		nt, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{"127.0.0.1"}, Logger: logger})
		if err == nil {
			t := &countingTransport{NetTransport: nt, sent: sent,
				streams: make(chan net.Conn), done: make(chan struct{})}
			go t.forwardStreams()
			return t, nt.GetAutoBindPort(), nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, 0, fmt.Errorf("transport: %w", err)
}

func (t *countingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (t *countingTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	at, err := t.NetTransport.WriteToAddress(b, a)
	if err == nil {
		t.sent.udp.Add(uint64(len(b)))
	}
	return at, err
}

func (t *countingTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *countingTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	c, err := t.NetTransport.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, err
	}
	return countingConn{Conn: c, n: &t.sent.tcp}, nil
}

func (t *countingTransport) StreamCh() <-chan net.Conn { return t.streams }

// forwardStreams hands accepted connections to memberlist wrapped, until
// the transport shuts down.
func (t *countingTransport) forwardStreams() {
	in := t.NetTransport.StreamCh()
	for {
		select {
		case c := <-in:
			select {
			case t.streams <- countingConn{Conn: c, n: &t.sent.tcp}:
			case <-t.done:
				c.Close()
				return
			}
		case <-t.done:
			return
		}
	}
}

// Shutdown stops the forwarder only after the listeners: memberlist keeps
// reading streams until its transport is down, and a listener blocked on
// handing one over would otherwise never return.
func (t *countingTransport) Shutdown() error {
	err := t.NetTransport.Shutdown()
	t.stop.Do(func() { close(t.done) })
	return err
}

type countingConn struct {
	net.Conn
	n *atomic.Uint64
}

func (c countingConn) Write(b []byte) (int, error) {
	k, err := c.Conn.Write(b)
	c.n.Add(uint64(k))
	return k, err
}
