// Package loadtest measures real nodes on loopback: raw Badger against the
// node's end-to-end ingest, catch-up of a node that was down, write-to-all
// latency and memory footprint. Receivers run as separate OS processes (the
// calling binary re-executed in follower mode, see FollowerMain), so that
// their memory is their own and their disk work competes as it would in
// production.
package loadtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/leviathan-gossip/leviathan/node"
	"github.com/leviathan-gossip/leviathan/store"
)

// FollowerEnv marks a process started as a follower.
const FollowerEnv = "LEVIATHAN_LOADTEST_FOLLOWER"

// Options size a run.
type Options struct {
	N         int    // keys the writer writes
	ValueSize int    // bytes per value
	Receivers int    // follower processes
	Dir       string // scratch directory; removed by the caller
	// Exe is the binary to re-execute as a follower; it must call
	// FollowerMain when FollowerEnv is set. Default: os.Executable().
	Exe string
	// Args are passed to Exe before the follower flags (e.g. a test's -test.run).
	Args []string
	// MemoryLimit is the receivers' memory_limit ("192MiB"); empty: none.
	MemoryLimit string
	// CgroupProcs is a cgroup's cgroup.procs file; when set, each receiver
	// enters that cgroup before the follower binary starts.
	CgroupProcs string
	// Signed runs the writer and the receivers with signed = true, each
	// with a key of its own and the others' pinned (see Keys).
	Signed bool
	keys   *Keys
}

// Result is one measured run.
type Result struct {
	Scenario  string  `json:"scenario"`
	Signed    bool    `json:"signed"`
	N         int     `json:"n"`
	Receivers int     `json:"receivers"`
	RawPerS   float64 `json:"raw_per_s"`   // raw Badger WriteBatch, same options
	WritePerS float64 `json:"write_per_s"` // the writer's own SetMany rate
	NodePerS  float64 `json:"node_per_s"`  // N / time until the slowest receiver holds all
	Ratio     float64 `json:"ratio"`       // NodePerS / RawPerS
	// RawSharedPerS is RawWriteBatches into as many stores as write at
	// once in the scenario: the writer and every receiver in ingest, the
	// receivers in catch-up. SharedRatio is NodePerS over it.
	RawSharedPerS float64 `json:"raw_shared_per_s"`
	SharedRatio   float64 `json:"shared_ratio"`
	Seconds       float64 `json:"seconds"` // time until the slowest receiver holds all
	// StartS is, of Seconds, how long the slowest receiver took from the
	// start to a running node: in catch-up its process start, Badger's
	// open and the node's start, which raw WriteBatch's time leaves out.
	StartS    float64 `json:"receiver_start_s"`
	PeakRSSMB float64 `json:"peak_rss_mb"` // largest receiver's peak RSS
	// PeakAnonMB is the largest receiver's peak anonymous memory (heap,
	// stacks, Badger's arenas), sampled every 50 ms: RSS without the page
	// cache of Badger's memory-mapped tables.
	PeakAnonMB float64 `json:"peak_anon_mb"`
	// PeakFileMB is the largest receiver's peak of file-backed resident
	// memory (the touched pages of Badger's mapped tables and logs), also
	// sampled: page cache, counted in RSS.
	PeakFileMB float64 `json:"peak_file_mb"`
	// MemoryLimit is the receivers' memory_limit, "" for none.
	MemoryLimit string `json:"memory_limit,omitempty"`
	// RestartS is how long a receiver holding all N keys takes to come
	// back: New (open Badger, load every record) and Start.
	RestartS float64 `json:"restart_s"`
	// CPU cost per record: of raw WriteBatch, and of the slowest receiver
	// from its start to holding everything (decode, apply, Badger). On a
	// machine where writer and receivers share the cores, their ratio says
	// more about the node's efficiency than wall-clock rates do.
	RawCPUus      float64 `json:"raw_cpu_us_per_record"`
	ReceiverCPUus float64 `json:"receiver_cpu_us_per_record"`
	// WriterCPUus is this process's CPU while the writer wrote, per
	// record: its SetMany calls, its store, and with signed its sealing;
	// in ingest also its sending.
	WriterCPUus float64 `json:"writer_cpu_us_per_record"`
	// WireBytes is what the receiver that took in most received, per
	// record: records, their proofs when signed, and all other traffic
	// until it held everything. DiskBytes is what the first receiver's
	// store occupies on disk (LSM tables and value log, as du counts
	// them) once stopped, per record.
	WireBytes float64 `json:"wire_b_per_record"`
	DiskBytes float64 `json:"disk_b_per_record"`
}

