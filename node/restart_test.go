package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/store"
)

// udpCluster starts n nodes on loopback with real sockets; node 0 is the seed.
func udpCluster(t *testing.T, n int, dirs []string) []*Node {
	t.Helper()
	var nodes []*Node
	for i := 0; i < n; i++ {
		cfg := fastConfig(fmt.Sprintf("u%d", i))
		cfg.Port = 0
		if i > 0 {
			cfg.Seeds = []string{nodes[0].Addr()}
		}
		if dirs != nil {
			cfg.InMemory, cfg.DataDir = false, dirs[i]
		}
		nodes = append(nodes, startNode(t, cfg))
	}
	return nodes
}

func TestUDPClusterConverges(t *testing.T) {
	nodes := udpCluster(t, 4, nil)
	v, err := nodes[2].Set(context.Background(), "greeting", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error { return converged(nodes, "u2", "greeting", v) })
	// A value too large for one datagram travels on the stream path.
	big := make([]byte, 200<<10)
	for i := range big {
		big[i] = byte(i)
	}
	v, err = nodes[3].Set(context.Background(), "big", big)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error { return converged(nodes, "u3", "big", v) })
	if got, _ := nodes[0].Get(context.Background(), "u3", "big"); string(got.Value) != string(big) {
		t.Fatal("big value corrupted in transit")
	}
}

func TestIPv6Cluster(t *testing.T) {
	if ln, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
		t.Skip("no IPv6 loopback:", err)
	} else {
		ln.Close()
	}
	var nodes []*Node
	for i := 0; i < 2; i++ {
		cfg := fastConfig(fmt.Sprintf("v6-%d", i))
		cfg.Addr, cfg.Port = "::1", 0
		if i > 0 {
			cfg.Seeds = []string{nodes[0].Addr()}
		}
		nodes = append(nodes, startNode(t, cfg))
	}
	v, err := nodes[1].Set(context.Background(), "k", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error { return converged(nodes, "v6-1", "k", v) })
}

// TestStoppedPeerSuspendedThenRecovers: a stopped peer is suspended by the
// others; restarted on the same data dir it is recovered, its keys intact,
// and its new writes carry higher versions that win everywhere.
func TestStoppedPeerSuspendedThenRecovers(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	nodes := udpCluster(t, 3, dirs)
	sub := nodes[0].Subscribe(256)
	v1, err := nodes[2].Set(context.Background(), "k", []byte("before"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error { return converged(nodes, "u2", "k", v1) })
	eventually(t, 10*time.Second, func() error {
		if len(nodes[0].LivePeers()) != 2 {
			return fmt.Errorf("u0 sees %v", nodes[0].Peers())
		}
		return nil
	})

	addr := nodes[2].Addr()
	nodes[2].cfg.SkipLeave = true // a crash, not a leave
	if err := nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, sub, EventSuspend, "u2")

	_, port, _ := net.SplitHostPort(addr)
	cfg := fastConfig("u2")
	cfg.InMemory, cfg.DataDir = false, dirs[2]
	cfg.Port, _ = strconv.Atoi(port)
	cfg.Seeds = []string{nodes[0].Addr()}
	back := startNode(t, cfg)
	if got, err := back.Get(context.Background(), "", "k"); err != nil || string(got.Value) != "before" {
		t.Fatalf("restarted node lost its key: %q %v", got.Value, err)
	}
	waitEvent(t, sub, EventRecover, "u2")
	v2, err := back.Set(context.Background(), "k", []byte("after"))
	if err != nil {
		t.Fatal(err)
	}
	if v2 <= v1 {
		t.Fatalf("version went from %d to %d across a restart", v1, v2)
	}
	nodes[2] = back
	eventually(t, 10*time.Second, func() error { return converged(nodes, "u2", "k", v2) })
	if got, _ := nodes[1].Get(context.Background(), "u2", "k"); string(got.Value) != "after" {
		t.Fatalf("u1 sees %q", got.Value)
	}
	sub.Close()
}

func waitEvent(t *testing.T, sub *Subscription, typ EventType, peer string) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev, ok := <-sub.C:
			if !ok {
				t.Fatal("subscription closed")
			}
			if ev.Type != typ {
				continue
			}
			for _, p := range ev.Peers {
				if p == peer {
					return
				}
			}
		case <-timeout:
			t.Fatalf("no %s event for %s", typ, peer)
		}
	}
}

