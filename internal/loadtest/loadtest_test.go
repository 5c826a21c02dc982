package loadtest

import (
	"os"
	"testing"
)

// The test binary doubles as the follower process.
func TestMain(m *testing.M) {
	if os.Getenv(FollowerEnv) != "" {
		os.Exit(FollowerMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func TestIngestAndCatchUpSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs OS processes")
	}
	for _, run := range []func(Options) (Result, error){Ingest, CatchUp} {
		res, err := run(Options{N: 20000, ValueSize: 100, Receivers: 2, Dir: t.TempDir(), Args: []string{"-test.run=^$"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v", res)
		if res.NodePerS <= 0 || res.RawPerS <= 0 || res.PeakRSSMB <= 0 {
			t.Fatalf("implausible result %+v", res)
		}
	}
}