func key(i int) string { return "key-" + strconv.Itoa(i) }

func value(size, i int) []byte {
	v := make([]byte, size)
	for j := range v {
		v[j] = byte(i + j)
	}
	return v
}

// RawWriteBatch writes n entries with Badger's WriteBatch on the store's own
// options and returns entries per second: the limit the node is judged by.
func RawWriteBatch(dir string, n, valueSize int) (float64, error) {
	d, err := rawWrite(dir, n, valueSize)
	if err != nil {
		return 0, err
	}
	return float64(n) / d.Seconds(), nil
}

// RawWriteBatches runs RawWriteBatch into k stores at once, one goroutine
// each, and returns entries per second of the slowest: what the machine
// allows when k stores take the same n entries together, as a writer and
// its receivers do during ingest. On a machine whose cores they share it
// is the fair limit; RawWriteBatch alone has every core to itself.
func RawWriteBatches(dir string, k, n, valueSize int) (float64, error) {
	type done struct {
		d   time.Duration
		err error
	}
	ch := make(chan done, k)
	for i := 0; i < k; i++ {
		go func() {
			d, err := rawWrite(filepath.Join(dir, strconv.Itoa(i)), n, valueSize)
			ch <- done{d, err}
		}()
	}
	var slowest time.Duration
	var errs []error
	for i := 0; i < k; i++ {
		r := <-ch
		slowest = max(slowest, r.d)
		errs = append(errs, r.err)
	}
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return float64(n) / slowest.Seconds(), nil
}

