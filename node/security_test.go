package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/sync/transport"
)

func testKeyB64(n int) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{byte(n)}, n))
}

func TestParseConfigKeys(t *testing.T) {
	k16, k32 := testKeyB64(16), testKeyB64(32)
	cfg, err := ParseConfig(fmt.Sprintf("encrypt_keys = [%q, %q]", k32, k16), "test")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := cfg.keyring()
	if err != nil {
		t.Fatal(err)
	}
	if keys := kr.Keys(); len(keys) != 2 || len(keys[0]) != 32 || len(keys[1]) != 16 {
		t.Fatalf("keys %x: want the first configured as primary", keys)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "keys")
	if err := os.WriteFile(file, []byte("# rotated 2026-11-22\n\n"+k16+"\n  "+k32+"  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = ParseConfig(fmt.Sprintf("encrypt_keys_file = %q", file), "test")
	if err != nil {
		t.Fatal(err)
	}
	if kr, err = cfg.keyring(); err != nil || len(kr.Primary()) != 16 || len(kr.Keys()) != 2 {
		t.Fatalf("keys file: %v", err)
	}

	for name, content := range map[string]string{
		"bad line": k16 + "\n\n!!!\n",
		"empty":    "# nothing here\n",
	} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ParseConfig(fmt.Sprintf("encrypt_keys_file = %q", file), "test")
		if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "encrypt_keys_file") || !strings.Contains(err.Error(), file) {
			t.Errorf("%s: %v", name, err)
		}
		if name == "bad line" && !strings.Contains(err.Error(), "line 3") {
			t.Errorf("bad line: %v does not name line 3", err)
		}
	}
	// An unreadable keys file (a directory) names the path.
	if _, err := ParseConfig(fmt.Sprintf("encrypt_keys_file = %q", dir), "test"); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("directory as keys file: %v", err)
	}
	// A device that never ends is refused after a bounded read.
	if _, err := os.Stat("/dev/zero"); err == nil {
		if _, err := ParseConfig(`encrypt_keys_file = "/dev/zero"`, "test"); err == nil || !strings.Contains(err.Error(), "/dev/zero") {
			t.Errorf("/dev/zero as keys file: %v", err)
		}
	}
	// The key itself never appears in an error.
	bad := base64.StdEncoding.EncodeToString([]byte("secret-ish-20-bytes!"))
	if _, err := ParseConfig(fmt.Sprintf("encrypt_keys = [%q]", bad), "test"); err == nil || strings.Contains(err.Error(), bad) {
		t.Errorf("error leaks the key: %v", err)
	}
}

func TestLogLimiter(t *testing.T) {
	l := newLogLimiter(time.Minute, 3)
	t0 := time.Unix(1000, 0)
	steps := []struct {
		key        string
		at         time.Duration
		ok         bool
		suppressed uint64
	}{
		{"a", 0, true, 0},
		{"a", time.Second, false, 0},
		{"a", 2 * time.Second, false, 0},
		{"b", 3 * time.Second, true, 0},
		{"a", time.Minute, true, 2},
		{"c", time.Minute, true, 0},
		{"d", time.Minute, false, 0},                // full: a, b, c are within the window
		{"d", time.Minute + 4*time.Second, true, 0}, // b expired and was evicted
		{"a", time.Minute + 5*time.Second, false, 0},
	}
	for i, s := range steps {
		ok, sup := l.allow(s.key, t0.Add(s.at))
		if ok != s.ok || sup != s.suppressed {
			t.Fatalf("step %d (%s at %v): allow = %v, %d; want %v, %d", i, s.key, s.at, ok, sup, s.ok, s.suppressed)
		}
		if len(l.seen) > 3 {
			t.Fatalf("step %d: limiter grew to %d keys", i, len(l.seen))
		}
	}
}

