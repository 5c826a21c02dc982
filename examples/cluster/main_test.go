package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
	logPath := filepath.Join(t.TempDir(), "demo.log")
	code := run([]string{"-duration", "5s", "-kill", "2s", "-gossip", "100ms", "-http", "", "-plain", "-log", logPath}, &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errs.String())
	}
	for _, want := range []string{"WHO SEES WHOM", "peer4   (stopped)", "peers_suspend peer4", "started again", "all 4 peers hold every peer's latest keys"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	checkLogLines(t, logPath)
}

// checkLogLines: every line of the -log file is JSON without a repeated
// key and names its node; the stopped peer's suspension is among them.
func checkLogLines(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	suspended := false
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		keys, err := topLevelKeys(line)
		if err != nil {
			t.Fatalf("line %d not JSON: %v: %s", i+1, err, line)
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k] {
				t.Errorf("line %d repeats key %q: %s", i+1, k, line)
			}
			seen[k] = true
		}
		if !seen["node"] {
			t.Errorf("line %d has no node field: %s", i+1, line)
		}
		suspended = suspended || strings.Contains(line, `"peer suspended"`)
	}
	if !suspended {
		t.Error("no peer suspended line in the log")
	}
}

// topLevelKeys lists an object's keys in order, repeats included (which
// encoding/json's maps would hide).
func topLevelKeys(line string) ([]string, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not an object (%v)", err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

func TestClusterFlags(t *testing.T) {
	for _, args := range [][]string{{"-nodes", "1"}, {"-nodes", "17"}, {"-bogus"}} {
		var out, errs bytes.Buffer
		if code := run(args, &out, &errs); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
