package node

import (
	"io"
	"os"
	"strings"
	"testing"
)

// TestDefaultLogWarnsOnStderr: without WithLogger, a node's warnings
// reach standard error, and its info lines do not.
func TestDefaultLogWarnsOnStderr(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	cfg := fastConfig("loud")
	cfg.Seeds = []string{"no-such-host.invalid:7946"}
	n, err := New(cfg)
	os.Stderr = stderr
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "seed does not resolve") {
		t.Fatalf("stderr %q lacks the unresolved seed's warning", out)
	}
	if strings.Contains(string(out), "INF") {
		t.Fatalf("stderr %q holds info lines", out)
	}
}
