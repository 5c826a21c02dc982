package store

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

const (
	// drillRunsEnv sets how many times TestRelabelKillDrill kills a
	// relabel (default 2, to keep go test fast; the long form runs 20).
	drillRunsEnv = "LEVIATHAN_KILL_DRILL"
	// drillDirEnv makes the test binary the drill's child: it relabels
	// the store in that directory until it is killed.
	drillDirEnv = "LEVIATHAN_KILL_DRILL_DIR"

	drillRecords = 100_000
	// drillChunks is about how many roll-forward chunks the child's
	// relabel takes (100-byte records, each chunk half a transaction).
	drillChunks = 22
)

// TestRelabelKillDrill kills (SIGKILL) a process in the middle of a
// relabel of 100,000 own records, at a random moment between the start of
// the Apply that commits the marker and the end of the roll-forward, then
// reopens its store: every record must be there, at one generation — the
// new one, or the old one if the marker was not committed yet — and the
// roll-forward must finish.
func TestRelabelKillDrill(t *testing.T) {
	if dir := os.Getenv(drillDirEnv); dir != "" {
		drillChild(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	runs, rng := drillRuns(t)
	var before, during, after, failures int
	for i := range runs {
		outcome, err := drillOnce(t, rng)
		switch {
		case err != nil:
			failures++
			t.Errorf("run %d: %v", i, err)
		case outcome == "before":
			before++
		case outcome == "during":
			during++
		default:
			after++
		}
	}
	t.Logf("kill drill: %d runs of %d records, %d failures; killed before the marker committed: %d, during the roll-forward: %d, after it: %d",
		runs, drillRecords, failures, before, during, after)
}

// drillOnce runs one child, kills it, and checks its store. The outcome
// says where the kill landed, as the reopened store shows it.
func drillOnce(t *testing.T, rng *rand.Rand) (string, error) {
	dir := t.TempDir()
	// Where to kill: a quarter of the runs around the marker's commit
	// (which takes well under a millisecond), the rest within a random
	// chunk of the roll-forward.
	want := "written"
	delay := time.Duration(rng.IntN(500)) * time.Microsecond
	if rng.IntN(4) > 0 {
		want = fmt.Sprintf("chunk %d", rng.IntN(drillChunks))
		delay = time.Duration(rng.IntN(3000)) * time.Microsecond
	}
	if err := killChild("TestRelabelKillDrill", drillDirEnv+"="+dir, want, delay); err != nil {
		return "", err
	}

	s, err := Open(Options{Dir: dir})
	if err != nil {
		return "", fmt.Errorf("reopen: %w", err)
	}
	defer s.Close()
	info, err := s.Boot("me", 1)
	if err != nil {
		return "", fmt.Errorf("boot: %w", err)
	}
	outcome := "before"
	if info.Generation == 2 {
		outcome = "after"
		if len(markers(t, s)) > 0 {
			outcome = "during"
		}
	}
	got := loadAll(t, s)["me"]
	if got.meta.Generation != info.Generation || (info.Generation != 1 && info.Generation != 2) {
		return outcome, fmt.Errorf("boot at generation %d, own meta at %d", info.Generation, got.meta.Generation)
	}
	if err := sameRecords(got.recs, drillSet()); err != nil {
		return outcome, fmt.Errorf("killed %s the roll-forward, at generation %d: %w", outcome, got.meta.Generation, err)
	}
	waitNoMarker(t, s)
	gens := rawGenerations(t, s, "me")
	if len(gens) != 1 || gens[info.Generation] != drillRecords {
		return outcome, fmt.Errorf("generations on disk after the roll-forward: %v", gens)
	}
	return outcome, sameRecords(loadAll(t, s)["me"].recs, drillSet())
}

func drillSet() []lsync.Record { return recs("k", 0, drillRecords, 100) }

func sameRecords(got, want []lsync.Record) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		if g := got[i]; g.Key != want[i].Key || g.Version != want[i].Version || string(g.Value) != string(want[i].Value) {
			return fmt.Errorf("record %d is %q v%d, want %q v%d", i, g.Key, g.Version, want[i].Key, want[i].Version)
		}
	}
	return nil
}

// drillChild is the killed process: it writes the records at generation
// 1, relabels them to 2, reports each step on stdout and waits for the
// kill.
func drillChild(t *testing.T, dir string) {
	say := func(format string, args ...any) { fmt.Fprintf(os.Stdout, format+"\n", args...) }
	s, err := Open(Options{Dir: dir, beforeRelabelChunk: func(done int) error {
		say("chunk %d", done)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Boot("me", 1); err != nil {
		t.Fatal(err)
	}
	m := lsync.PeerMeta{ID: "me", Generation: 1, MaxVersion: drillRecords}
	if err := s.Apply(&lsync.Batch{Changes: []lsync.PeerChange{{Meta: m, Records: drillSet()}}}); err != nil {
		t.Fatal(err)
	}
	say("written")
	say("relabel")
	if err := s.Apply(relabelBatch(m, 1, 2)); err != nil {
		t.Fatal(err)
	}
	say("committed")
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		var left bool
		err := s.db.View(func(txn *badger.Txn) error {
			_, err := txn.Get(relabelKey("me"))
			left = err == nil
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !left {
			break
		}
		time.Sleep(time.Millisecond)
	}
	say("done")
	time.Sleep(time.Minute) // the parent kills the child well before this
	t.Fatal("never killed")
}

// killChild starts the test binary running test alone with env set, kills
// it with SIGKILL delay after it prints want (or done), and waits for it:
// a kill drill's crash at a chosen point.
func killChild(test, env string, want string, delay time.Duration) error {
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(5 * time.Minute)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				return fmt.Errorf("the child exited before the kill")
			}
			if l == want || l == "done" {
				break wait
			}
		case <-timeout:
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			for range lines {
			}
			return fmt.Errorf("the child never printed %q", want)
		}
	}
	time.Sleep(delay)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	_ = cmd.Wait()
	for range lines { // let the reader finish
	}
	return nil
}

// drillRuns is how many runs a kill drill makes (drillRunsEnv, default 2)
// and its random source, its seed logged so that a failure can be rerun.
func drillRuns(t *testing.T) (int, *rand.Rand) {
	t.Helper()
	runs := 2
	if v := os.Getenv(drillRunsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive count", drillRunsEnv, v)
		}
		runs = n
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return runs, rand.New(rand.NewPCG(seed, 0))
}
