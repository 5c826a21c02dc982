package loadtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/leviathan-gossip/leviathan/node"
)

// CgroupOptions size the cgroup scenario: receivers with the default
// config (no memory_limit) in a memory cgroup, which the node has to fit
// by reading the cgroup's limit itself.
type CgroupOptions struct {
	N         int           // keys of each catch-up
	HoldN     int           // keys the held node holds; 0 skips the hold
	ValueSize int           // bytes per value
	Limit     int64         // the cgroup's memory limit in bytes
	Hold      time.Duration // how long the held node runs in the cgroup
	Rounds    int           // pairs of catch-ups, unlimited and limited
	// Parent is the cgroup directory to create cgroups in; empty: this
	// process's own memory cgroup.
	Parent string
	Dir    string // scratch directory; removed by the caller
	Exe    string // as in Options
	Args   []string
}

// CgroupResult is one receiver of the cgroup scenario.
type CgroupResult struct {
	Scenario string `json:"scenario"`
	// Case is "catchup" (a fresh receiver takes N keys) or "hold" (a
	// receiver already holding N keys restarts and runs for HoldS while
	// the writer writes a trickle and the receiver serves random reads).
	Case  string `json:"case"`
	N     int    `json:"n"`
	Limit string `json:"cgroup_limit"` // "none": a cgroup for accounting only
	// GoLimitMB is the Go memory limit the receiver's node set at Start.
	GoLimitMB float64 `json:"go_limit_mb"`
	PerS      float64 `json:"records_per_s"` // catch-up: N over the time to hold all
	VsNone    float64 `json:"vs_no_limit"`   // catch-up: PerS over the unlimited one's
	Seconds   float64 `json:"seconds"`       // catch-up: time to hold all; hold: its length
	BootS     float64 `json:"boot_s"`        // process launch to a started node
	// PeakCgroupMB is the cgroup's peak charge: anonymous memory and the
	// page cache of Badger's files, which the kernel reclaims at the limit.
	PeakCgroupMB float64 `json:"peak_cgroup_mb"`
	PeakRSSMB    float64 `json:"peak_rss_mb"`
	PeakAnonMB   float64 `json:"peak_anon_mb"`
	PeakFileMB   float64 `json:"peak_file_mb"`
	Reads        int     `json:"reads"`  // hold: random reads of the writer's keys
	Misses       int     `json:"misses"` // hold: reads that found nothing
	Behind       uint64  `json:"behind"` // hold: writer versions missing at its end
	OOMKills     int     `json:"oom_kills"`
	Exit         string  `json:"exit"` // "ok", or how the receiver ended
}

// holdWriteEvery and holdWriteBatch pace the writer's trickle during the
// hold: 100 updates a second, over its first four fifths.
const (
	holdWriteEvery = 100 * time.Millisecond
	holdWriteBatch = 10
)

// Cgroup runs, against one writer: Rounds pairs of N-key catch-ups, by a
// receiver in an unlimited cgroup and by one in a cgroup limited to
// Limit; then, with HoldN > 0, a HoldN-key catch-up without limit and
// that receiver's restart and hold in a limited cgroup.
func Cgroup(o CgroupOptions) ([]CgroupResult, error) {
	if o.N < 1 || (o.HoldN != 0 && o.HoldN < o.N) || o.Limit <= 0 {
		return nil, fmt.Errorf("loadtest: cgroup: want N ≥ 1, HoldN 0 or ≥ N and a limit, have %d, %d, %d", o.N, o.HoldN, o.Limit)
	}
	home, err := openCgroupHome(o.Parent)
	if err != nil {
		return nil, err
	}
	home.sweep()
	w, err := startWriter(o.Dir, nil)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	if _, _, err := writeKeys(w, 0, o.N, o.ValueSize); err != nil {
		return nil, err
	}
	c := cgroupRun{o: o, home: home, w: w}
	var out []CgroupResult
	for round := 0; round < max(1, o.Rounds); round++ {
		pair, err := c.catchUpPair(round)
		out = append(out, pair...)
		if err != nil {
			return out, err
		}
	}
	if o.HoldN <= 0 {
		return out, nil
	}
	if _, _, err := writeKeys(w, o.N, o.HoldN, o.ValueSize); err != nil {
		return out, err
	}
	filled, err := c.catchUp("hold", uint64(o.HoldN), 0)
	if err != nil {
		return out, err
	}
	held, err := c.hold("hold", o.Limit)
	return append(out, filled, held), err
}

// catchUpPair runs the unlimited and the limited catch-up, in turns
// first, so that neither always finds the writer's caches warm.
func (c cgroupRun) catchUpPair(round int) ([]CgroupResult, error) {
	limits := []int64{0, c.o.Limit}
	if round%2 == 1 {
		limits[0], limits[1] = limits[1], limits[0]
	}
	var free, limited CgroupResult
	for _, limit := range limits {
		name := fmt.Sprintf("catchup-%d-%s", round, limitName(limit))
		r, err := c.catchUp(name, uint64(c.o.N), limit)
		if err != nil {
			return nil, err
		}
		if limit == 0 {
			free = r
		} else {
			limited = r
		}
	}
	if free.PerS > 0 {
		limited.VsNone = round3(limited.PerS / free.PerS)
	}
	return []CgroupResult{free, limited}, nil
}

type cgroupRun struct {
	o    CgroupOptions
	home cgroupHome
	w    *node.Node
}