func TestPortInUse(t *testing.T) {
	first := startNode(t, fastConfig("first"))
	_, port, _ := net.SplitHostPort(first.Addr())
	cfg := fastConfig("second")
	cfg.Port, _ = strconv.Atoi(port)
	_, err := New(cfg)
	if err == nil || !strings.Contains(err.Error(), port) {
		t.Fatalf("second node on port %s: %v", port, err)
	}
}

func TestUnusableDataDir(t *testing.T) {
	cfg := fastConfig("x")
	cfg.InMemory = false
	cfg.DataDir = "/proc/leviathan-cannot-be-here"
	_, err := New(cfg)
	if err == nil || !strings.Contains(err.Error(), cfg.DataDir) {
		t.Fatalf("unusable data dir: %v", err)
	}
}

// TestDataDirOfAnotherNode: a data_dir holding another node's data is
// refused with ErrIDMismatch, the store's own error under node's name.
func TestDataDirOfAnotherNode(t *testing.T) {
	dir := t.TempDir()
	cfg := fastConfig("first")
	cfg.InMemory, cfg.DataDir = false, dir
	first, err := New(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.Alias = "second"
	if n, err := New(cfg, WithLogger(testLogger(t))); !errors.Is(err, ErrIDMismatch) || !errors.Is(err, store.ErrIDMismatch) {
		if n != nil {
			n.Close()
		}
		t.Fatalf("second node on first's data_dir: %v, want ErrIDMismatch", err)
	}
}

// TestLeaveIsNotSuspicion: a node closed gracefully is marked left at once
// (no suspicion, no death), and recovers when it comes back.
func TestLeaveIsNotSuspicion(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	nodes := udpCluster(t, 2, dirs)
	sub := nodes[0].Subscribe(256)
	defer sub.Close()
	eventually(t, 10*time.Second, func() error {
		if len(nodes[0].LivePeers()) != 1 {
			return fmt.Errorf("u0 sees %v", nodes[0].Peers())
		}
		return nil
	})
	_, port, _ := net.SplitHostPort(nodes[1].Addr())
	if err := nodes[1].Close(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, sub, EventLeave, "u1")
	if p := nodes[0].Peers(); len(p) != 1 || p[0].State != StateLeft {
		t.Fatalf("peers after leave: %+v", p)
	}
	cfg := fastConfig("u1")
	cfg.InMemory, cfg.DataDir = false, dirs[1]
	cfg.Port, _ = strconv.Atoi(port)
	cfg.Seeds = []string{nodes[0].Addr()}
	startNode(t, cfg)
	for {
		select {
		case ev := <-sub.C:
			switch ev.Type {
			case EventSuspend, EventDead:
				t.Fatalf("left peer reported %s", ev.Type)
			case EventRecover:
				return
			}
		case <-time.After(15 * time.Second):
			t.Fatal("no recovery after the left node came back")
		}
	}
}

// TestWipedNodeRejoins: a node whose data dir was wiped comes back with
// the same id and a new generation; peers drop its old keys and take its
// new writes although its versions start again from 1.
func TestWipedNodeRejoins(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	nodes := udpCluster(t, 2, dirs)
	v, _ := nodes[1].Set(context.Background(), "old", []byte("1"))
	nodes[1].Set(context.Background(), "shared", []byte("old"))
	eventually(t, 10*time.Second, func() error { return converged(nodes, "u1", "old", v) })
	gen := nodes[1].Status().Generation
	if err := nodes[1].Close(); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig("u1")
	cfg.InMemory, cfg.DataDir = false, t.TempDir() // wiped
	cfg.Port = 0
	cfg.Seeds = []string{nodes[0].Addr()}
	eventually(t, 5*time.Second, func() error { // generations are milliseconds
		if uint64(time.Now().UnixMilli()) <= gen {
			return fmt.Errorf("clock has not passed generation %d", gen)
		}
		return nil
	})
	back := startNode(t, cfg)
	v2, err := back.Set(context.Background(), "shared", []byte("new"))
	if err != nil || v2 != 1 {
		t.Fatalf("first write after wipe: version %d, %v", v2, err)
	}
	eventually(t, 10*time.Second, func() error {
		if got, _ := nodes[0].Get(context.Background(), "u1", "shared"); string(got.Value) != "new" {
			return fmt.Errorf("u0 sees u1/shared = %q", got.Value)
		}
		if _, err := nodes[0].Get(context.Background(), "u1", "old"); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("u0 still has u1/old from the wiped generation")
		}
		return nil
	})
}
