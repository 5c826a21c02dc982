package main

import (
	"bytes"
	"strings"
	"testing"
)

// The demo runs for a bounded time, stops and restarts a peer, and ends
// with every peer holding everyone's latest keys.
func TestClusterDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("demo run skipped in -short mode")
	}
	var out, errs bytes.Buffer
	code := run([]string{"-duration", "5s", "-kill", "2s", "-gossip", "100ms", "-http", "", "-plain"}, &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errs.String())
	}
	for _, want := range []string{"WHO SEES WHOM", "peer4   (stopped)", "peers_suspend peer4", "started again", "all 4 peers hold every peer's latest keys"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestClusterFlags(t *testing.T) {
	for _, args := range [][]string{{"-nodes", "1"}, {"-nodes", "17"}, {"-bogus"}} {
		var out, errs bytes.Buffer
		if code := run(args, &out, &errs); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
