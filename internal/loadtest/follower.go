package loadtest

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/leviathan-gossip/leviathan/node"
)

// FollowerMain runs a receiver process: a node that joins through a seed,
// reports (one JSON line on stdout) when it holds the writer's keys up to
// the target version, then idles until interrupted. It returns the exit
// code. For profiling, the environment may set
// LEVIATHAN_LOADTEST_CPUPROFILE and LEVIATHAN_LOADTEST_MEMPROFILE (files;
// the heap is written when the target is reached),
// LEVIATHAN_LOADTEST_PROGRESS (a progress line a second on stderr) and
// LEVIATHAN_LOADTEST_DEBUG (the node's debug log on stderr).
func FollowerMain(args []string) int {
	if isSustained(args) {
		return sustainedMain(args)
	}
	fs := flag.NewFlagSet("follower", flag.ContinueOnError)
	dir := fs.String("follower-dir", "", "data directory")
	seed := fs.String("follower-seed", "", "writer's gossip address")
	target := fs.Uint64("follower-target", 0, "writer version to wait for")
	alias := fs.String("follower-alias", "follower", "alias")
	idle := fs.Duration("follower-idle", 0, "after the target: stay idle this long and report idle RSS and CPU")
	memLimit := fs.String("follower-memory-limit", "", "the node's memory_limit (e.g. 192MiB); empty: none")
	keysDir := fs.String("follower-keys", "", "sign with the key of this alias in this directory and trust the keys pinned there (see Keys)")
	var hold holdSpec
	fs.DurationVar(&hold.d, "follower-hold", 0, "after the target: keep running this long, reading, and report the hold")
	fs.Uint64Var(&hold.target, "follower-hold-target", 0, "hold: writer version to hold by the hold's end")
	fs.IntVar(&hold.keys, "follower-hold-keys", 0, "hold: read random writer keys below this index")
	// Unknown flags (a test binary's) are ignored: parse what we know.
	if err := fs.Parse(onlyFollowerFlags(args)); err != nil {
		return 2
	}
	if path := os.Getenv("LEVIATHAN_LOADTEST_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	cfg := node.DefaultConfig()
	cfg.Alias, cfg.Cluster, cfg.Port, cfg.DataDir = *alias, "loadtest", 0, *dir
	if *memLimit != "" {
		limit, err := node.ParseByteSize(*memLimit)
		if err != nil {
			fmt.Fprintln(os.Stderr, "follower: -follower-memory-limit:", err)
			return 2
		}
		cfg.MemoryLimit = limit
	}
	if *keysDir != "" {
		keys, err := LoadKeys(*keysDir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "follower:", err)
			return 2
		}
		keys.Sign(&cfg, cfg.Alias)
	}

	if *seed != "" {
		cfg.Seeds = []string{*seed}
	}
	var opts []node.Option
	if os.Getenv("LEVIATHAN_LOADTEST_DEBUG") != "" {
		opts = append(opts, node.WithLogger(zerolog.New(os.Stderr).Level(zerolog.DebugLevel).With().Timestamp().Logger()))
	}
	n, err := node.New(cfg, opts...)
	if err == nil {
		err = n.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "follower:", err)
		return 1
	}
	defer n.Close()
	started := time.Now()
	goLimit := debug.SetMemoryLimit(-1)
	if goLimit == math.MaxInt64 {
		goLimit = 0
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	lastLog := time.Now()
	// The kernel keeps no peak of anonymous memory: sample it. RSS (VmHWM)
	// also counts the pages of Badger's memory-mapped tables that were
	// read, which are page cache the kernel reclaims under pressure.
	var peak memSample
	ticks := 0
	for !reached(n, "writer", *target) {
		if ticks++; ticks%10 == 0 {
			peak = peak.max(sampleMem())
		}
		if os.Getenv("LEVIATHAN_LOADTEST_PROGRESS") != "" && time.Since(lastLog) > time.Second {
			lastLog = time.Now()
			m := sampleMem()
			for _, p := range n.Peers() {
				fmt.Fprintf(os.Stderr, "progress %s %d rss=%.0fMB anon=%.0fMB file=%.0fMB\n",
					p.ID, p.MaxVersion, procStatusKB("VmRSS")/1024, m.anonKB/1024, m.fileKB/1024)
			}
		}
		select {
		case <-sigs:
			return 1
		case <-tick.C:
		}
	}
	done := time.Now()
	if path := os.Getenv("LEVIATHAN_LOADTEST_MEMPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	report := map[string]any{"done_unix_nano": done.UnixNano(), "started_unix_nano": started.UnixNano(), "go_memory_limit": goLimit,
		"bytes_in": n.Status().Stats.BytesIn}
	if hold.d > 0 {
		h, interrupted := hold.run(n, &peak, sigs)
		if interrupted {
			return 1
		}
		report["hold"] = h
	}
	peak = peak.max(sampleMem())
	report["peak_rss_kb"], report["peak_anon_kb"], report["peak_file_kb"] = procStatusKB("VmHWM"), peak.anonKB, peak.fileKB
	report["cpu_seconds"] = cpuSeconds()
	if *idle > 0 {
		cpu0 := cpuSeconds()
		select {
		case <-sigs:
			return 1
		case <-time.After(*idle):
		}
		report["idle_rss_kb"] = procStatusKB("VmRSS")
		report["idle_cpu_percent"] = 100 * (cpuSeconds() - cpu0) / idle.Seconds()
	}
	out, _ := json.Marshal(report)
	fmt.Println(string(out))
	<-sigs
	return 0
}

