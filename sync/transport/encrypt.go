package transport

import (
	gosync "sync"
	"sync/atomic"
)

// EncryptStats are cumulative counters of an Encrypted transport.
type EncryptStats struct {
	Sealed     uint64 // messages sealed and handed to the inner transport
	Opened     uint64 // messages that authenticated and were delivered
	NotSealed  uint64 // dropped: too short or not a sealed envelope (e.g. plaintext)
	AuthFailed uint64 // dropped: no installed key authenticates them (forged, tampered, wrong key or sender)
}

// Rejected is the number of incoming messages dropped unopened.
func (s EncryptStats) Rejected() uint64 { return s.NotSealed + s.AuthFailed }

// Encrypted is a Transport decorator that seals every outgoing message with
// a Keyring's primary key (AES-GCM) and delivers only incoming messages that
// one of its keys authenticates; anything else is dropped and counted.
//
// The sender's advertised address (Addr, which is also the Packet.From a
// receiver sees: a datagram's source address, or a stream's hello) is
// authenticated as additional data. A captured message replayed from any
// other address therefore fails to open, so it cannot be used to reflect
// replies at a third party; replayed from its true sender it is harmless,
// since the protocol is idempotent (versions and watermarks).
type Encrypted struct {
	inner Transport
	kr    *Keyring
	out   chan Packet
	done  chan struct{}
	wg    gosync.WaitGroup
	once  gosync.Once

	sealed, opened, notSealed, authFailed atomic.Uint64
	onReject                              atomic.Pointer[func(from string, err error)]
}

// Encrypt wraps inner so that every message it carries is sealed with kr.
// The Encrypted transport owns inner and closes it on Close. Its PacketSize
// and MaxMessageSize are inner's minus SealOverhead, so a protocol core that
// fills messages to them still produces envelopes inner accepts.
func Encrypt(inner Transport, kr *Keyring) *Encrypted {
	e := &Encrypted{inner: inner, kr: kr, out: make(chan Packet, 64), done: make(chan struct{})}
	e.wg.Add(1)
	go e.run()
	return e
}

func (e *Encrypted) run() {
	defer e.wg.Done()
	defer close(e.out)
	for p := range e.inner.Recv() {
		pt, err := e.kr.Open(p.Data, p.From)
		switch err {
		case nil:
		case ErrNotSealed:
			e.notSealed.Add(1)
		default:
			e.authFailed.Add(1)
		}
		if err != nil {
			if fn := e.onReject.Load(); fn != nil {
				(*fn)(p.From, err)
			}
			continue
		}
		e.opened.Add(1)
		select {
		case e.out <- Packet{From: p.From, Data: pt}:
		case <-e.done:
			// Closing: keep draining inner until it closes its channel.
		}
	}
}

// Addr implements Transport.
func (e *Encrypted) Addr() string { return e.inner.Addr() }

// PacketSize implements Transport: the inner size minus the envelope.
func (e *Encrypted) PacketSize() int { return e.inner.PacketSize() - SealOverhead }

// MaxMessageSize implements Transport: the inner size minus the envelope.
func (e *Encrypted) MaxMessageSize() int { return e.inner.MaxMessageSize() - SealOverhead }

// Recv implements Transport; it yields authenticated plaintexts only.
func (e *Encrypted) Recv() <-chan Packet { return e.out }

// Send implements Transport: it seals b with the primary key and sends the
// envelope. The size checks apply to b, against this transport's sizes.
func (e *Encrypted) Send(addr string, b []byte) error {
	switch {
	case len(b) == 0:
		return errEmpty
	case len(b) > e.MaxMessageSize():
		return ErrTooLarge
	}
	sealed := e.kr.Seal(b, e.inner.Addr())
	if err := e.inner.Send(addr, sealed); err != nil {
		return err
	}
	e.sealed.Add(1)
	return nil
}

// Close implements Transport: it closes inner and waits for the decrypting
// goroutine to exit, then closes Recv.
func (e *Encrypted) Close() error {
	var err error
	e.once.Do(func() {
		close(e.done)
		err = e.inner.Close()
		e.wg.Wait()
	})
	return err
}

// OnReject makes fn be called, from the receiving goroutine, with the
// sender and the reason of every message dropped unopened (ErrNotSealed or
// ErrAuth); fn must be quick. A nil fn removes the hook.
func (e *Encrypted) OnReject(fn func(from string, err error)) {
	if fn == nil {
		e.onReject.Store(nil)
		return
	}
	e.onReject.Store(&fn)
}

// Keyring returns the keyring, for rotation at runtime.
func (e *Encrypted) Keyring() *Keyring { return e.kr }

// Unwrap returns the inner transport (for its own counters).
func (e *Encrypted) Unwrap() Transport { return e.inner }

// Stats returns a snapshot of the counters.
func (e *Encrypted) Stats() EncryptStats {
	return EncryptStats{
		Sealed:     e.sealed.Load(),
		Opened:     e.opened.Load(),
		NotSealed:  e.notSealed.Load(),
		AuthFailed: e.authFailed.Load(),
	}
}
