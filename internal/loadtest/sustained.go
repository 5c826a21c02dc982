package loadtest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/wire"
)

// Sustained load: N nodes, each its own process (the calling binary
// re-executed in follower mode, see sustainedMain), every one writing at
// a paced rate at once. The parent starts them, tells them when to start
// and stop over their stdin, and reads what they measured from their
// stdout, one JSON line per message.

// SustainedOptions size a sustained-load run.
type SustainedOptions struct {
	Scenario  string        // name in the result
	Nodes     int           // node processes, each a writer
	Rate      float64       // records per second each node tries to write
	Duration  time.Duration // how long each node writes
	ValueSize int           // bytes per value, at least 8 (the write time)
	// Writers is how many goroutines of each node call Set, each taking
	// the next record due; 0: one per 200 records/s. Set returns once
	// its group commit is durable, so one goroutine cannot go faster
	// than one commit at a time.
	Writers int
	// Sample: every Sample-th record of each writer is timed until every
	// other node holds it; 0: 20, sparser when a writer would write more
	// than 12,000 records (the reports carry every sample).
	Sample int
	// Settle is the wait from every node seeing all the others alive to
	// the first write; the idle traffic is measured over its last 5 s. 0: 10 s.
	Settle time.Duration
	// Drain is the longest wait, once the writes stopped, for every node
	// to hold every writer's last version. 0: 5 min.
	Drain time.Duration
	Dir   string   // scratch directory; removed by the caller
	Exe   string   // as Options.Exe
	Args  []string // as Options.Args
	// Progress, when set, gets a line every 10 s while the nodes write
	// and drain.
	Progress io.Writer
}

// SustainedResult is one sustained-load run.
type SustainedResult struct {
	Scenario string  `json:"scenario"`
	Nodes    int     `json:"nodes"`
	Rate     float64 `json:"rate_per_node"` // records per second tried
	// Achieved is the mean of the nodes' records written per second of
	// Duration; AchievedMin the slowest node's.
	Achieved    float64 `json:"achieved_per_node"`
	AchievedMin float64 `json:"achieved_min"`
	DurationS   float64 `json:"duration_s"`
	Records     int64   `json:"records"` // written, all nodes
	// Missing counts deliveries (records × (N−1)) not held at the end:
	// by each node, each writer's last version minus what it holds.
	Missing int64 `json:"missing_deliveries"`
	// Write to all: from just before Set on the writer to the last other
	// node publishing the record to its subscribers, over every Sample-th
	// record. Unobserved samples were not seen arriving on every node
	// (an event lost by a full subscription buffer, or not delivered).
	Sample     int     `json:"sample_every"`
	Samples    int     `json:"samples"`
	Unobserved int     `json:"samples_unobserved"`
	P50Ms      float64 `json:"all_p50_ms"`
	P99Ms      float64 `json:"all_p99_ms"`
	MaxMs      float64 `json:"all_max_ms"`
	// EncodedB is one record's share of a delta message: its key, value,
	// version and tombstone flag as the codec writes them. BytesPerDelivery
	// is every byte all nodes sent from the first write until all held
	// everything (or the drain's limit), over the deliveries made:
	// records × (N−1) less Missing; NetBytes takes the idle traffic
	// (IdleBps, measured before the writes) off first.
	EncodedB         int     `json:"record_encoded_b"`
	BytesPerDelivery float64 `json:"b_per_delivery"`
	NetBytes         float64 `json:"b_per_delivery_net"`
	IdleBps          float64 `json:"idle_b_per_s_per_node"`
	// PushShare is the pushes' part of those bytes; Throttled counts the
	// committed batches (all nodes) the push's rate bound left to the
	// rounds, which carry them a round later.
	PushShare float64 `json:"push_share"`
	Throttled uint64  `json:"push_throttled"`
	// BytesByType is how those bytes split by message type, largest
	// first ("synack 60%, ...").
	BytesByType string `json:"bytes_by_type"`
	// CPUPerDelivery is the CPU time of all node processes, from their
	// start to the end, over the deliveries made: joining, idling,
	// writing and applying together.
	CPUPerDelivery float64 `json:"cpu_us_per_delivery"`
	// LaneDrops counts the data messages (exchanges, pushes) the nodes
	// dropped because their data lane was full: their senders send again.
	LaneDrops uint64 `json:"data_lane_drops"`
	// LaneStale counts the data messages the nodes dropped because they
	// had waited half a round in the data lane: the node was behind.
	LaneStale uint64 `json:"data_lane_stale"`
	// WritesDelayed counts the writes (all nodes) that waited for write
	// flow control's admission: none while the cluster keeps up.
	WritesDelayed uint64 `json:"writes_delayed"`
	// FalseSusp counts suspicions (EventSuspend, one per observer and
	// suspect) from the first boot to the end: every node ran throughout.
	FalseSusp int `json:"false_suspicions"`
	// Peak RSS (VmHWM) of the node processes: the largest and the mean.
	PeakRSSMaxMB  float64 `json:"peak_rss_max_mb"`
	PeakRSSMeanMB float64 `json:"peak_rss_mean_mb"`
	// Backlog: over every node and every other writer, the writer's
	// version minus the node's, sampled every second on every node at
	// once; its peak while writing and draining, and its value when the
	// writes stopped.
	BacklogPeak int64 `json:"backlog_peak"`
	BacklogStop int64 `json:"backlog_at_stop"`
	// DrainS is from the last write to every node holding every writer's
	// last version; -1 if that took longer than Drain.
	DrainS       float64 `json:"drain_s"`
	SetErrors    int64   `json:"set_errors"`
	MissedEvents uint64  `json:"missed_events"` // lost by full subscription buffers
	JoinS        float64 `json:"join_s"`        // from the first start to all seeing all
	WallS        float64 `json:"wall_s"`
}