func onlyFollowerFlags(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if strings.HasPrefix(args[i], "-follower-") {
			out = append(out, args[i])
			if !strings.Contains(args[i], "=") && i+1 < len(args) {
				out = append(out, args[i+1])
				i++
			}
		}
	}
	return out
}

func reached(n *node.Node, writer string, target uint64) bool {
	if target == 0 {
		return true
	}
	for _, p := range n.Peers() {
		if p.ID == writer {
			return p.MaxVersion >= target
		}
	}
	return false
}

// memSample is the process's resident memory in two parts: anonymous
// (heap, stacks, Badger's arenas and table builders) and file-backed (the
// pages of Badger's memory-mapped tables and logs that were touched: page
// cache, which the kernel reclaims under pressure).
type memSample struct{ anonKB, fileKB float64 }

func sampleMem() memSample {
	return memSample{anonKB: procStatusKB("RssAnon"), fileKB: procStatusKB("RssFile")}
}

func (m memSample) max(o memSample) memSample {
	return memSample{anonKB: max(m.anonKB, o.anonKB), fileKB: max(m.fileKB, o.fileKB)}
}

// procStatusKB reads a kB field of /proc/self/status (0 where unavailable).
func procStatusKB(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			v, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return v
		}
	}
	return 0
}

// cpuSeconds is the process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// holdSpec is a follower's hold: it keeps running for d, reading random
// writer keys below keys and sampling its memory, and then waits briefly
// for the writer's version target.
type holdSpec struct {
	d      time.Duration
	target uint64
	keys   int
}

// holdReport is what a hold measured.
type holdReport struct {
	Seconds float64 `json:"seconds"`
	Reads   int     `json:"reads"`
	Misses  int     `json:"misses"` // reads of a key the writer wrote that found nothing
	// Behind is how many of the writer's versions up to the target the
	// follower lacked at the end of the hold.
	Behind uint64 `json:"behind"`
}

// holdReadEvery paces the hold's reads, a hundred a second: enough to
// touch tables across the whole key range, too few to make the hold a
// read benchmark.
const holdReadEvery = 10 * time.Millisecond

// holdGrace is how long past the hold the follower waits for the target:
// the writer's last writes need a gossip round or two to arrive.
const holdGrace = 10 * time.Second

// run holds; interrupted reports a signal that ended it early.
func (h holdSpec) run(n *node.Node, peak *memSample, sigs <-chan os.Signal) (r holdReport, interrupted bool) {
	start := time.Now()
	tick := time.NewTicker(holdReadEvery)
	defer tick.Stop()
	for i := 0; time.Since(start) < h.d || (!reached(n, "writer", h.target) && time.Since(start) < h.d+holdGrace); i++ {
		if i%5 == 0 {
			*peak = peak.max(sampleMem())
		}
		if h.keys > 0 {
			r.Reads++
			if _, err := n.Get(context.Background(), "writer", key(rand.IntN(h.keys))); err != nil {
				r.Misses++
			}
		}
		select {
		case <-sigs:
			return r, true
		case <-tick.C:
		}
	}
	r.Seconds = time.Since(start).Seconds()
	r.Behind = h.target
	for _, p := range n.Peers() {
		if p.ID == "writer" {
			r.Behind = h.target - min(h.target, p.MaxVersion)
		}
	}
	return r, false
}