// TestEncryptedMemCluster: nodes sharing a key converge; a node with another
// key is shut out, and its messages are counted as unauthenticated.
func TestEncryptedMemCluster(t *testing.T) {
	net := transport.NewMemNetwork(3)
	key := bytes.Repeat([]byte{1}, 32)
	var nodes []*Node
	for i := 1; i <= 3; i++ {
		tr, err := net.Listen(fmt.Sprintf("enc-%d:1", i), 1400, 4<<20)
		if err != nil {
			t.Fatal(err)
		}
		kr, _ := transport.NewKeyring(key)
		cfg := fastConfig(fmt.Sprintf("e%d", i))
		cfg.Seeds = []string{"enc-1:1", "enc-4:1"}
		nodes = append(nodes, startNode(t, cfg, WithTransport(tr), WithKeyring(kr), WithRandSeed(int64(i))))
	}
	tr, _ := net.Listen("enc-4:1", 1400, 4<<20)
	wrongKR, _ := transport.NewKeyring(bytes.Repeat([]byte{2}, 32))
	cfg := fastConfig("intruder")
	cfg.Seeds = []string{"enc-1:1"}
	intruder := startNode(t, cfg, WithTransport(tr), WithKeyring(wrongKR))
	if _, err := intruder.Set(context.Background(), "evil", []byte("x")); err != nil {
		t.Fatal(err)
	}

	v, err := nodes[2].Set(context.Background(), "k", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error { return converged(nodes, "e3", "k", v) })
	eventually(t, 10*time.Second, func() error {
		if u := nodes[0].Status().Stats.Unauthenticated; u == 0 {
			return fmt.Errorf("no unauthenticated message counted at e1")
		}
		return nil
	})
	for _, n := range nodes {
		if _, err := n.Get(context.Background(), "intruder", "evil"); err == nil {
			t.Fatalf("%s accepted a write from a node without the key", n.ID())
		}
	}
	if len(intruder.Peers()) != 0 {
		t.Fatalf("intruder learnt of peers: %v", intruder.Peers())
	}
	if nodes[0].Keyring() == nil || intruder.Keyring() != wrongKR {
		t.Fatal("Keyring accessor")
	}
}

// TestKeyRotationLiveCluster rotates the key of a running cluster (install
// everywhere → use everywhere → remove everywhere) and checks that writes
// keep flowing at every step.
func TestKeyRotationLiveCluster(t *testing.T) {
	net := transport.NewMemNetwork(4)
	oldK, newK := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 32)
	var nodes []*Node
	for i := 1; i <= 3; i++ {
		tr, _ := net.Listen(fmt.Sprintf("rot-%d:1", i), 1400, 4<<20)
		kr, _ := transport.NewKeyring(oldK)
		cfg := fastConfig(fmt.Sprintf("r%d", i))
		cfg.Seeds = []string{"rot-1:1"}
		nodes = append(nodes, startNode(t, cfg, WithTransport(tr), WithKeyring(kr), WithRandSeed(int64(i))))
	}
	step := 0
	write := func(what string) {
		t.Helper()
		step++
		w := nodes[step%3]
		v, err := w.Set(context.Background(), "step", []byte(what))
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, func() error { return converged(nodes, w.ID(), "step", v) })
	}
	write("start")
	for i, phase := range []func(*transport.Keyring) error{
		func(kr *transport.Keyring) error { return kr.Install(newK) },
		func(kr *transport.Keyring) error { return kr.Use(newK) },
		func(kr *transport.Keyring) error { return kr.Remove(oldK) },
	} {
		for j, n := range nodes {
			if err := phase(n.Keyring()); err != nil {
				t.Fatal(err)
			}
			write(fmt.Sprintf("phase %d node %d", i, j)) // the cluster is mixed here
		}
	}
	for _, n := range nodes {
		if keys := n.Keyring().Keys(); len(keys) != 1 || !bytes.Equal(keys[0], newK) {
			t.Fatalf("%s keys %x", n.ID(), keys)
		}
	}
}

// TestEncryptedUDPCluster: real sockets with a key; a value too large for a
// datagram travels sealed on the stream path.
func TestEncryptedUDPCluster(t *testing.T) {
	keys := []string{testKeyB64(24)}
	var nodes []*Node
	for i := 0; i < 2; i++ {
		cfg := fastConfig(fmt.Sprintf("eu%d", i))
		cfg.Port = 0
		cfg.EncryptKeys = keys
		if i > 0 {
			cfg.Seeds = []string{nodes[0].Addr()}
		}
		nodes = append(nodes, startNode(t, cfg))
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 200<<10/16)
	v, err := nodes[1].Set(context.Background(), "big", big)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error { return converged(nodes, "eu1", "big", v) })
	if got, _ := nodes[0].Get(context.Background(), "eu1", "big"); !bytes.Equal(got.Value, big) {
		t.Fatal("big value corrupted")
	}
	if st := nodes[0].encrypted.Stats(); st.Opened == 0 || st.Rejected() != 0 {
		t.Fatalf("encryption stats %+v", st)
	}
}

func TestNewConfigErrors(t *testing.T) {
	// An unresolvable seed is no longer an error of New: it is warned
	// about and retried (TestSeedThatDoesNotResolveIsRetried).
	cfg := fastConfig("k")
	cfg.Port = 0
	cfg.EncryptKeys = []string{"short"}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "encrypt_keys[0]") {
		t.Errorf("bad key through New: %v", err)
	}
}
