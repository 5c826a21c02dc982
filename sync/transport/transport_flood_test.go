package transport

import (
	"bufio"
	"errors"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rssKB reads VmRSS of this process (0 where /proc is unavailable).
func rssKB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			v, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return v
		}
	}
	return 0
}

// TestFloodOfMaxSizeMessagesBounded: eight peers each send sixteen
// maximum-size (4 MiB) stream messages, 512 MiB in all, to a node that does
// not read its Recv channel. The sender queues accept at most
// DefaultSendQueueBytes per destination and the receiver holds at most
// DefaultRecvQueueBytes (64 MiB) of messages; the rest is dropped and
// counted; bounded by its packet count alone, the receive queue would
// hold all 512 MiB (docs/benchmarks.md, "Why the code is built this
// way"). The live heap must stay under 128 MiB and the RSS grow by less
// than 256 MiB; under -race, whose shadow memory triples RSS, only the
// heap is checked.
func TestFloodOfMaxSizeMessagesBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("moves half a gigabyte over loopback")
	}
	const senders, each = 8, 16
	debug.FreeOSMemory()
	rss0 := rssKB()
	rx := trListenNet(t, NetConfig{})
	msg := trRandBytes(DefaultMaxMessageSize, 1) // shared: Send never modifies it
	accepted := 0
	var txs []*NetTransport
	for i := 0; i < senders; i++ {
		tx := trListenNet(t, NetConfig{})
		txs = append(txs, tx)
		for j := 0; j < each; j++ {
			switch err := tx.Send(rx.Addr(), msg); {
			case err == nil:
				accepted++
			case errors.Is(err, ErrQueueFull):
			default:
				t.Fatal(err)
			}
		}
	}
	// Every accepted message was either read by rx or lost by its sender.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var failed uint64
		for _, tx := range txs {
			failed += tx.Stats().SendFailed
		}
		if rx.Stats().TCPMsgsRecv+failed >= uint64(accepted) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("flood not over: %d of %d accepted messages read, %d failed", rx.Stats().TCPMsgsRecv, accepted, failed)
		}
		time.Sleep(20 * time.Millisecond)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := rx.Stats()
	grew := (rssKB() - rss0) / 1024
	t.Logf("accepted %d of %d sends; rx read %d, queued %d, dropped %d; heap in use %d MiB, RSS grew %.0f MiB",
		accepted, senders*each, st.TCPMsgsRecv, len(rx.Recv()), st.RecvDropped, ms.HeapInuse>>20, grew)
	if ms.HeapInuse > 128<<20 {
		t.Fatalf("heap in use %d MiB after the flood, want < 128 MiB", ms.HeapInuse>>20)
	}
	if grew > 256 && !raceEnabled {
		t.Fatalf("RSS grew by %.0f MiB, want < 256 MiB", grew)
	}
	if st.RecvDropped == 0 {
		t.Fatal("nothing was dropped: the flood did not exceed the receive bound, the test proves nothing")
	}
	queued := 0
	for len(rx.Recv()) > 0 {
		queued += len((<-rx.Recv()).Data)
	}
	if queued > DefaultRecvQueueBytes {
		t.Fatalf("%d bytes were queued, above the %d bound", queued, DefaultRecvQueueBytes)
	}
}

// TestRecvQueueBytes: what waits in Recv is bounded in bytes, and what the
// consumer takes frees its share of the bound.
func TestRecvQueueBytes(t *testing.T) {
	tr := trListenNet(t, NetConfig{PacketSize: 1400, MaxMessageSize: 4000, RecvQueueBytes: 10000})
	put := func() bool { return tr.deliver(Packet{From: "x", Data: make([]byte, 4000)}) }
	for i, want := range []bool{true, true, false} {
		if got := put(); got != want {
			t.Fatalf("put %d: accepted %v, want %v", i, got, want)
		}
	}
	<-tr.Recv()
	if !put() {
		t.Fatal("a taken packet did not free its bytes")
	}
	if put() {
		t.Fatal("accepted beyond the bound")
	}
	if st := tr.Stats(); st.RecvDropped != 2 {
		t.Fatalf("RecvDropped %d, want 2", st.RecvDropped)
	}
}

// TestSendQueueBytes: a destination gets at most SendQueueBytes queued and
// all of them together at most SendTotalBytes, whatever the message count
// bound; the rest is refused with ErrQueueFull, and what is written frees
// its share. (The queues are filled directly, with no sender draining them,
// so the counts are exact.)
func TestSendQueueBytes(t *testing.T) {
	tr := trListenNet(t, NetConfig{PacketSize: 512, MaxMessageSize: 64 << 10, SendQueueBytes: 256 << 10, SendTotalBytes: 384 << 10})
	msg := make([]byte, 64<<10)
	fill := func(s *streamSender) (accepted int) {
		for i := 0; i < 20; i++ {
			if err := tr.enqueue(s, msg); err == nil {
				accepted++
			} else if !errors.Is(err, ErrQueueFull) {
				t.Fatal(err)
			}
		}
		return accepted
	}
	a := &streamSender{dest: "a", q: make(chan []byte, 64)}
	b := &streamSender{dest: "b", q: make(chan []byte, 64)}
	if n := fill(a); n != 4 {
		t.Fatalf("%d messages of 64 KiB queued for one destination, want 4 (256 KiB)", n)
	}
	if n := fill(b); n != 2 {
		t.Fatalf("%d queued for a second destination, want 2 (384 KiB in all)", n)
	}
	tr.release(a, int64(len(<-a.q))) // as runSender does once written
	if n := fill(a); n != 1 {
		t.Fatalf("%d queued after one was written, want 1", n)
	}
	if st := tr.Stats(); st.SendDropped != 20*3-7 {
		t.Fatalf("SendDropped %d, want %d", st.SendDropped, 20*3-7)
	}
}
