// Command bench runs Leviathan's simulated-cluster scenarios and prints
// the numbers users compare gossip libraries on: how fast a write reaches
// every node, how fast a crash is detected, how stale views get under
// churn, and what it costs in bytes and messages.
//
//	go run ./examples/bench -scenario convergence -nodes 100 -drop 0.1
//	go run ./examples/bench -scenario all -json
//	go run ./examples/bench -scenario ingest -n 1000000 -receivers 1,3
//	go run ./examples/bench -scenario latency -nodes 4,20 -gossip 200ms
//	go run ./examples/bench -scenario cluster -nodes 20,100 -gossip 1s
//	go run ./examples/bench -scenario cgroup -n 1000000 -hold-n 10000000
//	go run ./examples/bench -scenario load -nodes 20 -rate 200 -duration 60s
//	go run ./examples/bench -scenario signed -n 1000000 -nodes 100
//
// convergence, detection and churn run in simulated time (gossip,
// heartbeat and health check every 1 s, fanout 3, phi threshold 8, MTU
// 1400); the same seed gives the same numbers. ingest, catchup, latency
// and footprint run real nodes on loopback with Badger on disk, receivers
// as separate processes of this binary. cluster runs N real nodes in this
// process on loopback and then the simulator with the same settings,
// printing one row of each (see cluster.go). cgroup runs receivers with
// the default config in memory cgroups, one limited to 256 MiB, as root
// (see cgroup.go). load and overload run N nodes as N processes of this
// binary, all writing at once (see load.go). signed measures signed =
// true against unsigned, pair by pair: durable Sets, a catch-up, a
// cluster, and the CPU of record proofs (see signed.go).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/leviathan-gossip/leviathan/internal/loadtest"
	"github.com/leviathan-gossip/leviathan/internal/sim"
)

type options struct {
	scenario string
	nodes    string
	drops    string
	seed     int64
	duration time.Duration
	json     bool
	flow     bool
	rate     float64
	budget   int
	mtu      int
	push     int
	warmup   time.Duration
	profile  string
	block    string
	mem      string
	real     realOptions
}

