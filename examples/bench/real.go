package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/leviathan-gossip/leviathan/internal/loadtest"
)

// Real-socket scenarios: nodes on loopback, receivers as separate processes
// (this binary re-executed in follower mode), Badger on disk.
var realScenarios = map[string]bool{"ingest": true, "catchup": true, "latency": true, "footprint": true, "cluster": true,
	"cgroup": true, "load": true, "overload": true, "signed": true}

type realOptions struct {
	keys      int
	value     int
	receivers string
	writes    int
	gossip    time.Duration
	idle      time.Duration
	seed      int64 // -seed, for the cluster scenario
	memLimit  string
	signed    string // -signed: off, on or both
	cgroup    cgroupOptions
}

func realFlags(fs *flag.FlagSet, o *realOptions) {
	fs.IntVar(&o.keys, "n", 1000000, "ingest, catchup, signed: keys the writer writes")
	fs.IntVar(&o.value, "value", 100, "ingest, catchup, signed: bytes per value")
	fs.StringVar(&o.receivers, "receivers", "1", "ingest, catchup: receiver processes; a comma-separated list runs each")
	fs.StringVar(&o.signed, "signed", "off", "ingest, catchup: off, on (the writer and receivers sign, signed = true, each with a key of its own and all pinned) or both (each run unsigned, then signed)")
	fs.StringVar(&o.memLimit, "memory-limit", "", "ingest, catchup, signed: the receivers' memory_limit (e.g. 192MiB); empty: none")
	fs.IntVar(&o.writes, "writes", 40, "latency, signed: writes measured")
	fs.IntVar(&signedSets, "sets", 3000, "signed: durable Sets timed, one at a time")
	fs.BoolVar(&signedClusterOnly, "cluster-only", false, "signed: run only the cluster pair (write-to-all latency, push bytes), not the durable Sets, catch-up and proof CPU")
	fs.DurationVar(&o.gossip, "gossip", time.Second, "latency, cluster, signed: gossip, heartbeat and health-check interval")
	fs.DurationVar(&o.idle, "idle", 20*time.Second, "footprint: how long the node idles before RSS and CPU are read")
	loadFlags(fs)
	fs.DurationVar(&clusterSoak, "soak", 0, "cluster: keep the real cluster running this long before the crash (false suspicions are counted over it)")
	cgroupFlags(fs, &o.cgroup)
}

// runReal runs one real-socket scenario; nodes is the latency cluster size.
func runReal(sc string, o realOptions, nodes int) ([]any, error) {
	dir, err := os.MkdirTemp("", "leviathan-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	switch sc {
	case "cluster":
		return runCluster(nodes, o.gossip, o.seed)
	case "load", "overload":
		return runLoad(sc, dir, nodes)
	case "latency":
		r, err := loadtest.Latency(nodes, o.writes, o.gossip, dir, 1)
		return []any{r}, err
	case "footprint":
		r, err := loadtest.Footprint(loadtest.Options{Dir: dir}, o.idle)
		return []any{r}, err
	case "cgroup":
		return runCgroup(o, dir)
	}
	receivers, err := ints(o.receivers)
	if err != nil {
		return nil, fmt.Errorf("-receivers: %w", err)
	}
	modes, ok := signedModes[o.signed]
	if !ok {
		return nil, fmt.Errorf("-signed %q: want off, on or both", o.signed)
	}
	var out []any
	for _, n := range receivers {
		for _, signed := range modes {
			r, err := runTransfer(sc, o, dir, n, signed)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// signedModes are the runs -signed asks for: unsigned, signed, or each.
var signedModes = map[string][]bool{"off": {false}, "on": {true}, "both": {false, true}}

// runTransfer runs one ingest or catch-up with receivers receiver
// processes.
func runTransfer(sc string, o realOptions, dir string, receivers int, signed bool) (loadtest.Result, error) {
	sub, err := os.MkdirTemp(dir, "run-")
	if err != nil {
		return loadtest.Result{}, err
	}
	lo := loadtest.Options{N: o.keys, ValueSize: o.value, Receivers: receivers, Dir: sub, MemoryLimit: o.memLimit,
		Signed: signed}
	if sc == "catchup" {
		return loadtest.CatchUp(lo)
	}
	return loadtest.Ingest(lo)
}
