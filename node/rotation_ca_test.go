package node

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestSignedKeyRotationCA: P (cc) rotates its key under a cluster CA,
// with signed = true: it gets a certificate of its new key and restarts
// on its data directory with both. Its record names the old key as
// retired, so a node that joins after takes P's records signed by the
// old key, which no certificate it sees vouches for; nothing is refused.
func TestSignedKeyRotationCA(t *testing.T) {
	key := testKeyB64(32)
	dir := t.TempDir()
	ca := idKey(t, 90)
	notAfter := time.Now().Add(time.Hour)
	config := func(id, keyName string, seed byte) Config {
		k := createKey(t, filepath.Join(dir, keyName), seed)
		cfg := fastConfig(id)
		cfg.Port, cfg.EncryptKeys, cfg.Signed = 0, []string{key}, true
		cfg.KeyFile = filepath.Join(dir, keyName)
		cfg.CertFile = writeFile(t, dir, keyName+".crt", issuePEM(t, ca, id, k.Public(), notAfter))
		cfg.TrustedCA = []string{b64(ca)}
		return cfg
	}
	var nodes []*Node
	for i, id := range []string{"ca", "cb", "cc"} {
		cfg := config(id, id+".key", byte(i+1))
		cfg.InMemory, cfg.DataDir = false, filepath.Join(dir, id)
		if i > 0 {
			cfg.Seeds = []string{nodes[0].Addr()}
		}
		nodes = append(nodes, startNode(t, cfg))
	}
	eventually(t, 10*time.Second, func() error { return allAlive(nodes, "cc") })
	before := writeAll(t, nodes, nodes[2], "before", 30)

	// P restarts on its port and data directory with the new key and its
	// certificate.
	cfg := config("cc", "cc-new.key", 4)
	oldPub := nodes[2].ident.key.Public()
	cfg.InMemory, cfg.DataDir = false, filepath.Join(dir, "cc")
	_, port, _ := net.SplitHostPort(nodes[2].Addr())
	cfg.Port, _ = strconv.Atoi(port)
	cfg.Seeds = []string{nodes[0].Addr()}
	nodes[2].cfg.SkipLeave = true
	if err := nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	nodes[2] = startNode(t, cfg)
	if oldPub.Equal(nodes[2].ident.key.Public()) {
		t.Fatal("cc restarted with its old key")
	}
	eventually(t, 15*time.Second, func() error {
		for _, n := range nodes[:2] {
			if !bytes.Equal(recordKeyAt(n, "cc"), nodes[2].ident.key.Public()) {
				return fmt.Errorf("%s holds cc's record under another key", n.ID())
			}
		}
		return allAlive(nodes, "cc")
	})
	after := writeAll(t, nodes, nodes[2], "after", 30)

	jcfg := config("cd", "cd.key", 5)
	jcfg.Seeds = []string{nodes[0].Addr()}
	joiner := startNode(t, jcfg)
	eventually(t, 15*time.Second, func() error {
		if err := holdAll([]*Node{joiner}, "cc", after); err != nil {
			return err
		}
		return holdAll([]*Node{joiner}, "cc", before)
	})
	nodes = append(nodes, joiner)
	noRefusals(t, nodes)
	noProofRefusals(t, nodes)
	verifyFeed(t, nodes[0], "cc", len(before)+len(after))
}
