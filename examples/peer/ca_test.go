package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/sync/identity"
)

// runPeer runs the peer's command line and returns its exit status and
// output.
func runPeer(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// The whole flow an operator follows: a CA, a node key, its certificate,
// and a trust that accepts the node with it.
func TestCAFlow(t *testing.T) {
	dir := t.TempDir()
	caDir, nodeKey, nodePub, crt := filepath.Join(dir, "ca"), filepath.Join(dir, "node.key"), filepath.Join(dir, "node.pub"), filepath.Join(dir, "n1.crt")

	code, out, errOut := runPeer("ca", "init", "-out", caDir)
	if code != 0 || !strings.Contains(out, "CA key id") {
		t.Fatalf("ca init: %d\n%s%s", code, out, errOut)
	}
	checkMode(t, filepath.Join(caDir, "ca.key"), 0o600)
	code, out, errOut = runPeer("key", "init", "-out", nodeKey)
	if code != 0 || !strings.Contains(errOut, "key id") {
		t.Fatalf("key init: %d\n%s", code, errOut)
	}
	checkMode(t, nodeKey, 0o600)
	if err := os.WriteFile(nodePub, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, pub, _ := runPeer("key", "pub", "-key", nodeKey); code != 0 || pub != out {
		t.Fatalf("key pub: %d %q, want what key init printed, %q", code, pub, out)
	}
	code, out, errOut = runPeer("ca", "sign", "-ca", filepath.Join(caDir, "ca.key"), "-id", "n1", "-pub", nodePub, "-days", "30", "-out", crt)
	if code != 0 || !strings.Contains(out, `id "n1"`) {
		t.Fatalf("ca sign: %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := runPeer("ca", "show", "-crt", crt, "-ca", filepath.Join(caDir, "ca.pub")); code != 0 || !strings.Contains(out, "signature valid") {
		t.Fatalf("ca show: %d\n%s", code, out)
	}

	caPub, err := identity.LoadPublicKey(filepath.Join(caDir, "ca.pub"))
	if err != nil {
		t.Fatal(err)
	}
	node, err := identity.Load(nodeKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := identity.LoadCertificate(crt)
	if err != nil {
		t.Fatal(err)
	}
	trust, err := identity.NewCATrust(caPub)
	if err != nil {
		t.Fatal(err)
	}
	if err := trust.Check("n1", node.Public(), cert, time.Now().Add(29*24*time.Hour)); err != nil {
		t.Errorf("the signed certificate is not trusted: %v", err)
	}
	if err := trust.Check("n1", node.Public(), cert, time.Now().Add(31*24*time.Hour)); err == nil {
		t.Error("a 30-day certificate is trusted after 31 days")
	}

	// Nothing is ever replaced: a second init fails and keeps the keys.
	if code, _, errOut := runPeer("ca", "init", "-out", caDir); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("second ca init: %d %q", code, errOut)
	}
	if code, _, errOut := runPeer("key", "init", "-out", nodeKey); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("second key init: %d %q", code, errOut)
	}
	if again, err := identity.Load(nodeKey); err != nil || !again.Public().Equal(node.Public()) {
		t.Errorf("node key changed: %v", err)
	}
	if code, line, _ := runPeer("key", "pub", "-key", nodeKey, "-base64"); code != 0 || strings.TrimSpace(line) != identity.FormatPublicKey(node.Public()) {
		t.Errorf("key pub -base64: %d %q", code, line)
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != want {
		t.Errorf("%s: mode %04o, want %04o", path, fi.Mode().Perm(), want)
	}
}

func TestIdentityCommandErrors(t *testing.T) {
	dir := t.TempDir()
	caKey, nodeKey, nodePub := filepath.Join(dir, "ca", "ca.key"), filepath.Join(dir, "node.key"), filepath.Join(dir, "node.pub")
	if code, _, errOut := runPeer("ca", "init", "-out", filepath.Join(dir, "ca")); code != 0 {
		t.Fatal(errOut)
	}
	code, pub, errOut := runPeer("key", "init", "-out", nodeKey)
	if code != 0 {
		t.Fatal(errOut)
	}
	if err := os.WriteFile(nodePub, []byte(pub), 0o644); err != nil {
		t.Fatal(err)
	}
	// A public key with a private key's mode: refused for what it holds.
	pubAsKey := filepath.Join(dir, "pub.key")
	if err := os.WriteFile(pubAsKey, []byte(pub), 0o600); err != nil {
		t.Fatal(err)
	}
	loose := filepath.Join(dir, "loose.key")
	key, _ := os.ReadFile(nodeKey)
	if err := os.WriteFile(loose, key, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	sign := func(extra ...string) []string {
		return append([]string{"ca", "sign", "-ca", caKey, "-id", "n1", "-pub", nodePub, "-out", filepath.Join(dir, "n1.crt")}, extra...)
	}
	cases := []struct {
		name      string
		args      []string
		code      int
		stderrHas string
	}{
		{"ca alone", []string{"ca"}, 2, "want a subcommand"},
		{"ca unknown", []string{"ca", "frob"}, 2, "peer ca init -out DIR"},
		{"key alone", []string{"key"}, 2, "want a subcommand"},
		{"ca init without -out", []string{"ca", "init"}, 2, "-out is required"},
		{"key init without -out", []string{"key", "init"}, 2, "-out is required"},
		{"key pub without -key", []string{"key", "pub"}, 2, "-key is required"},
		{"ca sign without -id", []string{"ca", "sign", "-ca", caKey, "-pub", nodePub, "-out", "x.crt"}, 2, "-id is required"},
		{"ca sign without -ca", []string{"ca", "sign", "-id", "n1", "-pub", nodePub, "-out", "x.crt"}, 2, "-ca is required"},
		{"stray argument", []string{"key", "pub", "-key", nodeKey, "extra"}, 2, `unexpected argument "extra"`},
		{"unknown flag", []string{"key", "pub", "-kye", nodeKey}, 2, "flag provided but not defined"},
		{"zero days", sign("-days", "0"), 2, "-days 0"},
		{"days not a number", sign("-days", "x"), 2, "invalid value"},
		{"missing CA key", sign("-ca", filepath.Join(dir, "none")), 1, "no such file"},
		{"CA key readable by others", sign("-ca", loose), 1, "chmod 600"},
		{"a private key as -pub", sign("-pub", nodeKey), 1, "not an ed25519 key"},
		{"id too long", sign("-id", strings.Repeat("x", 256)), 1, "id of 256 bytes"},
		{"key pub of a loose key", []string{"key", "pub", "-key", loose}, 1, "chmod 600"},
		{"key pub of a public key", []string{"key", "pub", "-key", pubAsKey}, 1, "not an ed25519 key"},
		{"show a key as a certificate", []string{"ca", "show", "-crt", nodePub}, 1, "malformed certificate"},
		{"help", []string{"ca", "sign", "-h"}, 0, "usage: peer ca sign"},
	}
	if runtime.GOOS == "windows" {
		t.Skip("file modes")
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runPeer(tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.stderrHas) {
				t.Errorf("exit %d, want %d; stderr %q lacks %q", code, tt.code, errOut, tt.stderrHas)
			}
		})
	}
}

// A certificate of another CA fails ca show's check.
func TestCAShowWrongCA(t *testing.T) {
	dir := t.TempDir()
	for _, ca := range []string{"a", "b"} {
		if code, _, errOut := runPeer("ca", "init", "-out", filepath.Join(dir, ca)); code != 0 {
			t.Fatal(errOut)
		}
	}
	nodePub := filepath.Join(dir, "b", "ca.pub") // any public key will do
	crt := filepath.Join(dir, "n1.crt")
	if code, _, errOut := runPeer("ca", "sign", "-ca", filepath.Join(dir, "a", "ca.key"), "-id", "n1", "-pub", nodePub, "-out", crt); code != 0 {
		t.Fatal(errOut)
	}
	code, _, errOut := runPeer("ca", "show", "-crt", crt, "-ca", filepath.Join(dir, "b", "ca.pub"))
	if code != 1 || !strings.Contains(errOut, "unknown CA") {
		t.Errorf("exit %d, stderr %q: want 1 and unknown CA", code, errOut)
	}
}