func rawWrite(dir string, n, valueSize int) (time.Duration, error) {
	db, err := badger.Open(store.BadgerOptions(store.Options{Dir: dir}))
	if err != nil {
		return 0, fmt.Errorf("loadtest: raw badger: %w", err)
	}
	defer db.Close()
	start := time.Now()
	wb := db.NewWriteBatch()
	for i := 0; i < n; i++ {
		if err := wb.Set([]byte(key(i)), value(valueSize, i)); err != nil {
			wb.Cancel()
			return 0, fmt.Errorf("loadtest: raw badger: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return 0, fmt.Errorf("loadtest: raw badger: %w", err)
	}
	return time.Since(start), nil
}

// writer is the in-process node that owns the keys; it signs with keys
// when not nil.
func startWriter(dir string, keys *Keys) (*node.Node, error) {
	cfg := node.DefaultConfig()
	cfg.Alias = "writer"
	cfg.Cluster = "loadtest"
	cfg.Port = 0
	cfg.DataDir = filepath.Join(dir, "writer")
	keys.Sign(&cfg, cfg.Alias)
	n, err := node.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := n.Start(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// writeAll writes n keys in chunks, returning keys per second.
func writeAll(n *node.Node, count, valueSize int) (float64, uint64, error) {
	return writeKeys(n, 0, count, valueSize)
}

// writeKeys writes the keys from..to-1 in chunks, returning keys per
// second and the last version.
func writeKeys(n *node.Node, from, to, valueSize int) (float64, uint64, error) {
	start := time.Now()
	var last uint64
	const chunk = 16384
	for i := from; i < to; i += chunk {
		kvs := make([]node.KV, 0, chunk)
		for j := i; j < min(to, i+chunk); j++ {
			kvs = append(kvs, node.KV{Key: key(j), Value: value(valueSize, j)})
		}
		vs, err := n.SetMany(context.Background(), kvs)
		if err != nil {
			return 0, 0, err
		}
		last = vs[len(vs)-1]
	}
	return float64(to-from) / time.Since(start).Seconds(), last, nil
}

// Ingest measures receivers that are up while the writer writes.
func Ingest(o Options) (Result, error) { return run("ingest", o, true) }

// CatchUp measures receivers started after the writer wrote everything.
func CatchUp(o Options) (Result, error) { return run("catchup", o, false) }

func run(scenario string, o Options, receiversFirst bool) (Result, error) {
	res := Result{Scenario: scenario, Signed: o.Signed, N: o.N, Receivers: o.Receivers, MemoryLimit: o.MemoryLimit}
	if o.Signed {
		var err error
		if o.keys, err = NewKeys(filepath.Join(o.Dir, "keys"), nodeIDs(o.Receivers)...); err != nil {
			return res, err
		}
	}
	cpu0 := cpuSeconds()
	raw, err := RawWriteBatch(filepath.Join(o.Dir, "raw"), o.N, o.ValueSize)
	if err != nil {
		return res, err
	}
	res.RawPerS = raw
	res.RawCPUus = (cpuSeconds() - cpu0) * 1e6 / float64(o.N)
	stores := o.Receivers
	if receiversFirst {
		stores++
	}
	res.RawSharedPerS = raw // one store at once: the run above
	if stores > 1 {
		if res.RawSharedPerS, err = RawWriteBatches(filepath.Join(o.Dir, "rawshared"), stores, o.N, o.ValueSize); err != nil {
			return res, err
		}
		if err := os.RemoveAll(filepath.Join(o.Dir, "rawshared")); err != nil {
			return res, fmt.Errorf("loadtest: %w", err)
		}
	}
	w, err := startWriter(o.Dir, o.keys)
	if err != nil {
		return res, err
	}
	defer w.Close()
	target := uint64(o.N) // the counter versioner numbers the writer's keys 1..N
	var fs []*follower
	defer func() {
		for _, f := range fs {
			f.stop()
		}
	}()
	startFollowers := func() error {
		for i := 0; i < o.Receivers; i++ {
			f, err := startFollower(o, i, w.Addr(), target)
			if err != nil {
				return err
			}
			fs = append(fs, f)
		}
		return nil
	}
	if receiversFirst {
		if err := startFollowers(); err != nil {
			return res, err
		}
		if err := waitLive(w, o.Receivers, 30*time.Second); err != nil {
			return res, err
		}
	}
	start := time.Now()
	cpu0 = cpuSeconds()
	rate, last, err := writeAll(w, o.N, o.ValueSize)
	if err != nil {
		return res, err
	}
	res.WritePerS = rate
	res.WriterCPUus = (cpuSeconds() - cpu0) * 1e6 / float64(o.N)
	if last != target {
		return res, fmt.Errorf("loadtest: writer ended at version %d, want %d", last, target)
	}
	if !receiversFirst {
		start = time.Now()
		if err := startFollowers(); err != nil {
			return res, err
		}
	}
	var slowest time.Time
	for _, f := range fs {
		r, err := f.wait(10 * time.Minute)
		if err != nil {
			return res, err
		}
		if r.done.After(slowest) {
			slowest = r.done
		}
		res.StartS = max(res.StartS, time.Unix(0, r.StartedUnixNano).Sub(start).Seconds())
		res.PeakRSSMB = max(res.PeakRSSMB, r.PeakRSSKB/1024)
		res.PeakAnonMB = max(res.PeakAnonMB, r.PeakAnonKB/1024)
		res.PeakFileMB = max(res.PeakFileMB, r.PeakFileKB/1024)
		res.ReceiverCPUus = max(res.ReceiverCPUus, r.CPUSeconds*1e6/float64(o.N))
		res.WireBytes = max(res.WireBytes, float64(r.BytesIn)/float64(o.N))
	}
	res.Seconds = slowest.Sub(start).Seconds()
	res.NodePerS = float64(o.N) / res.Seconds
	res.Ratio = res.NodePerS / res.RawPerS
	res.SharedRatio = res.NodePerS / res.RawSharedPerS
	for _, f := range fs {
		f.stop()
	}
	fs = nil
	var disk int64
	if res.RestartS, disk, err = restartTime(filepath.Join(o.Dir, "follower0"), o.keys); err != nil {
		return res, err
	}
	res.DiskBytes = float64(disk) / float64(o.N)
	for _, f := range []*float64{&res.RawPerS, &res.RawSharedPerS, &res.SharedRatio, &res.WritePerS, &res.NodePerS, &res.Ratio, &res.Seconds, &res.StartS,
		&res.PeakRSSMB, &res.PeakAnonMB, &res.PeakFileMB, &res.RestartS, &res.RawCPUus, &res.ReceiverCPUus, &res.WriterCPUus, &res.WireBytes, &res.DiskBytes} {
		*f = round3(*f)
	}
	return res, nil
}

// round3 keeps three significant decimals for reports.
func round3(x float64) float64 {
	if x == 0 {
		return 0
	}
	scale := math.Pow(10, 2-math.Floor(math.Log10(math.Abs(x))))
	return math.Round(x*scale) / scale
}

// nodeIDs are the ids of a run's writer and its receivers.
func nodeIDs(receivers int) []string {
	ids := []string{"writer"}
	for i := range receivers {
		ids = append(ids, followerAlias(i))
	}
	return ids
}

func followerAlias(i int) string { return fmt.Sprintf("follower%d", i) }

// restartTime opens a stopped receiver's data directory again, as a
// restart would, and times it until serving. disk is what its store
// occupied then (LSM tables and value log), as du counts it.
func restartTime(dir string, keys *Keys) (seconds float64, disk int64, err error) {
	cfg := node.DefaultConfig()
	cfg.Alias, cfg.Cluster, cfg.Port, cfg.DataDir = followerAlias(0), "loadtest", 0, dir
	keys.Sign(&cfg, cfg.Alias)
	start := time.Now()
	n, err := node.New(cfg)
	if err != nil {
		return 0, 0, fmt.Errorf("loadtest: restart: %w", err)
	}
	defer n.Close()
	if err := n.Start(); err != nil {
		return 0, 0, fmt.Errorf("loadtest: restart: %w", err)
	}
	seconds = time.Since(start).Seconds()
	if st := n.Status().Store; st != nil {
		disk = st.LSMBytes + st.VLogBytes
	}
	return seconds, disk, nil
}

func waitLive(n *node.Node, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for len(n.LivePeers()) < want {
		if time.Now().After(deadline) {
			return fmt.Errorf("loadtest: %d of %d receivers alive after %v", len(n.LivePeers()), want, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// follower is a receiver process.
type follower struct {
	cmd    *exec.Cmd
	report chan followerReport
	errc   chan error
	// exited is closed once the process was waited for; waitErr is then
	// how it ended. stderr keeps the end of what it wrote there.
	exited  chan struct{}
	waitErr error
	stderr  *tailBuffer
}

type followerReport struct {
	DoneUnixNano    int64   `json:"done_unix_nano"`
	StartedUnixNano int64   `json:"started_unix_nano"`
	PeakRSSKB       float64 `json:"peak_rss_kb"`
	PeakAnonKB      float64 `json:"peak_anon_kb"`
	PeakFileKB      float64 `json:"peak_file_kb"`
	IdleRSSKB       float64 `json:"idle_rss_kb"`
	IdleCPUPercent  float64 `json:"idle_cpu_percent"`
	CPUSeconds      float64 `json:"cpu_seconds"`
	BytesIn         uint64  `json:"bytes_in"` // the node's, when it reached the target
	// GoMemoryLimit is the Go runtime's soft memory limit once the node
	// started: what it took from memory_limit, GOMEMLIMIT or its cgroup.
	GoMemoryLimit int64 `json:"go_memory_limit"`
	// Hold is what a follower run with -follower-hold reports.
	Hold holdReport `json:"hold"`
	done time.Time
}

// FootprintResult is an idle node's memory and CPU.
type FootprintResult struct {
	Scenario       string  `json:"scenario"`
	IdleSeconds    float64 `json:"idle_s"`
	IdleRSSMB      float64 `json:"idle_rss_mb"`
	IdleCPUPercent float64 `json:"idle_cpu_percent"`
}

// Footprint measures a node process that has joined one peer and then idles
// for idle, gossiping at the default intervals.
func Footprint(o Options, idle time.Duration) (FootprintResult, error) {
	res := FootprintResult{Scenario: "footprint", IdleSeconds: idle.Seconds()}
	w, err := startWriter(o.Dir, nil)
	if err != nil {
		return res, err
	}
	defer w.Close()
	o.Args = append(append([]string(nil), o.Args...), "-follower-idle", idle.String())
	f, err := startFollower(o, 0, w.Addr(), 0)
	if err != nil {
		return res, err
	}
	defer f.stop()
	r, err := f.wait(idle + time.Minute)
	if err != nil {
		return res, err
	}
	res.IdleRSSMB, res.IdleCPUPercent = round3(r.IdleRSSKB/1024), round3(r.IdleCPUPercent)
	return res, nil
}

func startFollower(o Options, i int, seed string, target uint64) (*follower, error) {
	exe := o.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	args := append(append([]string(nil), o.Args...),
		"-follower-dir", filepath.Join(o.Dir, fmt.Sprintf("follower%d", i)),
		"-follower-seed", seed,
		"-follower-target", strconv.FormatUint(target, 10),
		"-follower-alias", followerAlias(i))
	if o.MemoryLimit != "" {
		args = append(args, "-follower-memory-limit", o.MemoryLimit)
	}
	if o.keys != nil {
		args = append(args, "-follower-keys", o.keys.Dir)
	}
	cmd := exec.Command(exe, args...)
	if o.CgroupProcs != "" {
		// The shell moves itself into the cgroup and then becomes the
		// follower (same pid): everything the follower allocates is
		// charged to the cgroup, and the node reads its limit at Start.
		cmd = exec.Command("/bin/sh", append([]string{"-c", `echo $$ > "$0" && exec "$@"`, o.CgroupProcs, exe}, args...)...)
	}
	cmd.Env = append(os.Environ(), FollowerEnv+"=1")
	tail := &tailBuffer{max: 8 << 10}
	cmd.Stderr = io.MultiWriter(os.Stderr, tail)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("loadtest: start follower: %w", err)
	}
	f := &follower{cmd: cmd, report: make(chan followerReport, 1), errc: make(chan error, 1),
		exited: make(chan struct{}), stderr: tail}
	go f.read(out)
	return f, nil
}

// read takes the follower's report from its output, then waits for the
// process (only once its output is drained, as os/exec requires). A
// follower that ends without a report is reported with how it ended and
// the last lines it wrote to stderr: "exited without a report" alone
// said nothing of an OOM kill or a panic.
func (f *follower) read(out io.Reader) {
	defer close(f.exited)
	sc := bufio.NewScanner(out)
	reported := false
	for !reported && sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r followerReport
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			f.errc <- fmt.Errorf("loadtest: follower report %q: %w", line, err)
			reported = true
			break
		}
		r.done = time.Unix(0, r.DoneUnixNano)
		f.report <- r
		reported = true
	}
	_, _ = io.Copy(io.Discard, out)
	f.waitErr = f.cmd.Wait()
	if !reported {
		how := "exit status 0"
		if f.waitErr != nil {
			how = f.waitErr.Error() // "exit status 2", "signal: killed"
		}
		f.errc <- fmt.Errorf("loadtest: follower exited without a report (%s); its stderr ended with:\n%s", how, f.stderr.lastLines(20))
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  gosync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// lastLines returns up to n of the last lines written.
func (t *tailBuffer) lastLines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimRight(string(t.buf), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (f *follower) wait(timeout time.Duration) (followerReport, error) {
	select {
	case r := <-f.report:
		return r, nil
	case err := <-f.errc:
		return followerReport{}, err
	case <-time.After(timeout):
		return followerReport{}, fmt.Errorf("loadtest: follower did not finish within %v", timeout)
	}
}

func (f *follower) stop() {
	_ = f.cmd.Process.Signal(os.Interrupt)
	select {
	case <-f.exited:
	case <-time.After(10 * time.Second):
		_ = f.cmd.Process.Kill()
		<-f.exited
	}
}