func main() {
	if os.Getenv(loadtest.FollowerEnv) != "" {
		os.Exit(loadtest.FollowerMain(os.Args[1:]))
	}
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.scenario, "scenario", "convergence", "convergence, detection, churn (simulated), ingest, catchup, latency, footprint, cgroup, load, overload (real sockets), cluster (real and simulated side by side), signed (signed = true against unsigned), a comma-separated list, or all (the simulated ones)")
	fs.StringVar(&o.nodes, "nodes", "100", "cluster size; a comma-separated list runs each")
	fs.StringVar(&o.drops, "drop", "0", "fraction of datagrams lost; a comma-separated list runs each")
	fs.Int64Var(&o.seed, "seed", 1, "random seed; the same seed gives the same run")
	fs.DurationVar(&o.duration, "duration", 0, "measured window in simulated time (default: convergence 30s, detection 10m, churn 2m); load, overload: how long each node writes, 1m unless given")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per result instead of a table")
	fs.BoolVar(&o.flow, "flow", false, "churn: writers wait for the engine's flow control (AIMD)")
	fs.Float64Var(&o.rate, "rate", 1, "churn, load, overload: writes per second per node; load and overload take 200 and 5000 unless given")
	fs.IntVar(&o.budget, "budget", 0, "stream message budget in bytes (default 4 MiB, as the node)")
	fs.DurationVar(&o.warmup, "warmup", 60*time.Second, "longest wait for the cluster to form (each node seeing 99% of the others alive) before measuring")
	fs.IntVar(&o.mtu, "mtu", 1400, "largest datagram in bytes; a Syn's digest must fit one")
	fs.IntVar(&o.push, "push", 0, "peers a committed write is pushed to at once (push_fanout); 0: the node's default, -1: off")
	fs.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile to this file")
	fs.StringVar(&o.mem, "memprofile", "", "write a heap profile, taken when the scenarios end, to this file")
	fs.StringVar(&o.block, "blockprofile", "", "write a profile of where goroutines waited (locks, channels) longer than 10 µs to this file")
	realFlags(fs, &o.real)
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.real.seed = o.seed
	loadFromFlags(fs, o)
	clusterPush = o.push
	if o.profile != "" {
		f, err := os.Create(o.profile)
		if err != nil {
			return fmt.Errorf("cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if o.mem != "" {
		defer func() {
			if f, err := os.Create(o.mem); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	if o.block != "" {
		runtime.SetBlockProfileRate(int((10 * time.Microsecond).Nanoseconds()))
		defer func() {
			if f, err := os.Create(o.block); err == nil {
				_ = pprof.Lookup("block").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	// A simulation allocates many short-lived messages over a large live
	// heap; collecting less often saves a fifth of the run time.
	debug.SetGCPercent(200)
	nodes, err := ints(o.nodes)
	if err != nil {
		return fmt.Errorf("-nodes: %w", err)
	}
	drops, err := floats(o.drops)
	if err != nil {
		return fmt.Errorf("-drop: %w", err)
	}
	scenarios := strings.Split(o.scenario, ",")
	if o.scenario == "all" {
		scenarios = []string{"convergence", "detection", "churn"}
	}
	p := newPrinter(out, o.json)
	for _, sc := range scenarios {
		if realScenarios[sc] {
			if err := addReal(p, sc, o, nodes); err != nil {
				return err
			}
			continue
		}
		for _, n := range nodes {
			for _, d := range drops {
				r, err := runOne(sc, o, n, d)
				if err != nil {
					return err
				}
				if err := p.add(sc, r); err != nil {
					return err
				}
			}
		}
	}
	return p.flush()
}

func runOne(sc string, o options, nodes int, drop float64) (any, error) {
	p := sim.Params{Nodes: nodes, Drop: drop, Seed: o.seed, Duration: o.duration,
		Flow: o.flow, WriteRate: o.rate, MessageBudget: o.budget, MTU: o.mtu, WarmupLimit: o.warmup,
		PushFanout: o.push}
	start := time.Now()
	wall := func(c *sim.Common) {
		c.WallS = float64(time.Since(start).Milliseconds()) / 1000
		for _, v := range c.Violated {
			fmt.Fprintf(os.Stderr, "bench: %s n=%d drop=%v: violation: %s\n", sc, nodes, drop, v)
		}
	}
	switch sc {
	case "convergence":
		r, err := sim.Convergence(p)
		if err == nil {
			wall(&r.Common)
		}
		return r, err
	case "detection":
		r, err := sim.Detection(p)
		if err == nil {
			wall(&r.Common)
		}
		return r, err
	case "churn":
		r, err := sim.Churn(p)
		if err == nil {
			wall(&r.Common)
		}
		return r, err
	}
	return nil, fmt.Errorf("unknown scenario %q (want convergence, detection, churn or all)", sc)
}

// addReal runs a real-socket scenario: latency and cluster once per
// cluster size, the others once.
func addReal(p *printer, sc string, o options, nodes []int) error {
	if sc == "signed" {
		if err := runSigned(p, o.real, nodes[0]); err != nil {
			return fmt.Errorf("%s: %w", sc, err)
		}
		return nil
	}
	sizes := nodes
	if sc != "latency" && sc != "cluster" {
		sizes = nodes[:1]
	}
	for _, n := range sizes {
		rs, err := runReal(sc, o.real, n)
		if err != nil {
			return fmt.Errorf("%s: %w", sc, err)
		}
		for _, r := range rs {
			if err := p.add(sc, r); err != nil {
				return err
			}
		}
	}
	return nil
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func floats(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v < 0 || v >= 1 {
			return nil, fmt.Errorf("%q is not a fraction in [0,1)", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// printer writes results as they come (JSON) or as one aligned table per
// scenario at the end.
type printer struct {
	out    io.Writer
	json   bool
	tables map[string][][]string
	order  []string
}

func newPrinter(out io.Writer, asJSON bool) *printer {
	return &printer{out: out, json: asJSON, tables: make(map[string][][]string)}
}

func (p *printer) add(sc string, r any) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	if p.json {
		_, err := fmt.Fprintln(p.out, string(b))
		return err
	}
	// The table's columns are the JSON fields, in declaration order.
	keys, vals, err := fields(b)
	if err != nil {
		return err
	}
	if _, ok := p.tables[sc]; !ok {
		p.order = append(p.order, sc)
		p.tables[sc] = [][]string{keys}
	}
	p.tables[sc] = append(p.tables[sc], vals)
	return nil
}

// fields lists a flat JSON object's keys and values in order.
func fields(b []byte) (keys, vals []string, err error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("decode result: %w", err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("decode result: %w", err)
		}
		v, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("decode result: %w", err)
		}
		if k == "scenario" || k == "seed" {
			continue
		}
		keys = append(keys, fmt.Sprint(k))
		vals = append(vals, fmt.Sprint(v))
	}
	return keys, vals, nil
}

func (p *printer) flush() error {
	if p.json {
		return nil
	}
	var errs []error
	for _, sc := range p.order {
		fmt.Fprintf(p.out, "== %s\n", sc)
		w := tabwriter.NewWriter(p.out, 0, 0, 2, ' ', tabwriter.AlignRight)
		for _, row := range p.tables[sc] {
			fmt.Fprintln(w, strings.Join(row, "\t")+"\t")
		}
		errs = append(errs, w.Flush())
		fmt.Fprintln(p.out)
	}
	return errors.Join(errs...)
}
