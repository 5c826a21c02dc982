package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The demo ingests for a bounded time with misses forced, and ends with
// its storage equal to the producer's keys.
func TestIngestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("demo run skipped in -short mode")
	}
	path := filepath.Join(t.TempDir(), "out.jsonl")
	var out, errs bytes.Buffer
	code := run([]string{"-duration", "3s", "-out", path}, &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errs.String())
	}
	if !strings.Contains(out.String(), "application storage matches") {
		t.Fatalf("no match reported:\n%s", out.String())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Peer != "producer" || r.Key == "" || r.Version == 0 {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		lines++
	}
	if lines == 0 {
		t.Fatal("nothing ingested")
	}
}
