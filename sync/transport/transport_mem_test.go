package transport

import (
	"errors"
	"fmt"
	gosync "sync"
	"testing"
	"time"
)

func trMemListen(tb testing.TB, n *MemNetwork, addr string) *MemTransport {
	tb.Helper()
	tr, err := n.Listen(addr, 0, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tr.Close() })
	return tr
}

// trMemNow returns what is in tr's Recv channel right now: with synchronous
// delivery that is everything sent so far.
func trMemNow(tr *MemTransport) []Packet {
	var ps []Packet
	for {
		select {
		case p := <-tr.Recv():
			ps = append(ps, p)
		default:
			return ps
		}
	}
}

func TestMemDelivery(t *testing.T) {
	t.Parallel()
	n := NewMemNetwork(1)
	a := trMemListen(t, n, "")
	b := trMemListen(t, n, "")
	if a.Addr() == b.Addr() || a.Addr() == "" {
		t.Fatalf("addresses %q, %q", a.Addr(), b.Addr())
	}
	if _, err := n.Listen(a.Addr(), 0, 0); err == nil {
		t.Fatal("duplicate address accepted")
	}
	c := trMemListen(t, n, "10.0.0.1:7001")

	msg := []byte("hello")
	for _, to := range []*MemTransport{b, c, a} {
		if err := a.Send(to.Addr(), msg); err != nil {
			t.Fatal(err)
		}
		ps := trMemNow(to)
		if len(ps) != 1 || ps[0].From != a.Addr() || string(ps[0].Data) != "hello" {
			t.Fatalf("to %s: %+v", to.Addr(), ps)
		}
		ps[0].Data[0] = 'j' // the receiver owns its copy
	}
	if string(msg) != "hello" {
		t.Fatal("Send did not copy")
	}
	if err := a.Send("nowhere:1", msg); err != nil {
		t.Fatalf("Send to an unknown address: %v", err)
	}
	if got, want := n.Stats(), (MemStats{Sent: 4, Delivered: 3, Dropped: 1}); got != want {
		t.Fatalf("stats %+v, want %+v", got, want)
	}
}