// sustainedMsg is one line a node process writes; Type says which fields
// mean something.
type sustainedMsg struct {
	Type   string            `json:"type"` // addr, ready, tick, wrote, caught, report
	Addr   string            `json:"addr,omitempty"`
	At     int64             `json:"at,omitempty"` // unix nanoseconds
	K      int               `json:"k,omitempty"`  // tick: seconds since the start
	Own    uint64            `json:"own,omitempty"`
	Held   map[string]uint64 `json:"held,omitempty"`
	Report *sustainedReport  `json:"report,omitempty"`
	err    error             // the process ended (set by the reader, never sent)
}

// sustainedReport is what a node process measured, sent at the end.
type sustainedReport struct {
	ID string `json:"id"`
	// Unix nanoseconds: start of the idle window, first write, finish;
	// and the bytes sent by then.
	IdleFrom, Start, Finish                int64  `json:",omitempty"`
	BytesIdleFrom, BytesStart, BytesFinish uint64 `json:",omitempty"`
	// Of the bytes from the start to the finish: those of pushes, and
	// the committed batches the push's rate left to the rounds.
	PushBytes, Throttled uint64
	ByType               map[string]uint64 // bytes sent by message type
	Written, SetErrors   int64
	Sampled              int64             // records written whose number is a multiple of the sample
	FirstError           string            `json:",omitempty"`
	Own                  uint64            // own version at the end
	Held                 map[string]uint64 // every other node's version held
	Samples              []arrival
	Suspicions           int
	Missed               uint64
	PeakRSSKB            float64
	CPUSeconds           float64 // user+system, from the process's start
	LaneDrops            uint64  // data messages dropped by a full data lane
	LaneStale            uint64  // data messages dropped after waiting in the lane
	WritesDelayed        uint64  // writes that waited for flow control
}

// arrival is a sampled record of writer W, number I, written at T and
// published by this node at A (unix nanoseconds).
type arrival struct {
	W string `json:"w"`
	I int64  `json:"i"`
	T int64  `json:"t"`
	A int64  `json:"a"`
}

