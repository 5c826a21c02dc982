package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/node"
)

// The demo ingests for a bounded time and ends with its storage equal to
// the producer's keys.
func TestIngestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("demo run skipped in -short mode")
	}
	path := filepath.Join(t.TempDir(), "out.jsonl")
	var out, errs bytes.Buffer
	code := run([]string{"-duration", "3s", "-out", path, "-slow", "20ms"}, &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errs.String())
	}
	if !strings.Contains(out.String(), "application storage matches") {
		t.Fatalf("no match reported:\n%s", out.String())
	}
	s, err := openAppStore(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Len() == 0 || s.cursors["producer"].Version == 0 {
		t.Fatalf("reopened storage holds %d keys, cursor %+v", s.Len(), s.cursors["producer"])
	}
}

// A torn last line (kill -9 in the middle of a write) is cut off on open
// and the batches before it are kept.
func TestAppStoreDropsTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.jsonl")
	s, err := openAppStore(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := batch{Peer: "p", Changes: []change{{Key: "k", Value: []byte("v"), Version: 3}}, Next: node.Cursor{Generation: 1, Version: 3}}
	if err := s.Apply(b); err != nil {
		t.Fatal(err)
	}
	if _, err := s.f.WriteString(`{"peer":"p","changes":[{"key":"x"`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = openAppStore(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 1 || s.cursors["p"].Version != 3 {
		t.Fatalf("after reopen: %d keys, cursor %+v", s.Len(), s.cursors["p"])
	}
	if err := s.Apply(batch{Peer: "p", Changes: []change{{Key: "k", Deleted: true, Version: 4}}, Next: node.Cursor{Generation: 1, Version: 4}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = openAppStore(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Len() != 0 || s.cursors["p"].Version != 4 {
		t.Fatalf("after the delete: %d keys, cursor %+v", s.Len(), s.cursors["p"])
	}
}

// TestKilledConsumerLosesNothing runs the consumer as a real process
// against a producer node in this test that keeps writing, kills it with
// SIGKILL at random moments and restarts it on the same storage file. Its
// storage must end equal to the producer's keys: nothing lost across the
// crashes, no delete missed.
func TestKilledConsumerLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes skipped in -short mode")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "ingest")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfg := demoConfig("ingest-crash", "producer")
	cfg.TombstoneGrace = time.Hour
	producer, err := startNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { defer close(done); produce(producer, stop) }()

	store := filepath.Join(dir, "app.jsonl")
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "-seeds", producer.Addr(), "-cluster", "ingest-crash", "-out", store, "-slow", "5ms", "-batch", "50")
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	resumed := 0
	for i := range 6 {
		before := cursorOf(t, store)
		cmd := start()
		// Not a wait for convergence: the moment of the crash, at random.
		time.Sleep(time.Duration(800+rng.Intn(1200)) * time.Millisecond)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		after := cursorOf(t, store)
		t.Logf("kill %d: cursor %d -> %d", i+1, before, after)
		if before > 0 && after > before {
			resumed++
		}
	}
	if resumed < 2 {
		t.Fatalf("only %d runs resumed from a stored cursor and moved on; the drill tested little", resumed)
	}
	close(stop)
	<-done
	cmd := start()
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := readAppStore(store)
		if err != nil {
			t.Fatal(err)
		}
		diff := s.compare(context.Background(), producer)
		if diff == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(fmt.Sprint("storage differs from the producer after the crashes: ", diff))
		}
		time.Sleep(100 * time.Millisecond) // polling a real process
	}
}

// cursorOf is the stored cursor version for the producer, 0 before any.
func cursorOf(t *testing.T, path string) uint64 {
	t.Helper()
	s, err := readAppStore(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return s.cursors["producer"].Version
}
