package store

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

const (
	// proofDrillDirEnv makes the test binary the proof drill's child: it
	// applies signed records to the store in that directory until killed.
	proofDrillDirEnv = "LEVIATHAN_PROOF_DRILL_DIR"

	proofDrillRecords = 60_000
	// proofDrillMessage is the records of one Apply: several
	// transactions, which the signed batches straddle.
	proofDrillMessage = 20_000
	proofDrillBatch   = 3_000
)

// TestProofsKillDrill kills (SIGKILL) a process while it applies 60,000
// records with their proofs, in messages split over several
// transactions, at a random moment, then reopens its store: every record
// it serves has a proof that the origin's key verifies, and the proof
// entries hold no record it does not serve. LEVIATHAN_KILL_DRILL sets the
// number of runs (default 2).
func TestProofsKillDrill(t *testing.T) {
	if dir := os.Getenv(proofDrillDirEnv); dir != "" {
		proofDrillChild(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	runs, rng := drillRuns(t)
	held := map[string]int{}
	for i := range runs {
		outcome, err := proofDrillOnce(t, rng)
		if err != nil {
			t.Errorf("run %d: %v", i, err)
			continue
		}
		held[outcome]++
	}
	t.Logf("proof kill drill: %d runs: %v", runs, held)
}

// proofDrillOnce runs one child, kills it and checks its store. The
// outcome says where the kill landed: before any record, within the
// records, or after them all.
func proofDrillOnce(t *testing.T, rng *rand.Rand) (string, error) {
	dir := t.TempDir()
	want := fmt.Sprintf("message %d", rng.IntN(proofDrillRecords/proofDrillMessage))
	delay := time.Duration(rng.IntN(100_000)) * time.Microsecond
	if err := killChild("TestProofsKillDrill", proofDrillDirEnv+"="+dir, want, delay); err != nil {
		return "", err
	}

	s, err := Open(Options{Dir: dir})
	if err != nil {
		return "", fmt.Errorf("reopen: %w", err)
	}
	defer s.Close()
	if _, err := s.Boot("me", 1); err != nil {
		return "", fmt.Errorf("boot: %w", err)
	}
	var view lsync.PeerMeta
	if err := s.LoadMeta(func(m lsync.PeerMeta) error {
		if m.ID == "p" {
			view = m
		}
		return nil
	}); err != nil {
		return "", err
	}
	t.Logf("killed at watermark %d", view.MaxVersion)
	outcome := "within"
	switch view.MaxVersion {
	case 0:
		return "before", nil
	case proofDrillRecords:
		outcome = "after"
	}
	all := scanProofs(t, s, view, 0)
	v, u := verifyServed(t, testKey(t, 1).Public(), view, all, 500)
	if v != int(view.MaxVersion) || u != 0 {
		return outcome, fmt.Errorf("watermark %d: %d records verified, %d unsigned", view.MaxVersion, v, u)
	}
	if n := heldCount(proofEntries(t, s, "p")); n != v {
		return outcome, fmt.Errorf("the proof entries hold %d records, the store serves %d", n, v)
	}
	return outcome, nil
}

// proofDrillChild is the killed process: it applies the records of "p"
// with their proofs, a message at a time, reports each on stdout and
// waits for the kill.
func proofDrillChild(t *testing.T, dir string) {
	say := func(format string, args ...any) { fmt.Fprintf(os.Stdout, format+"\n", args...) }
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Boot("me", 1); err != nil {
		t.Fatal(err)
	}
	rs := recs("k", 0, proofDrillRecords, 100)
	batches := sealAll(t, testKey(t, 1), "p", 1, rs, proofDrillBatch)
	for i, lo := 0, 0; lo < len(rs); i, lo = i+1, lo+proofDrillMessage {
		hi := min(lo+proofDrillMessage, len(rs))
		say("message %d", i)
		c := lsync.PeerChange{Meta: meta("p", 1, uint64(hi)), Records: rs[lo:hi], Proofs: proofsOf(t, batches, lo, hi)}
		if err := s.Apply(&lsync.Batch{Changes: []lsync.PeerChange{c}}); err != nil {
			t.Fatal(err)
		}
	}
	say("done")
	time.Sleep(time.Minute) // the parent kills the child well before this
	t.Fatal("never killed")
}
