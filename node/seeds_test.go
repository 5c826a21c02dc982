package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// scriptedDNS is a Resolver whose answer for one name the test changes
// while the node runs; any other name fails.
type scriptedDNS struct {
	mu      gosync.Mutex
	name    string
	answer  []netip.Addr
	err     error
	lookups int
}

func (d *scriptedDNS) set(err error, ips ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.answer, d.err = nil, err
	for _, ip := range ips {
		d.answer = append(d.answer, netip.MustParseAddr(ip))
	}
}

func (d *scriptedDNS) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if host != d.name {
		return nil, fmt.Errorf("lookup %s: no such host", host)
	}
	d.lookups++
	return slices.Clone(d.answer), d.err
}

// TestSeedThatDoesNotResolveIsRetried: a seed whose name does not resolve
// at start-up (DNS down) is logged and retried, and the node joins
// through it once it resolves, instead of failing to start.
func TestSeedThatDoesNotResolveIsRetried(t *testing.T) {
	a := startNode(t, fastConfig("a"))
	_, port, _ := net.SplitHostPort(a.Addr())

	dns := &scriptedDNS{name: "seed.example"}
	dns.set(errors.New("lookup seed.example: no such host"))
	var logs logBuffer
	cfg := fastConfig("b")
	cfg.Seeds = []string{net.JoinHostPort("seed.example", port)}
	b := startNode(t, cfg, WithResolver(dns.resolve), WithLogger(zerolog.New(&logs).Level(zerolog.InfoLevel)))
	eventually(t, 10*time.Second, func() error {
		dns.mu.Lock()
		defer dns.mu.Unlock()
		if dns.lookups < 3 {
			return fmt.Errorf("%d lookups", dns.lookups)
		}
		return nil
	})
	dns.set(nil, "127.0.0.1")
	eventually(t, 10*time.Second, func() error {
		if len(b.LivePeers()) != 1 || len(a.LivePeers()) != 1 {
			return fmt.Errorf("b sees %d live, a sees %d", len(b.LivePeers()), len(a.LivePeers()))
		}
		return nil
	})
	var warned, resolved bool
	for _, l := range logs.lines(t) {
		warned = warned || (l["level"] == "warn" && l["seed"] == cfg.Seeds[0] && l["node"] == "b")
		resolved = resolved || (l["message"] == "seed resolved" && l["addr"] == a.Addr())
	}
	if !warned || !resolved {
		t.Errorf("warned %v, resolved %v: %v", warned, resolved, logs.lines(t))
	}
}

// TestSeedNameFollowsDNS: a seed name is resolved again while the node
// runs. When its answer moves from one node's IP to another's (a seed pod
// replaced), the node reaches the new one and drops the old address from
// its seeds, though not the old node from its membership; a name with
// several addresses (a headless service) gives a seed for each.
func TestSeedNameFollowsDNS(t *testing.T) {
	// Two nodes on one port and two loopback IPs, so that one seed spec,
	// name:port, can designate either; neither knows the other.
	a := startNode(t, fastConfig("a"))
	_, port, _ := net.SplitHostPort(a.Addr())
	bcfg := fastConfig("b")
	bcfg.Addr = "127.0.0.2"
	bcfg.Port, _ = strconv.Atoi(port)
	b, err := New(bcfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Skipf("cannot bind 127.0.0.2 on the port of a: %v", err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })

	dns := &scriptedDNS{name: "seeds.test"}
	dns.set(nil, "127.0.0.1")
	ccfg := fastConfig("c")
	ccfg.Seeds = []string{net.JoinHostPort("seeds.test", port)}
	c := startNode(t, ccfg, WithResolver(dns.resolve))

	knows := func(n *Node, alias string) bool {
		return slices.ContainsFunc(n.LivePeers(), func(p Peer) bool { return p.Alias == alias })
	}
	eventually(t, 10*time.Second, func() error {
		if !knows(c, "a") || !knows(a, "c") {
			return errors.New("c has not joined a")
		}
		return nil
	})
	if knows(b, "c") {
		t.Fatal("b knows c before DNS named b")
	}

	dns.set(nil, "127.0.0.2")
	eventually(t, 10*time.Second, func() error {
		if !knows(b, "c") || !knows(c, "b") {
			return errors.New("c has not reached b")
		}
		if got, want := c.seedList(), []string{b.Addr()}; !slices.Equal(got, want) {
			return fmt.Errorf("seeds %v, want %v", got, want)
		}
		return nil
	})
	if !knows(c, "a") {
		t.Error("a left c's membership with its seed address")
	}

	dns.set(nil, "127.0.0.2", "127.0.0.1", "::1")
	eventually(t, 10*time.Second, func() error {
		// IPv4 preferred: the IPv6 address is left out.
		if got, want := c.seedList(), []string{b.Addr(), a.Addr()}; !slices.Equal(got, want) {
			return fmt.Errorf("seeds %v, want %v", got, want)
		}
		return nil
	})
}

// seedList is the node's current seed addresses, as the engine has them.
func (n *Node) seedList() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	got := n.eng.Seeds()
	if !slices.Equal(got, n.seeds) {
		return append(got, "(node has", fmt.Sprint(n.seeds), ")")
	}
	return got
}

// TestDefaultDataDirIsAnnounced: a Config without data_dir stores in
// ./leviathan-data and says so at start-up, with the absolute path, which
// /status also gives, with the store's disk use (not its apparent size).
func TestDefaultDataDirIsAnnounced(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var logs logBuffer
	n, err := New(Config{Alias: "d", Addr: "127.0.0.1"}, WithLogger(zerolog.New(&logs)))
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "leviathan-data")
	st := n.Status()
	if st.DataDir != want {
		t.Errorf("status data_dir %q, want %q", st.DataDir, want)
	}
	// Disk use, not the sparse value log's apparent 128 MiB or more.
	if st.Store == nil || st.Store.DiskBytes <= 0 || st.Store.DiskBytes > 8<<20 {
		t.Errorf("store size %+v: want the few KiB on disk", st.Store)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(want); err != nil {
		t.Fatalf("default data dir: %v", err)
	}
	for _, l := range logs.lines(t) {
		if l["level"] == "warn" && l["data_dir"] == want && strings.Contains(l["message"].(string), "data_dir not set") {
			return
		}
	}
	t.Errorf("no warning naming %s: %v", want, logs.lines(t))
}

// TestSilentSeedIsWarned: a seed that never answers (here a socket that
// reads nothing) is named in a warning after a few rounds, instead of the
// node waiting silently to join through it.
func TestSilentSeedIsWarned(t *testing.T) {
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hole.Close() })
	var logs logBuffer
	cfg := fastConfig("lonely")
	cfg.Seeds = []string{hole.LocalAddr().String()}
	startNode(t, cfg, WithLogger(zerolog.New(&logs).Level(zerolog.InfoLevel)))
	eventually(t, 10*time.Second, func() error {
		for _, l := range logs.lines(t) {
			if l["level"] == "warn" && l["seed"] == hole.LocalAddr().String() && strings.Contains(fmt.Sprint(l["message"]), "not answered") {
				return nil
			}
		}
		return errors.New("no warning naming the silent seed")
	})
}
