package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/leviathan-gossip/leviathan/internal/loadtest"
	"github.com/leviathan-gossip/leviathan/node"
)

// cgroupOptions are the cgroup scenario's own flags; -n and -value size
// its catch-ups.
type cgroupOptions struct {
	limit  string
	holdN  int
	hold   time.Duration
	parent string
	rounds int
}

func cgroupFlags(fs *flag.FlagSet, o *cgroupOptions) {
	fs.StringVar(&o.limit, "cgroup-limit", "256MiB", "cgroup: the receivers' cgroup memory limit")
	fs.IntVar(&o.holdN, "hold-n", 10000000, "cgroup: keys the held receiver holds; 0 skips the hold")
	fs.DurationVar(&o.hold, "hold", time.Minute, "cgroup: how long the held receiver runs in the cgroup")
	fs.IntVar(&o.rounds, "cgroup-rounds", 1, "cgroup: pairs of catch-ups, without and with the limit, each pair's first in turn")
	fs.StringVar(&o.parent, "cgroup-parent", "", "cgroup: directory to create cgroups in (default: this process's own memory cgroup)")
}

// runCgroup runs receivers with the default config in memory cgroups (see
// loadtest.Cgroup).
func runCgroup(o realOptions, dir string) ([]any, error) {
	limit, err := node.ParseByteSize(o.cgroup.limit)
	if err != nil {
		return nil, fmt.Errorf("-cgroup-limit: %w", err)
	}
	rs, err := loadtest.Cgroup(loadtest.CgroupOptions{N: o.keys, HoldN: o.cgroup.holdN, ValueSize: o.value,
		Limit: limit, Hold: o.cgroup.hold, Rounds: o.cgroup.rounds, Parent: o.cgroup.parent, Dir: dir})
	out := make([]any, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out, err
}
