package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leviathan-gossip/leviathan/internal/loadtest"
	"github.com/leviathan-gossip/leviathan/node"
)

// The "signed" scenario measures signed = true against signed = false in
// one run, each measurement in both modes before the next:
//
//   - durable Sets: one node, Badger on disk, sync_writes on, Sets one
//     at a time (-sets of them), the median of setRounds runs of each;
//   - catch-up: the catchup scenario with one receiver process (-n
//     records of -value bytes), unsigned first, with the writer's and
//     the receiver's CPU, and the receiver's bytes received and on disk,
//     per record;
//   - a cluster: the cluster scenario's real half with -nodes nodes,
//     each with the node's own store in memory (memStore keeps no
//     proofs, so records would go unsigned), timing -writes writes,
//     unsigned first;
//   - the CPU of sealing and checking record proofs (proofcost.go).
//
// It prints the pairs side by side with the targets signing is held to,
// then the runs they come from. Every node gets a key file of its own in
// a scratch directory and pins every node's key; the receiver processes
// are handed that directory.

// SignedRow is one measurement, unsigned and signed.
type SignedRow struct {
	Scenario string  `json:"scenario"` // "signed"; the table leaves it out
	Metric   string  `json:"metric"`
	Unsigned float64 `json:"unsigned"`
	Signed   float64 `json:"signed"`
	Ratio    float64 `json:"signed_over_unsigned"`
	// Target is the bound on Ratio, e.g. "≥0.5"; "-" where the row is
	// reported only. Met is yes or no against it, "-" without one.
	Target string `json:"target"`
	Met    string `json:"met"`
}

// signedPair is one measurement in both modes.
type signedPair[T any] struct{ unsigned, signed T }

// signedSets (-sets) is how many durable Sets are timed.
var signedSets int

// signedClusterOnly (-cluster-only) runs only the cluster pair: the
// quick loop for write-to-all latency and push bytes.
var signedClusterOnly bool

func runSigned(p *printer, o realOptions, nodes int) error {
	dir, err := os.MkdirTemp("", "leviathan-bench-signed-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if signedClusterOnly {
		cl, err := pairOf(func(signed bool) (ClusterResult, error) { return signedCluster(dir, signed, nodes, o) })
		if err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		return printSigned(p, clusterRows(cl), signedPair[loadtest.Result]{}, cl, nil)
	}
	sets, err := durableSetPairs(dir, o.value)
	if err != nil {
		return fmt.Errorf("durable sets: %w", err)
	}
	catch, err := pairOf(func(signed bool) (loadtest.Result, error) {
		sub := filepath.Join(dir, "catchup-"+modeName(signed))
		return loadtest.CatchUp(loadtest.Options{N: o.keys, ValueSize: o.value, Receivers: 1, Dir: sub,
			MemoryLimit: o.memLimit, Signed: signed})
	})
	if err != nil {
		return fmt.Errorf("catch-up: %w", err)
	}
	cl, err := pairOf(func(signed bool) (ClusterResult, error) { return signedCluster(dir, signed, nodes, o) })
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	costs, err := proofCosts(o.value)
	if err != nil {
		return err
	}
	return printSigned(p, signedRows(sets, catch, cl), catch, cl, costs)
}

// pairOf runs f unsigned, then signed.
func pairOf[T any](f func(signed bool) (T, error)) (signedPair[T], error) {
	var out signedPair[T]
	var err error
	if out.unsigned, err = f(false); err != nil {
		return out, fmt.Errorf("unsigned: %w", err)
	}
	if out.signed, err = f(true); err != nil {
		return out, fmt.Errorf("signed: %w", err)
	}
	return out, nil
}

func modeName(signed bool) string {
	if signed {
		return "signed"
	}
	return "unsigned"
}

