package main

import (
	"flag"
	"os"
	"time"

	"github.com/leviathan-gossip/leviathan/internal/loadtest"
)

// The "load" and "overload" scenarios run N nodes, each its own process
// of this binary, all writing at once at a paced rate (see
// loadtest.Sustained): load at a rate the cluster should carry, overload
// at one it cannot.

// loadDefaults are each scenario's rate per node and cluster size when
// -rate and -nodes are not given (their defaults are other scenarios').
var loadDefaults = map[string]struct {
	rate  float64
	nodes int
}{"load": {200, 20}, "overload": {5000, 20}}

// loadOpts holds the load flags, and -rate, -duration and -nodes when given.
var loadOpts struct {
	rate     float64
	duration time.Duration
	nodesSet bool
	writers  int
	sample   int
	drain    time.Duration
}

func loadFlags(fs *flag.FlagSet) {
	fs.IntVar(&loadOpts.writers, "writers", 0, "load, overload: goroutines per node calling Set (default one per 200 records/s)")
	fs.IntVar(&loadOpts.sample, "sample", 0, "load, overload: time every n-th record to all nodes (default 20, sparser past 12,000 records per node)")
	fs.DurationVar(&loadOpts.drain, "drain", 5*time.Minute, "load, overload: longest wait, after the writes, for every node to hold every record")
}

// loadFromFlags takes -rate, -duration and -nodes for the load scenarios
// only when they were given.
func loadFromFlags(fs *flag.FlagSet, o options) {
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "rate":
			loadOpts.rate = o.rate
		case "duration":
			loadOpts.duration = o.duration
		case "nodes":
			loadOpts.nodesSet = true
		}
	})
}

func runLoad(sc, dir string, nodes int) ([]any, error) {
	def := loadDefaults[sc]
	o := loadtest.SustainedOptions{Scenario: sc, Nodes: nodes, Rate: loadOpts.rate, Duration: loadOpts.duration,
		ValueSize: 100, Writers: loadOpts.writers, Sample: loadOpts.sample, Drain: loadOpts.drain,
		Dir: dir, Progress: os.Stderr}
	if !loadOpts.nodesSet {
		o.Nodes = def.nodes
	}
	if o.Rate == 0 {
		o.Rate = def.rate
	}
	if o.Duration == 0 {
		o.Duration = time.Minute
	}
	r, err := loadtest.Sustained(o)
	return []any{r}, err
}