// launch starts a receiver with data directory name in a fresh cgroup.
func (c cgroupRun) launch(name string, limit int64, target uint64, extra ...string) (*memCgroup, *follower, time.Time, error) {
	cg, err := c.home.create(fmt.Sprintf("leviathan-bench-%d-%s", os.Getpid(), name), limit)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	lo := Options{N: c.o.N, ValueSize: c.o.ValueSize, Receivers: 1, Dir: filepath.Join(c.o.Dir, name),
		Exe: c.o.Exe, Args: append(append([]string(nil), c.o.Args...), extra...), CgroupProcs: cg.procs()}
	launched := time.Now()
	f, err := startFollower(lo, 0, c.w.Addr(), target)
	if err != nil {
		return nil, nil, launched, errors.Join(err, cg.remove())
	}
	return cg, f, launched, nil
}

// catchUp has a fresh receiver in data directory name take the writer's
// keys up to version target.
func (c cgroupRun) catchUp(name string, target uint64, limit int64) (CgroupResult, error) {
	res := CgroupResult{Scenario: "cgroup", Case: "catchup", N: int(target), Limit: limitName(limit)}
	cg, f, launched, err := c.launch(name, limit, target)
	if err != nil {
		return res, err
	}
	r, waitErr := f.wait(10 * time.Minute)
	if waitErr == nil {
		res.Seconds = r.done.Sub(launched).Seconds()
		res.PerS = float64(target) / res.Seconds
	}
	return res, c.finish(&res, cg, f, launched, r, waitErr)
}

// hold restarts the receiver that holds the writer's HoldN keys in a
// cgroup limited to limit and lets it run for the hold, while the writer
// writes a trickle of updates it must receive.
func (c cgroupRun) hold(name string, limit int64) (CgroupResult, error) {
	res := CgroupResult{Scenario: "cgroup", Case: "hold", N: c.o.HoldN, Limit: limitName(limit)}
	updates := int(c.o.Hold*4/5/holdWriteEvery) * holdWriteBatch
	base := uint64(c.o.HoldN)
	cg, f, launched, err := c.launch(name, limit, base,
		"-follower-hold", c.o.Hold.String(),
		"-follower-hold-target", strconv.FormatUint(base+uint64(updates), 10),
		"-follower-hold-keys", strconv.Itoa(c.o.HoldN))
	if err != nil {
		return res, err
	}
	trickle := make(chan error, 1)
	go func() { trickle <- c.trickle(updates) }()
	r, waitErr := f.wait(c.o.Hold + holdGrace + 5*time.Minute)
	res.Seconds = r.Hold.Seconds
	res.Reads, res.Misses, res.Behind = r.Hold.Reads, r.Hold.Misses, r.Hold.Behind
	err = c.finish(&res, cg, f, launched, r, waitErr)
	return res, errors.Join(err, <-trickle)
}

// trickle writes updates of the writer's first keys at holdWriteEvery.
func (c cgroupRun) trickle(updates int) error {
	tick := time.NewTicker(holdWriteEvery)
	defer tick.Stop()
	for i := 0; i < updates; i += holdWriteBatch {
		<-tick.C
		kvs := make([]node.KV, 0, holdWriteBatch)
		for j := i; j < i+holdWriteBatch; j++ {
			kvs = append(kvs, node.KV{Key: key(j % c.o.HoldN), Value: value(c.o.ValueSize, j+1)})
		}
		if _, err := c.w.SetMany(context.Background(), kvs); err != nil {
			return fmt.Errorf("loadtest: hold: write: %w", err)
		}
	}
	return nil
}

// finish stops the receiver, reads its cgroup and removes it. A receiver
// that ended early (the OOM killer's SIGKILL) is a result, not an error:
// its row says how it ended.
func (c cgroupRun) finish(res *CgroupResult, cg *memCgroup, f *follower, launched time.Time, r followerReport, waitErr error) error {
	exitedEarly := false
	select {
	case <-f.exited:
		exitedEarly = true
	default:
	}
	f.stop()
	res.Exit = "ok"
	if waitErr != nil {
		fmt.Fprintf(os.Stderr, "loadtest: cgroup %s: %v\n", res.Case, waitErr)
		switch {
		case !exitedEarly:
			res.Exit = "timeout"
		case f.waitErr != nil:
			res.Exit = f.waitErr.Error() // "signal: killed"
		default:
			res.Exit = "exit status 0"
		}
	}
	var err error
	res.OOMKills, err = cg.oomKills()
	res.PeakCgroupMB = float64(cg.peakBytes()) / (1 << 20)
	if dropErr := cg.dropCache(); dropErr != nil {
		fmt.Fprintf(os.Stderr, "loadtest: cgroup %s: the next receiver may find this one's files cached: %v\n", res.Case, dropErr)
	}
	err = errors.Join(err, cg.remove())
	if waitErr == nil {
		res.BootS = time.Unix(0, r.StartedUnixNano).Sub(launched).Seconds()
		res.GoLimitMB = float64(r.GoMemoryLimit) / (1 << 20)
		res.PeakRSSMB, res.PeakAnonMB, res.PeakFileMB = r.PeakRSSKB/1024, r.PeakAnonKB/1024, r.PeakFileKB/1024
	}
	for _, v := range []*float64{&res.GoLimitMB, &res.PerS, &res.Seconds, &res.BootS, &res.PeakCgroupMB, &res.PeakRSSMB, &res.PeakAnonMB, &res.PeakFileMB} {
		*v = round3(*v)
	}
	return err
}

func limitName(limit int64) string {
	if limit <= 0 {
		return "none"
	}
	if limit%(1<<20) == 0 {
		return fmt.Sprintf("%dMiB", limit>>20)
	}
	return strconv.FormatInt(limit, 10)
}
