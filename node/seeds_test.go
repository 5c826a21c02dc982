package node

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestSeedThatDoesNotResolveIsRetried: a seed whose name does not resolve
// at start-up (DNS down) is logged and retried, and the node joins
// through it once it resolves, instead of failing to start.
func TestSeedThatDoesNotResolveIsRetried(t *testing.T) {
	a := startNode(t, fastConfig("a"))

	var mu gosync.Mutex
	failures := 3
	old := resolveSeed
	resolveSeed = func(s string) (string, error) {
		if s != "seed.example:1" {
			return old(s)
		}
		mu.Lock()
		defer mu.Unlock()
		if failures > 0 {
			failures--
			return "", errors.New("lookup seed.example: no such host")
		}
		return a.Addr(), nil
	}
	t.Cleanup(func() { resolveSeed = old })

	var logs logBuffer
	cfg := fastConfig("b")
	cfg.Seeds = []string{"seed.example:1"}
	b := startNode(t, cfg, WithLogger(zerolog.New(&logs).Level(zerolog.InfoLevel)))
	eventually(t, 10*time.Second, func() error {
		if len(b.LivePeers()) != 1 || len(a.LivePeers()) != 1 {
			return fmt.Errorf("b sees %d live, a sees %d", len(b.LivePeers()), len(a.LivePeers()))
		}
		return nil
	})
	var warned, resolved bool
	for _, l := range logs.lines(t) {
		warned = warned || (l["level"] == "warn" && l["seed"] == "seed.example:1" && l["node"] == "b")
		resolved = resolved || (l["message"] == "seed resolved" && l["addr"] == a.Addr())
	}
	if !warned || !resolved {
		t.Errorf("warned %v, resolved %v: %v", warned, resolved, logs.lines(t))
	}
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