func (o SustainedOptions) withDefaults() SustainedOptions {
	if o.Writers == 0 {
		o.Writers = max(1, int(math.Ceil(o.Rate/200)))
	}
	if o.Sample == 0 {
		o.Sample = max(20, int(math.Ceil(o.Rate*o.Duration.Seconds()/600)))
	}
	if o.Settle == 0 {
		o.Settle = 10 * time.Second
	}
	if o.Drain == 0 {
		o.Drain = 5 * time.Minute
	}
	if o.ValueSize < 8 {
		o.ValueSize = 8
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

// Sustained runs N writing nodes and measures delivery, latency, traffic,
// suspicions, memory and backlog.
func Sustained(o SustainedOptions) (SustainedResult, error) {
	o = o.withDefaults()
	res := SustainedResult{Scenario: o.Scenario, Nodes: o.Nodes, Rate: o.Rate, DurationS: o.Duration.Seconds(), Sample: o.Sample}
	if o.Nodes < 2 || o.Rate <= 0 || o.Duration <= 0 {
		return res, fmt.Errorf("loadtest: sustained: need 2 nodes or more, a rate and a duration")
	}
	wall := time.Now()
	r := &sustainedRun{o: o, msgs: make(chan nodeMsg, 4096), ticks: map[int]map[int]sustainedMsg{}, backlog: map[int]int64{}}
	defer r.stop()
	if err := r.startAll(); err != nil {
		return res, err
	}
	ready, err := r.collect("ready", time.Now().Add(2*time.Minute), true)
	if err != nil {
		return res, err
	}
	res.JoinS = round3(seconds(latestAt(ready) - wall.UnixNano()))
	start := time.Now().Add(o.Settle)
	r.sendAll(fmt.Sprintf("start %d", start.UnixNano()))
	r.start = start
	wrote, err := r.collect("wrote", start.Add(o.Duration+2*time.Minute), true)
	if err != nil {
		return res, err
	}
	r.sendAll("finals " + encodeFinals(wrote))
	caught, err := r.collect("caught", time.Now().Add(o.Drain), false)
	if err != nil {
		return res, err
	}
	r.sendAll("finish")
	reports, err := r.collect("report", time.Now().Add(2*time.Minute), true)
	if err != nil {
		return res, err
	}
	res.DrainS = -1
	if len(caught) == o.Nodes {
		res.DrainS = round3(seconds(latestAt(caught) - latestAt(wrote)))
	}
	r.summarise(&res, reports)
	res.WallS = round3(time.Since(wall).Seconds())
	return res, nil
}

// nodeMsg is a message and the index of the node that sent it.
type nodeMsg struct {
	node int
	msg  sustainedMsg
}

type sustainedRun struct {
	o     SustainedOptions
	procs []*nodeProc
	msgs  chan nodeMsg
	start time.Time
	// ticks holds each second's samples by node until all are in;
	// backlog is then that second's backlog.
	ticks   map[int]map[int]sustainedMsg
	backlog map[int]int64
}

// nodeProc is one node process.
type nodeProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tailBuffer
	exited chan struct{}
}

func (r *sustainedRun) startAll() error {
	first, err := r.startNode(0, "")
	if err != nil {
		return err
	}
	r.procs = append(r.procs, first)
	addr, err := r.collect("addr", time.Now().Add(time.Minute), true)
	if err != nil {
		return err
	}
	for i := 1; i < r.o.Nodes; i++ {
		p, err := r.startNode(i, addr[0].Addr)
		if err != nil {
			return err
		}
		r.procs = append(r.procs, p)
	}
	return nil
}

func nodeID(i int) string { return fmt.Sprintf("n%02d", i) }

func (r *sustainedRun) startNode(i int, seed string) (*nodeProc, error) {
	exe := r.o.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("loadtest: sustained: %w", err)
		}
	}
	args := append(append([]string(nil), r.o.Args...),
		"-sustained-id", nodeID(i),
		"-sustained-dir", filepath.Join(r.o.Dir, nodeID(i)),
		"-sustained-seed", seed,
		"-sustained-nodes", strconv.Itoa(r.o.Nodes),
		"-sustained-rate", strconv.FormatFloat(r.o.Rate, 'g', -1, 64),
		"-sustained-duration", r.o.Duration.String(),
		"-sustained-value", strconv.Itoa(r.o.ValueSize),
		"-sustained-writers", strconv.Itoa(r.o.Writers),
		"-sustained-sample", strconv.Itoa(r.o.Sample))
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), FollowerEnv+"=1")
	p := &nodeProc{cmd: cmd, stderr: &tailBuffer{max: 8 << 10}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("loadtest: sustained: %w", err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("loadtest: sustained: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("loadtest: sustained: start %s: %w", nodeID(i), err)
	}
	go r.read(i, p, out)
	return p, nil
}

// read forwards a node process's messages, then how it ended.
func (r *sustainedRun) read(i int, p *nodeProc, out io.Reader) {
	defer close(p.exited)
	br := bufio.NewReaderSize(out, 1<<16)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[0] == '{' {
			var m sustainedMsg
			if jerr := json.Unmarshal(line, &m); jerr == nil {
				r.msgs <- nodeMsg{i, m}
			}
		}
		if err != nil {
			break
		}
	}
	werr := p.cmd.Wait()
	if werr == nil {
		werr = errors.New("exit status 0")
	}
	r.msgs <- nodeMsg{i, sustainedMsg{err: fmt.Errorf("loadtest: sustained: %s ended (%w); its stderr ended with:\n%s", nodeID(i), werr, p.stderr.lastLines(20))}}
}

