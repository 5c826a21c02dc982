package node

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/transport"
	"github.com/leviathan-gossip/leviathan/sync/wire"
)

// laggard plays a peer on the in-memory network that gossips (so it is
// alive) but never takes any of target's records: every Syn it sends
// claims to hold none. It stops with the test.
func laggard(t *testing.T, net *transport.MemNetwork, target *Node) {
	t.Helper()
	tr, err := net.Listen("mem-9:1", 1400, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	gen := target.Status().Generation
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for hb := uint64(1); ; hb++ {
			select {
			case <-stop:
				return
			case <-tr.Recv(): // read and dropped
				continue
			case <-tick.C:
			}
			b, err := wire.Encode(&lsync.Syn{Cluster: "test", From: "laggard", Complete: true, Digest: []lsync.DigestEntry{
				{ID: "laggard", Addr: "mem-9:1", Generation: 1, Heartbeat: 1<<32 + hb},
				{ID: target.ID(), Addr: target.Addr(), Generation: gen},
			}})
			if err != nil {
				panic(err)
			}
			_ = tr.Send(target.Addr(), b)
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		tr.Close()
	})
}

// throttledNode is a node with max_write_lag 10 whose only peer lacks all
// of its records, written until flow control limits it, and then written
// into debt by a SetMany larger than its burst: every write after waits.
func throttledNode(t *testing.T) *Node {
	t.Helper()
	net := transport.NewMemNetwork(1)
	tr, err := net.Listen("mem-0:1", 1400, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig("a")
	cfg.MaxWriteLag = 10
	cfg.Monitors = -1 // the laggard answers no beats: judge it by its Syns' heartbeats
	n := startNode(t, cfg, WithTransport(tr), WithRandSeed(1))
	laggard(t, net, n)
	eventually(t, 10*time.Second, func() error {
		if live := len(n.LivePeers()); live != 1 {
			return fmt.Errorf("%d live peers", live)
		}
		return nil
	})
	kvs := make([]KV, 100)
	for i := range kvs {
		kvs[i] = KV{Key: fmt.Sprint("k", i), Value: []byte("v")}
	}
	if _, err := n.SetMany(context.Background(), kvs); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if st := n.Status().Stats; st.WriteRateLimit == 0 || st.WriteLag < 100 {
			return fmt.Errorf("not limited: lag %d, limit %v", st.WriteLag, st.WriteRateLimit)
		}
		return nil
	})
	kvs = make([]KV, setManyChunk)
	for i := range kvs {
		kvs[i] = KV{Key: fmt.Sprint("bulk", i), Value: []byte("v")}
	}
	if _, err := n.SetMany(context.Background(), kvs); err != nil {
		t.Fatal(err)
	}
	return n
}

// A write held back by flow control returns its context's error when the
// context ends first, and is not written; Close ends the wait too. No
// goroutine is left waiting (TestMain's goleak).
func TestWriteWaitingForAdmissionHonoursItsContext(t *testing.T) {
	n := throttledNode(t)
	before := n.Status()
	for _, c := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := c.ctx()
			defer cancel()
			delayed := n.Status().Stats.WritesDelayed
			_, err := n.Set(ctx, "late-"+c.name, []byte("v"))
			if !errors.Is(err, c.want) {
				t.Fatalf("Set = %v, want %v", err, c.want)
			}
			if _, err := n.Get(context.Background(), "", "late-"+c.name); !errors.Is(err, ErrNotFound) {
				t.Fatalf("the write that gave up was written: %v", err)
			}
			if got := n.Status().Stats.WritesDelayed; got != delayed+1 {
				t.Fatalf("writes delayed %d, want %d", got, delayed+1)
			}
		})
	}
	if st := n.Status(); st.MaxVersion != before.MaxVersion {
		t.Fatalf("max version %d, was %d: a write that gave up took a version", st.MaxVersion, before.MaxVersion)
	}
	fams, err := n.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"leviathan_write_rate_limit", "leviathan_writes_delayed_total", "leviathan_write_lag_records"} {
		if v, ok := sample(fams, name, nil); !ok || v <= 0 {
			t.Errorf("%s = %v (found %v), want > 0", name, v, ok)
		}
	}

	errc := make(chan error, 1)
	go func() {
		_, err := n.Delete(context.Background(), "k1")
		errc <- err
	}()
	eventually(t, 10*time.Second, func() error {
		if n.Status().Stats.WritesDelayed < 3 {
			return errors.New("the delete is not waiting yet")
		}
		return nil
	})
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("a write waiting when the node closed: %v, want ErrClosed", err)
	}
}

// With flow control off, the same node is never held back.
func TestFlowControlOff(t *testing.T) {
	net := transport.NewMemNetwork(1)
	tr, err := net.Listen("mem-0:1", 1400, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig("a")
	cfg.MaxWriteLag = -1
	cfg.Monitors = -1
	n := startNode(t, cfg, WithTransport(tr), WithRandSeed(1))
	laggard(t, net, n)
	for i := 0; i < 10; i++ {
		kvs := make([]KV, 100)
		for j := range kvs {
			kvs[j] = KV{Key: fmt.Sprint("k", i, "-", j), Value: []byte("v")}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := n.SetMany(ctx, kvs)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		// A few rounds between the writes, for the controller to act on.
		rounds := n.Status().Stats.Rounds
		eventually(t, 10*time.Second, func() error {
			if r := n.Status().Stats.Rounds; r < rounds+3 {
				return fmt.Errorf("%d rounds", r-rounds)
			}
			return nil
		})
	}
	if st := n.Status().Stats; st.WritesDelayed != 0 || st.WriteRateLimit != 0 || st.WriteLag == 0 {
		t.Fatalf("flow control off: %+v", st)
	}
}
