package loadtest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/store"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// The test binary doubles as the follower process.
func TestMain(m *testing.M) {
	if os.Getenv(FollowerEnv) != "" {
		os.Exit(FollowerMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestIngestAndCatchUpSmall: in both scenarios, signed or not, every
// receiver ends up holding every key the writer wrote, with its value,
// on disk, and the bytes it took in and stored are counted.
func TestIngestAndCatchUpSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs OS processes")
	}
	const n, size, receivers = 20000, 100, 2
	for _, sc := range []struct {
		name   string
		run    func(Options) (Result, error)
		signed bool
	}{{"ingest", Ingest, false}, {"catchup", CatchUp, false}, {"catchup signed", CatchUp, true}} {
		t.Run(sc.name, func(t *testing.T) {
			dir := t.TempDir()
			res, err := sc.run(Options{N: n, ValueSize: size, Receivers: receivers, Dir: dir, Args: []string{"-test.run=^$"},
				Signed: sc.signed})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", res)
			if res.NodePerS <= 0 || res.RawPerS <= 0 || res.RawSharedPerS <= 0 || res.PeakRSSMB <= 0 {
				t.Fatalf("implausible result %+v", res)
			}
			// Every record crossed the wire and sits on disk: its value at least.
			if res.Signed != sc.signed || res.WireBytes < size || res.DiskBytes < size {
				t.Fatalf("signed %v, %v B/record received, %v B/record on disk: want signed %v and %d at least",
					res.Signed, res.WireBytes, res.DiskBytes, sc.signed, size)
			}
			for i := 0; i < receivers; i++ {
				if err := holdsAll(filepath.Join(dir, fmt.Sprintf("follower%d", i)), n, size); err != nil {
					t.Errorf("follower%d: %v", i, err)
				}
			}
		})
	}
}

// holdsAll checks that a stopped receiver's store holds the writer's keys
// 0..n-1, each with the value the writer wrote.
func holdsAll(dir string, n, size int) error {
	db, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		return err
	}
	defer db.Close()
	got := map[string][]byte{}
	var meta lsync.PeerMeta
	err = db.Load(func(m lsync.PeerMeta, recs []lsync.Record) error {
		if m.ID != "writer" {
			return nil
		}
		meta = m
		for _, r := range recs {
			if !r.Tombstone {
				got[r.Key] = r.Value
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if meta.MaxVersion < uint64(n) || len(got) != n {
		return fmt.Errorf("holds %d keys of the writer up to version %d, want %d up to %d", len(got), meta.MaxVersion, n, n)
	}
	for i := 0; i < n; i++ {
		if !bytes.Equal(got[key(i)], value(size, i)) {
			return fmt.Errorf("key %s: wrong or missing value", key(i))
		}
	}
	return nil
}

// TestDeadFollowerSaysHow: a follower that dies before its report is
// reported with how it ended and what it last wrote to stderr.
func TestDeadFollowerSaysHow(t *testing.T) {
	if testing.Short() {
		t.Skip("runs OS processes")
	}
	// A memory limit it cannot parse: it says so on stderr and exits with 2.
	f, err := startFollower(Options{Dir: t.TempDir(), Args: []string{"-test.run=^$"}, MemoryLimit: "lots"}, 0, "127.0.0.1:1", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.stop()
	_, err = f.wait(time.Minute)
	if err == nil {
		t.Fatal("a dead follower reported success")
	}
	for _, want := range []string{"exit status 2", "follower-memory-limit"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}
}