// collect waits for a message of type typ from every node until deadline,
// keeping the ticks that come meanwhile. Past the deadline it fails if
// strict, else returns the messages it has.
func (r *sustainedRun) collect(typ string, deadline time.Time, strict bool) (map[int]sustainedMsg, error) {
	got := map[int]sustainedMsg{}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for len(got) < len(r.procs) {
		select {
		case nm := <-r.msgs:
			switch {
			case nm.msg.err != nil:
				return got, nm.msg.err
			case nm.msg.Type == "tick":
				r.tick(nm.node, nm.msg)
			case nm.msg.Type == typ:
				got[nm.node] = nm.msg
			}
		case <-timer.C:
			if strict {
				return got, fmt.Errorf("loadtest: sustained: %d of %d nodes sent %q in time", len(got), len(r.procs), typ)
			}
			return got, nil
		}
	}
	return got, nil
}

// tick files a node's sample of second k; once every node's is in, it
// computes that second's backlog.
func (r *sustainedRun) tick(node int, m sustainedMsg) {
	byNode := r.ticks[m.K]
	if byNode == nil {
		byNode = map[int]sustainedMsg{}
		r.ticks[m.K] = byNode
	}
	byNode[node] = m
	if len(byNode) < r.o.Nodes {
		return
	}
	delete(r.ticks, m.K)
	var b int64
	for i, w := range byNode {
		for j, h := range byNode {
			if i != j && w.Own > h.Held[nodeID(i)] {
				b += int64(w.Own - h.Held[nodeID(i)])
			}
		}
	}
	r.backlog[m.K] = b
	if m.K%10 == 0 {
		var own uint64
		for _, w := range byNode {
			own += w.Own
		}
		fmt.Fprintf(r.o.Progress, "loadtest: %s t=%ds written=%d backlog=%d\n", r.o.Scenario, m.K, own, b)
	}
}

func (r *sustainedRun) sendAll(cmd string) {
	for _, p := range r.procs {
		// A process that died is reported by its reader.
		_, _ = io.WriteString(p.stdin, cmd+"\n")
	}
}

