package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestMeasureRecordProofs measures signing on against off in one run:
// durable Set rate of one writer, catch-up of N records by a fresh node
// over real sockets, bytes per record on the wire and on disk, and the
// process's CPU per record caught up. It is a measurement, not a test:
// it runs only with LEVIATHAN_PROOF_BENCH=N set (N records to catch up).
func TestMeasureRecordProofs(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("LEVIATHAN_PROOF_BENCH"))
	if n <= 0 {
		t.Skip("set LEVIATHAN_PROOF_BENCH=N to measure")
	}
	for _, signed := range []bool{false, true, false, true} {
		m := measureProofs(t, signed, n)
		t.Logf("signed=%v: durable Set %.0f/s; catch-up of %d: %.0f records/s, %.2f µs CPU per record, %.1f B/record received, %.1f B/record on disk (receiver); writer sealed %d batches of %d records",
			signed, m.setRate, n, m.catchRate, m.cpuPerRec, m.wirePerRec, m.diskPerRec, m.batches, m.sealed)
	}
}

type proofMeasure struct {
	setRate, catchRate, cpuPerRec, wirePerRec, diskPerRec float64
	batches, sealed                                       uint64
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func measureProofs(t *testing.T, signed bool, n int) proofMeasure {
	var m proofMeasure
	sc := newSignedCluster(t, "wa", "wb", "wc")
	dir := t.TempDir()
	disk := func(id string) Config {
		cfg := sc.config(id, signed, nil)
		cfg.InMemory, cfg.DataDir = false, filepath.Join(dir, id)
		cfg.GossipVal, cfg.HeartbeatVal, cfg.HealthCheckVal = time.Second, time.Second, time.Second
		return cfg
	}
	// Durable Sets: one writer, each Set synced before it returns.
	cfgS := disk("wc")
	cfgS.SyncWrites = true
	s := startNode(t, cfgS)
	ctx := context.Background()
	const sets = 3000
	start := time.Now()
	for i := range sets {
		if _, err := s.Set(ctx, fmt.Sprint("k", i), []byte("value")); err != nil {
			t.Fatal(err)
		}
	}
	m.setRate = sets / time.Since(start).Seconds()
	_ = s.Close()

	// Catch-up: the writer writes n records, then a fresh node joins.
	a := startNode(t, disk("wa"))
	val := make([]byte, 100)
	for i := 0; i < n; i += 1000 {
		kvs := make([]KV, 0, 1000)
		for j := i; j < min(i+1000, n); j++ {
			kvs = append(kvs, KV{Key: fmt.Sprintf("key-%012d", j), Value: val})
		}
		if _, err := a.SetMany(ctx, kvs); err != nil {
			t.Fatal(err)
		}
	}
	if a.signer != nil {
		// Sealed off the write path: wait for the last batch.
		eventually(t, time.Minute, func() error {
			if got := a.signer.records.Load(); got < uint64(n) {
				return fmt.Errorf("%d of %d sealed", got, n)
			}
			return nil
		})
		m.batches, m.sealed = a.signer.batches.Load(), a.signer.records.Load()
	}
	self, _ := heldOf(a, a.ID())
	last := self.MaxVersion
	cfgB := disk("wb")
	cfgB.Seeds = []string{a.Addr()}
	cpu0 := cpuNow()
	start = time.Now()
	b := startNode(t, cfgB)
	eventually(t, 10*time.Minute, func() error {
		if v, ok := heldOf(b, a.ID()); !ok || v.MaxVersion < last {
			return fmt.Errorf("behind")
		}
		return nil
	})
	took := time.Since(start)
	m.catchRate = float64(n) / took.Seconds()
	m.cpuPerRec = float64((cpuNow() - cpu0).Microseconds()) / float64(n)
	_, in := b.counters.in.total()
	m.wirePerRec = float64(in) / float64(n)
	_ = b.Close()
	_ = a.Close()
	if du, err := dirUsage(cfgB.DataDir); err == nil {
		m.diskPerRec = float64(du.LSMBytes+du.VLogBytes) / float64(n)
	}
	return m
}