// setRounds is how many pairs of durable Set runs are timed, unsigned
// first in one round and signed first in the next, so that neither gains
// from going second; the comparison takes each mode's median, as a
// virtual disk's fsync time varies several-fold from one run to the next.
const setRounds = 6

func durableSetPairs(dir string, valueSize int) (signedPair[float64], error) {
	rates := map[bool][]float64{}
	for i := range setRounds {
		sub := filepath.Join(dir, "sets"+strconv.Itoa(i))
		for _, signed := range []bool{i%2 == 1, i%2 == 0} {
			r, err := durableSets(sub, signed, signedSets, valueSize)
			if err != nil {
				return signedPair[float64]{}, fmt.Errorf("%s: %w", modeName(signed), err)
			}
			rates[signed] = append(rates[signed], r)
		}
	}
	return signedPair[float64]{median(rates[false]), median(rates[true])}, nil
}

// median is the middle of xs, or the mean of the two in the middle.
func median(xs []float64) float64 {
	slices.Sort(xs)
	m := len(xs) / 2
	if len(xs)%2 == 0 {
		return round3((xs[m-1] + xs[m]) / 2)
	}
	return xs[m]
}

// durableSets times count Sets, one at a time, on a node that syncs each
// before it returns, and returns Sets per second.
func durableSets(dir string, signed bool, count, valueSize int) (float64, error) {
	cfg := node.DefaultConfig()
	cfg.Alias, cfg.Cluster, cfg.Port = "setter", "bench", 0
	cfg.DataDir = filepath.Join(dir, "sets-"+modeName(signed))
	cfg.SyncWrites = true
	if signed {
		keys, err := loadtest.NewKeys(filepath.Join(dir, "keys-sets"), cfg.Alias)
		if err != nil {
			return 0, err
		}
		keys.Sign(&cfg, cfg.Alias)
	}
	n, err := node.New(cfg)
	if err != nil {
		return 0, err
	}
	defer n.Close()
	if err := n.Start(); err != nil {
		return 0, err
	}
	val := make([]byte, valueSize)
	start := time.Now()
	for i := range count {
		if _, err := n.Set(context.Background(), "key-"+strconv.Itoa(i), val); err != nil {
			return 0, err
		}
	}
	return round3(float64(count) / time.Since(start).Seconds()), nil
}

// signedCluster runs the cluster scenario's real half, every node with
// the node's own store in memory, and signing when signed.
func signedCluster(dir string, signed bool, n int, o realOptions) (ClusterResult, error) {
	m := clusterMode{badger: true, writes: o.writes}
	if signed {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = clusterAlias(i)
		}
		var err error
		if m.keys, err = loadtest.NewKeys(filepath.Join(dir, "keys-cluster"), ids...); err != nil {
			return ClusterResult{}, err
		}
	}
	r, err := realCluster(n, o.gossip, o.seed, m)
	r.Mode = "badger-" + modeName(signed)
	return r, err
}

func signedRows(sets signedPair[float64], c signedPair[loadtest.Result], cl signedPair[ClusterResult]) []SignedRow {
	n, nodes := c.unsigned.N, cl.unsigned.Nodes
	return []SignedRow{
		row(fmt.Sprintf("catchup_records_per_s n=%d", n), c.unsigned.NodePerS, c.signed.NodePerS, "≥0.5"),
		row("durable_set_per_s", sets.unsigned, sets.signed, "≥0.5"),
		row(fmt.Sprintf("idle_b_per_node_per_s nodes=%d", nodes), cl.unsigned.IdleBytes, cl.signed.IdleBytes, "≤1.5"),
		row(fmt.Sprintf("write_all_ms_p50 nodes=%d", nodes), latencyMs(cl.unsigned.lat, 0.5), latencyMs(cl.signed.lat, 0.5), "≤1.1"),
		row(fmt.Sprintf("write_all_ms_max nodes=%d", nodes), latencyMs(cl.unsigned.lat, 1), latencyMs(cl.signed.lat, 1), "-"),
		row("catchup_writer_cpu_us_per_record", c.unsigned.WriterCPUus, c.signed.WriterCPUus, "-"),
		row("catchup_receiver_cpu_us_per_record", c.unsigned.ReceiverCPUus, c.signed.ReceiverCPUus, "-"),
		row("catchup_wire_b_per_record", c.unsigned.WireBytes, c.signed.WireBytes, "-"),
		row("catchup_disk_b_per_record", c.unsigned.DiskBytes, c.signed.DiskBytes, "-"),
		row(fmt.Sprintf("push_b_per_record nodes=%d", nodes), cl.unsigned.PushBytesPerRecord, cl.signed.PushBytesPerRecord, "-"),
		row(fmt.Sprintf("join_s nodes=%d", nodes), cl.unsigned.JoinS, cl.signed.JoinS, "-"),
	}
}

