package node

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestWaitContactLoopback: two real nodes on loopback, joined by Join or by
// a configured seed; WaitContact returns on both once each holds the other
// alive, and Contacted is closed by then, not before.
func TestWaitContactLoopback(t *testing.T) {
	for _, tc := range []struct {
		name string
		join bool // through Join; else through cfg.Seeds
	}{{"join", true}, {"configured seed", false}} {
		t.Run(tc.name, func(t *testing.T) {
			a := startNode(t, fastConfig("a"))
			cfg := fastConfig("b")
			if !tc.join {
				cfg.Seeds = []string{a.Addr()}
			}
			b := startNode(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if tc.join {
				select {
				case <-b.Contacted():
					t.Fatal("b contacted before it had a seed")
				default:
				}
				if err := b.Join(ctx, a.Addr()); err != nil {
					t.Fatal(err)
				}
			}
			for _, n := range []*Node{a, b} {
				if err := n.WaitContact(ctx); err != nil {
					t.Fatalf("%s: %v", n.ID(), err)
				}
				select {
				case <-n.Contacted():
				default:
					t.Fatalf("%s: WaitContact returned, Contacted still open", n.ID())
				}
			}
			// Each holds the other alive: contact means a live peer, not a
			// packet.
			for _, pair := range [][2]*Node{{a, b}, {b, a}} {
				if p, _ := peerOf(pair[0], pair[1].ID()); p.State != StateAlive {
					t.Errorf("%s holds %s %q after contact", pair[0].ID(), pair[1].ID(), p.State)
				}
			}
		})
	}
}

// TestWaitContactSilentSeed: a seed that takes datagrams and never answers;
// WaitContact returns the context's error at its deadline, and leaves no
// goroutine behind.
func TestWaitContactSilentSeed(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	n := startNode(t, fastConfig("alone"))
	if err := n.Join(context.Background(), silent.LocalAddr().String()); err != nil {
		t.Fatal(err)
	}
	before := goleak.IgnoreCurrent()
	const wait = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	start := time.Now()
	err = n.WaitContact(ctx)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitContact: %v, want context.DeadlineExceeded", err)
	}
	if took < wait || took > wait+2*time.Second {
		t.Errorf("WaitContact returned after %v, want about %v", took, wait)
	}
	goleak.VerifyNone(t, before)
	// The seed stays a seed: contacted every round, not given up.
	if !containsSeed(n, silent.LocalAddr().String()) {
		t.Errorf("silent seed dropped: %v", n.eng.Seeds())
	}
}

func containsSeed(n *Node, addr string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Contains(n.eng.Seeds(), addr)
}

// TestWaitContactEnds: without contact, WaitContact ends with ErrClosed
// when the node is closed (before the call or during it), and with ErrLeft
// after Leave; Join then returns ErrClosed or ErrLeft too.
func TestWaitContactEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		end  func(*Node) error
		want error
	}{
		{"closed", (*Node).Close, ErrClosed},
		{"left", (*Node).Leave, ErrLeft},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, fastConfig("alone"))
			done := make(chan error, 1)
			go func() { done <- n.WaitContact(ctx) }()
			if err := tc.end(n); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if !errors.Is(err, tc.want) {
					t.Errorf("waiting WaitContact: %v, want %v", err, tc.want)
				}
			case <-ctx.Done():
				t.Fatal("WaitContact still waiting after the node ended")
			}
			if err := n.WaitContact(ctx); !errors.Is(err, tc.want) {
				t.Errorf("WaitContact after: %v, want %v", err, tc.want)
			}
			if err := n.Join(ctx, "127.0.0.1:9"); !errors.Is(err, tc.want) {
				t.Errorf("Join after: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestJoinContext: a Join whose context has ended adds nothing, and one
// whose seed name takes too long to resolve returns when its context ends.
func TestJoinContext(t *testing.T) {
	stuck := func(ctx context.Context, host string) ([]netip.Addr, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	n := startNode(t, fastConfig("a"), WithResolver(stuck))

	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Join(done, "127.0.0.1:9"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Join with a canceled context: %v, want context.Canceled", err)
	}
	if containsSeed(n, "127.0.0.1:9") {
		t.Fatal("Join with a canceled context added its seed")
	}

	const wait = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	start := time.Now()
	err := n.Join(ctx, "seed.example:7946", "127.0.0.1:9")
	if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > wait+2*time.Second {
		t.Fatalf("Join with a stuck resolver: %v after %v, want context.DeadlineExceeded after %v", err, took, wait)
	}
	if !containsSeed(n, "127.0.0.1:9") {
		t.Error("the seed that needed no lookup was not added")
	}
}