func TestMemSizeLimits(t *testing.T) {
	t.Parallel()
	n := NewMemNetwork(1)
	a, err := n.Listen("", 100, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.PacketSize() != 100 || a.MaxMessageSize() != 1000 {
		t.Fatalf("sizes %d, %d", a.PacketSize(), a.MaxMessageSize())
	}
	if err := a.Send(a.Addr(), make([]byte, 1001)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	if err := a.Send(a.Addr(), nil); err == nil {
		t.Fatal("empty message accepted")
	}
	if err := a.Send(a.Addr(), make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if ps := trMemNow(a); len(ps) != 1 || len(ps[0].Data) != 1000 {
		t.Fatalf("got %d packets", len(ps))
	}
	if _, err := n.Listen("", 100, 99); err == nil {
		t.Fatal("max message size below packet size accepted")
	}
}

func TestMemDropAndDuplicate(t *testing.T) {
	t.Parallel()
	n := NewMemNetwork(1)
	a := trMemListen(t, n, "")
	b := trMemListen(t, n, "")

	n.SetDrop(1)
	for range 100 {
		if err := a.Send(b.Addr(), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if ps := trMemNow(b); len(ps) != 0 {
		t.Fatalf("drop=1 delivered %d", len(ps))
	}
	if st := n.Stats(); st.Dropped != 100 || st.Sent != 100 {
		t.Fatalf("stats %+v", st)
	}

	n.SetDrop(0)
	n.SetDuplicate(1)
	if err := a.Send(b.Addr(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	ps := trMemNow(b)
	if len(ps) != 2 {
		t.Fatalf("duplicate=1 delivered %d", len(ps))
	}
	ps[0].Data[0] = 'y'
	if string(ps[1].Data) != "x" {
		t.Fatal("duplicates share their data")
	}
	if st := n.Stats(); st.Duplicated != 1 || st.Delivered != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMemDropIsSeeded(t *testing.T) {
	t.Parallel()
	run := func() []int {
		n := NewMemNetwork(42)
		a := trMemListen(t, n, "a:1")
		n.SetDrop(0.5)
		var got []int
		for i := range 200 {
			a.Send(a.Addr(), []byte{byte(i)})
			if len(trMemNow(a)) == 1 {
				got = append(got, i)
			}
		}
		return got
	}
	x, y := run(), run()
	if fmt.Sprint(x) != fmt.Sprint(y) {
		t.Fatal("same seed, different losses")
	}
	if len(x) < 60 || len(x) > 140 {
		t.Fatalf("drop=0.5 delivered %d of 200", len(x))
	}
}

func TestMemPartition(t *testing.T) {
	t.Parallel()
	n := NewMemNetwork(1)
	a := trMemListen(t, n, "a:1")
	b := trMemListen(t, n, "b:1")
	c := trMemListen(t, n, "c:1")
	d := trMemListen(t, n, "d:1")
	all := []*MemTransport{a, b, c, d}

	// reach reports which ordered pairs can talk, as "ab ac ...".
	reach := func() string {
		s := ""
		for _, x := range all {
			for _, y := range all {
				if x == y {
					continue
				}
				if err := x.Send(y.Addr(), []byte("m")); err != nil {
					t.Fatal(err)
				}
				if len(trMemNow(y)) > 0 {
					s += x.Addr()[:1] + y.Addr()[:1] + " "
				}
			}
		}
		return s
	}
	const full = "ab ac ad ba bc bd ca cb cd da db dc "
	if got := reach(); got != full {
		t.Fatalf("before partition: %s", got)
	}
	n.Partition([]string{"a:1", "b:1"}, []string{"c:1"})
	if got, want := reach(), "ab ba "; got != want { // d is alone in the implicit group
		t.Fatalf("partitioned: %q, want %q", got, want)
	}
	n.Partition([]string{"a:1"})
	if got, want := reach(), "bc bd cb cd db dc "; got != want {
		t.Fatalf("a isolated: %q, want %q", got, want)
	}
	n.Heal()
	if got := reach(); got != full {
		t.Fatalf("healed: %s", got)
	}

	n.Block("a:1", "b:1")
	if got, want := reach(), "ac ad ba bc bd ca cb cd da db dc "; got != want {
		t.Fatalf("blocked: %q, want %q", got, want)
	}
	n.Unblock("a:1", "b:1")
	if got := reach(); got != full {
		t.Fatalf("unblocked: %s", got)
	}
	n.Block("a:1", "b:1")
	n.Heal()
	if got := reach(); got != full {
		t.Fatalf("heal after block: %s", got)
	}
}

func TestMemDelay(t *testing.T) {
	t.Parallel()
	n := NewMemNetwork(1)
	a := trMemListen(t, n, "")
	b := trMemListen(t, n, "")
	n.SetDelay(20*time.Millisecond, 50*time.Millisecond)
	start := time.Now()
	const k = 20
	for i := range k {
		if err := a.Send(b.Addr(), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if ps := trMemNow(b); len(ps) != 0 {
		t.Fatalf("%d packets delivered without delay", len(ps))
	}
	seen := make(map[byte]bool)
	for range k {
		p := trRecv(t, b)
		seen[p.Data[0]] = true
	}
	if len(seen) != k {
		t.Fatalf("got %d distinct packets", len(seen))
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("delivered after %v", d)
	}
}

func TestMemClose(t *testing.T) {
	t.Parallel()
	n := NewMemNetwork(1)
	a := trMemListen(t, n, "a:1")
	b, err := n.Listen("b:1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	n.SetDelay(time.Hour, time.Hour)
	for range 10 {
		if err := a.Send(b.Addr(), []byte("late")); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-b.Recv(); ok {
		t.Fatal("packet after Close")
	}
	if err := b.Send(a.Addr(), []byte("x")); !errors.Is(err, ErrTransportClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	if st := n.Stats(); st.Dropped != 10 || st.Delivered != 0 {
		t.Fatalf("stats %+v", st)
	}
	// The address is free again, and the new listener sees none of the old
	// pending messages.
	b2 := trMemListen(t, n, "b:1")
	n.SetDelay(0, 0)
	if err := a.Send("b:1", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if ps := trMemNow(b2); len(ps) != 1 || string(ps[0].Data) != "new" {
		t.Fatalf("after reuse: %+v", ps)
	}
}

// TestMemCloseRace closes transports while short delayed deliveries fire, so
// that the race detector and a send on a closed channel would show.
func TestMemCloseRace(t *testing.T) {
	t.Parallel()
	n := NewMemNetwork(1)
	n.SetDelay(0, time.Millisecond)
	n.SetDuplicate(0.3)
	for round := range 20 {
		a := trMemListen(t, n, "")
		b, err := n.Listen("", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var wg gosync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 200 {
					if err := a.Send(b.Addr(), []byte{byte(i)}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		if round%2 == 0 {
			wg.Wait()
		}
		b.Close()
		wg.Wait()
		a.Close()
	}
	st := n.Stats()
	if st.Sent+st.Duplicated != st.Delivered+st.Dropped {
		t.Fatalf("unaccounted messages: %+v", st)
	}
}

func TestMemRecvFull(t *testing.T) {
	t.Parallel()
	n := NewMemNetwork(1)
	a := trMemListen(t, n, "")
	for range memRecvQueue + 5 {
		if err := a.Send(a.Addr(), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if st := n.Stats(); st.Delivered != memRecvQueue || st.Dropped != 5 {
		t.Fatalf("stats %+v", st)
	}
}