// clusterRows is signedRows' cluster rows alone, for -cluster-only.
func clusterRows(cl signedPair[ClusterResult]) []SignedRow {
	nodes := cl.unsigned.Nodes
	return []SignedRow{
		row(fmt.Sprintf("idle_b_per_node_per_s nodes=%d", nodes), cl.unsigned.IdleBytes, cl.signed.IdleBytes, "≤1.5"),
		row(fmt.Sprintf("write_all_ms_p50 nodes=%d", nodes), latencyMs(cl.unsigned.lat, 0.5), latencyMs(cl.signed.lat, 0.5), "≤1.1"),
		row(fmt.Sprintf("write_all_ms_max nodes=%d", nodes), latencyMs(cl.unsigned.lat, 1), latencyMs(cl.signed.lat, 1), "-"),
		row(fmt.Sprintf("push_b_per_record nodes=%d", nodes), cl.unsigned.PushBytesPerRecord, cl.signed.PushBytesPerRecord, "-"),
		row(fmt.Sprintf("join_s nodes=%d", nodes), cl.unsigned.JoinS, cl.signed.JoinS, "-"),
	}
}

// latencyMs is the q-quantile of sorted write-to-all latencies, in
// milliseconds to the microsecond: on a small cluster a push reaches
// every node within a millisecond.
func latencyMs(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return -1
	}
	return round3(float64(sorted[int(q*float64(len(sorted)-1))].Microseconds()) / 1e3)
}

// row compares signed with unsigned against target: "≥x" or "≤x" on
// their ratio, or "-".
func row(metric string, unsigned, signed float64, target string) SignedRow {
	r := SignedRow{Scenario: "signed", Metric: metric, Unsigned: unsigned, Signed: signed, Target: target, Met: "-"}
	if unsigned != 0 {
		r.Ratio = round3(signed / unsigned)
	}
	b, atLeast := strings.CutPrefix(target, "≥")
	if !atLeast {
		b, _ = strings.CutPrefix(target, "≤")
	}
	bound, err := strconv.ParseFloat(b, 64)
	if err != nil || unsigned == 0 {
		return r
	}
	ok := r.Ratio <= bound
	if atLeast {
		ok = r.Ratio >= bound
	}
	r.Met = map[bool]string{true: "yes", false: "no"}[ok]
	return r
}

// printSigned adds the comparison and then the runs it came from, each
// to a table of its own.
func printSigned(p *printer, rows []SignedRow, c signedPair[loadtest.Result], cl signedPair[ClusterResult], costs []ProofCost) error {
	var errs []error
	add := func(table string, r any) { errs = append(errs, p.add(table, r)) }
	for _, r := range rows {
		add("signed", r)
	}
	for _, r := range costs {
		add("signed-proof-cpu", r)
	}
	if c.unsigned.N != 0 {
		add("signed-catchup", c.unsigned)
		add("signed-catchup", c.signed)
	}
	add("signed-cluster", cl.unsigned)
	add("signed-cluster", cl.signed)
	return errors.Join(errs...)
}