// stop closes the processes' stdin, which ends them, and waits; a process
// still running after 30 s is killed.
func (r *sustainedRun) stop() {
	for _, p := range r.procs {
		_ = p.stdin.Close()
	}
	done := make(chan struct{})
	defer close(done)
	go func() { // the readers must not block on a full channel
		for {
			select {
			case <-r.msgs:
			case <-done:
				return
			}
		}
	}()
	for _, p := range r.procs {
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
}

func encodeFinals(wrote map[int]sustainedMsg) string {
	parts := make([]string, 0, len(wrote))
	for i, m := range wrote {
		parts = append(parts, nodeID(i)+"="+strconv.FormatUint(m.Own, 10))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func latestAt(ms map[int]sustainedMsg) int64 {
	var t int64
	for _, m := range ms {
		t = max(t, m.At)
	}
	return t
}

func seconds(ns int64) float64 { return float64(ns) / 1e9 }

// summarise fills res from the nodes' reports and the backlog samples.
func (r *sustainedRun) summarise(res *SustainedResult, reports map[int]sustainedMsg) {
	n := r.o.Nodes
	finals := map[string]uint64{}
	var written []float64
	var rss float64
	for _, m := range reports {
		rep := m.Report
		finals[rep.ID] = rep.Own
		res.Records += int64(rep.Own)
		written = append(written, float64(rep.Written)/r.o.Duration.Seconds())
		res.SetErrors += rep.SetErrors
		res.CPUPerDelivery += rep.CPUSeconds
		res.LaneDrops += rep.LaneDrops
		res.LaneStale += rep.LaneStale
		res.WritesDelayed += rep.WritesDelayed
		res.FalseSusp += rep.Suspicions
		res.MissedEvents += rep.Missed
		res.PeakRSSMaxMB = max(res.PeakRSSMaxMB, rep.PeakRSSKB/1024)
		rss += rep.PeakRSSKB / 1024
	}
	res.PeakRSSMeanMB = round3(rss / float64(n))
	res.PeakRSSMaxMB = round3(res.PeakRSSMaxMB)
	res.Achieved, res.AchievedMin = round3(mean(written)), round3(minOf(written))
	for _, m := range reports {
		for id, v := range finals {
			if id != m.Report.ID && v > m.Report.Held[id] {
				res.Missing += int64(v - m.Report.Held[id])
			}
		}
	}
	if d := float64(res.Records)*float64(n-1) - float64(res.Missing); d > 0 {
		res.CPUPerDelivery = round3(res.CPUPerDelivery * 1e6 / d)
	}
	r.latency(res, reports)
	r.traffic(res, reports)
	for k, b := range r.backlog {
		res.BacklogPeak = max(res.BacklogPeak, b)
		if time.Duration(k)*time.Second == r.o.Duration {
			res.BacklogStop = b
		}
	}
}

// latency pairs each sampled record with its arrivals on the other nodes.
func (r *sustainedRun) latency(res *SustainedResult, reports map[int]sustainedMsg) {
	type seen struct {
		wrote, last int64
		nodes       int
	}
	recs := map[[2]int64]*seen{}
	writerIdx := map[string]int64{}
	for i := 0; i < r.o.Nodes; i++ {
		writerIdx[nodeID(i)] = int64(i)
	}
	for _, m := range reports {
		for _, a := range m.Report.Samples {
			k := [2]int64{writerIdx[a.W], a.I}
			s := recs[k]
			if s == nil {
				s = &seen{wrote: a.T}
				recs[k] = s
			}
			s.nodes++
			s.last = max(s.last, a.A)
		}
	}
	// Every sampled record written: those no node saw are unobserved too.
	want := 0
	for _, m := range reports {
		want += int(m.Report.Sampled)
	}
	var lat []float64
	for _, s := range recs {
		if s.nodes == r.o.Nodes-1 {
			lat = append(lat, float64(s.last-s.wrote)/1e6)
		}
	}
	res.Samples, res.Unobserved = len(lat), max(0, want-len(lat))
	if len(lat) == 0 {
		return
	}
	sort.Float64s(lat)
	res.P50Ms = round3(lat[len(lat)/2])
	res.P99Ms = round3(lat[len(lat)*99/100])
	res.MaxMs = round3(lat[len(lat)-1])
}

// traffic divides the bytes sent over the deliveries, and compares with
// one record's encoding.
func (r *sustainedRun) traffic(res *SustainedResult, reports map[int]sustainedMsg) {
	var gross, idle, push float64
	var idleS float64
	for _, m := range reports {
		rep := m.Report
		gross += float64(rep.BytesFinish - rep.BytesStart)
		push += float64(rep.PushBytes)
		res.Throttled += rep.Throttled
		w := seconds(rep.Start - rep.IdleFrom)
		if w > 0 {
			rate := float64(rep.BytesStart-rep.BytesIdleFrom) / w
			idle += rate * seconds(rep.Finish-rep.Start)
			idleS += rate
		}
	}
	deliveries := float64(res.Records)*float64(r.o.Nodes-1) - float64(res.Missing)
	res.IdleBps = round3(idleS / float64(r.o.Nodes))
	if gross > 0 {
		res.PushShare = round3(push / gross)
		res.BytesByType = shares(reports, gross)
	}
	if deliveries > 0 {
		res.BytesPerDelivery = round3(gross / deliveries)
		res.NetBytes = round3((gross - idle) / deliveries)
	}
	typical := uint64(res.Records / int64(r.o.Nodes))
	res.EncodedB = RecordWireSize(recordKey(int64(typical)), r.o.ValueSize, typical)
}

// RecordWireSize is what one record adds to a delta message: the encoding
// of a push carrying it less that of the same push carrying none.
func RecordWireSize(key string, valueSize int, version uint64) int {
	push := func(recs []lsync.Record) int {
		b, err := wire.Encode(&lsync.Push{Cluster: "loadtest", From: "n00", Deltas: []lsync.NodeDelta{{
			ID: "n01", Generation: 1, From: version - 1, To: version, Records: recs}}})
		if err != nil {
			return 0
		}
		return len(b)
	}
	return push([]lsync.Record{{Key: key, Value: make([]byte, valueSize), Version: version}}) - push(nil)
}

// shares lists the message types' parts of gross, largest first, down to 1 %.
func shares(reports map[int]sustainedMsg, gross float64) string {
	sum := map[string]uint64{}
	for _, m := range reports {
		for t, b := range m.Report.ByType {
			sum[t] += b
		}
	}
	types := make([]string, 0, len(sum))
	for t := range sum {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool { return sum[types[i]] > sum[types[j]] })
	var parts []string
	for _, t := range types {
		if pct := 100 * float64(sum[t]) / gross; pct >= 1 {
			parts = append(parts, fmt.Sprintf("%s %.0f%%", t, pct))
		}
	}
	return strings.Join(parts, ", ")
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func minOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	m := xs[0]
	for _, x := range xs[1:] {
		m = min(m, x)
	}
	return m
}
