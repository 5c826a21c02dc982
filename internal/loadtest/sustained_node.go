package loadtest

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/leviathan-gossip/leviathan/node"
)

// The node side of a sustained-load run: one process, one node. It
// writes "addr" once listening and "ready" once it sees every other node
// alive, then follows the parent's commands from stdin: "start <unix ns>"
// (write from then on for the duration, then say "wrote"), "finals
// id=version,..." (say "caught" once it holds each writer's last version)
// and "finish" (send the report). Meanwhile it writes a "tick" every
// second from the start. It exits when stdin closes.

// sustainedFlagPrefix marks the arguments of a sustained-load node.
const sustainedFlagPrefix = "-sustained-"

// isSustained tells a sustained-load node's arguments from a follower's.
func isSustained(args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, sustainedFlagPrefix) {
			return true
		}
	}
	return false
}

type sustainedNodeOptions struct {
	id, dir, seed         string
	nodes, value, writers int
	sample                int64
	rate                  float64
	duration              time.Duration
}

func parseSustained(args []string) (sustainedNodeOptions, error) {
	var o sustainedNodeOptions
	fs := flag.NewFlagSet("sustained", flag.ContinueOnError)
	fs.StringVar(&o.id, "sustained-id", "n00", "node id and alias")
	fs.StringVar(&o.dir, "sustained-dir", "", "data directory")
	fs.StringVar(&o.seed, "sustained-seed", "", "a seed's gossip address; empty: the first node")
	fs.IntVar(&o.nodes, "sustained-nodes", 2, "nodes in the cluster, this one included")
	fs.Float64Var(&o.rate, "sustained-rate", 200, "records per second to write")
	fs.DurationVar(&o.duration, "sustained-duration", time.Minute, "how long to write")
	fs.IntVar(&o.value, "sustained-value", 100, "bytes per value")
	fs.IntVar(&o.writers, "sustained-writers", 1, "goroutines calling Set")
	fs.Int64Var(&o.sample, "sustained-sample", 20, "time every sample-th record of each writer")
	var own []string
	for i := 0; i < len(args); i++ {
		if strings.HasPrefix(args[i], sustainedFlagPrefix) {
			own = append(own, args[i])
			if !strings.Contains(args[i], "=") && i+1 < len(args) {
				own = append(own, args[i+1])
				i++
			}
		}
	}
	err := fs.Parse(own)
	return o, err
}

// sustainedMain runs one node of a sustained-load run and returns the
// exit code.
func sustainedMain(args []string) int {
	o, err := parseSustained(args)
	if err != nil {
		return 2
	}
	if path := os.Getenv("LEVIATHAN_LOADTEST_CPUPROFILE"); path != "" {
		// One profile per node: the nodes are separate processes.
		if f, err := os.Create(path + "." + o.id); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	cfg := node.DefaultConfig()
	cfg.Alias, cfg.Cluster, cfg.Port, cfg.DataDir = o.id, "loadtest-sustained", 0, o.dir
	if o.seed != "" {
		cfg.Seeds = []string{o.seed}
	}
	n, err := node.New(cfg)
	if err == nil {
		err = n.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sustained:", err)
		return 1
	}
	defer n.Close()
	obs := observe(n, o.id, o.sample)
	defer obs.close()
	s := &sustainedNode{o: o, n: n, obs: obs, cmds: readCommands(os.Stdin)}
	s.emit(sustainedMsg{Type: "addr", Addr: n.Addr()})
	if err := s.run(); err != nil {
		fmt.Fprintln(os.Stderr, "sustained:", o.id+":", err)
		return 1
	}
	for range s.cmds { // until stdin closes
	}
	return 0
}

type sustainedNode struct {
	o    sustainedNodeOptions
	n    *node.Node
	obs  *observer
	cmds <-chan string
	mu   gosync.Mutex // stdout
	rep  sustainedReport
	last atomic.Int64 // when the last Set returned, unix ns
}

func (s *sustainedNode) emit(m sustainedMsg) {
	b, _ := json.Marshal(m)
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Println(string(b))
}

func (s *sustainedNode) run() error {
	if err := s.awaitPeers(2 * time.Minute); err != nil {
		return err
	}
	s.emit(sustainedMsg{Type: "ready", At: time.Now().UnixNano()})
	arg, err := s.command("start")
	if err != nil {
		return err
	}
	ns, err := strconv.ParseInt(arg, 10, 64)
	if err != nil {
		return fmt.Errorf("start %q: %w", arg, err)
	}
	start := time.Unix(0, ns)
	stopTicks := make(chan struct{})
	ticked := make(chan struct{})
	go func() { defer close(ticked); s.ticks(start, stopTicks) }()
	defer func() { close(stopTicks); <-ticked }()
	s.measureIdle(start)
	s.write(start)
	s.emit(sustainedMsg{Type: "wrote", At: s.last.Load(), Own: s.n.Status().MaxVersion})
	arg, err = s.command("finals")
	if err != nil {
		return err
	}
	finals, err := parseFinals(arg)
	if err != nil {
		return err
	}
	if !s.catchUp(finals) {
		return fmt.Errorf("stdin closed before finish")
	}
	s.report()
	return nil
}

// awaitPeers waits until every other node is alive.
func (s *sustainedNode) awaitPeers(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for len(s.n.LivePeers()) < s.o.nodes-1 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d peers alive after %v", len(s.n.LivePeers()), s.o.nodes-1, limit)
		}
		select {
		case line, ok := <-s.cmds:
			if !ok {
				return fmt.Errorf("stdin closed while joining")
			}
			return fmt.Errorf("got %q while joining", line)
		case <-poll.C:
		}
	}
	return nil
}

// command waits for the next command, which must be name, and returns
// its argument.
func (s *sustainedNode) command(name string) (string, error) {
	line, ok := <-s.cmds
	if !ok {
		return "", fmt.Errorf("stdin closed before %q", name)
	}
	verb, arg, _ := strings.Cut(line, " ")
	if verb != name {
		return "", fmt.Errorf("got %q, want %q", verb, name)
	}
	return arg, nil
}

// measureIdle notes the bytes sent over the 5 s before start, or the
// time left: the idle traffic the load's is compared with.
func (s *sustainedNode) measureIdle(start time.Time) {
	from := start.Add(-5 * time.Second)
	if time.Now().After(from) {
		from = time.Now()
	}
	time.Sleep(time.Until(from))
	s.rep.IdleFrom, s.rep.BytesIdleFrom = time.Now().UnixNano(), s.n.Status().Stats.BytesOut
	time.Sleep(time.Until(start))
	st := s.n.Status().Stats
	s.rep.Start, s.rep.BytesStart = time.Now().UnixNano(), st.BytesOut
	s.rep.PushBytes, s.rep.Throttled = st.PushBytesOut, st.PushesThrottled
	s.rep.ByType = bytesByType(s.n)
}

// ticks writes, every second from start, the node's own version and what
// it holds of every other node's.
func (s *sustainedNode) ticks(start time.Time, stop <-chan struct{}) {
	for k := 0; ; k++ {
		t := time.NewTimer(time.Until(start.Add(time.Duration(k) * time.Second)))
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		held := map[string]uint64{}
		for _, p := range s.n.Peers() {
			held[p.ID] = p.MaxVersion
		}
		s.emit(sustainedMsg{Type: "tick", K: k, At: time.Now().UnixNano(), Own: s.n.Status().MaxVersion, Held: held})
	}
}

// write writes records on schedule: record i is due at start + i/rate,
// taken by whichever writer goroutine is free, at once when late; no
// record is written after start + duration.
func (s *sustainedNode) write(start time.Time) {
	end := start.Add(s.o.duration)
	var next, written, failed, sampled atomic.Int64
	var firstErr atomic.Value
	var wg gosync.WaitGroup
	for w := 0; w < s.o.writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			val := make([]byte, s.o.value)
			for j := range val {
				val[j] = byte(j)
			}
			for {
				i := next.Add(1) - 1
				due := start.Add(time.Duration(float64(i) / s.o.rate * float64(time.Second)))
				if !due.Before(end) {
					return
				}
				time.Sleep(time.Until(due))
				now := time.Now()
				if !now.Before(end) {
					return
				}
				binary.LittleEndian.PutUint64(val, uint64(now.UnixNano()))
				if _, err := s.n.Set(context.Background(), recordKey(i), val); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				written.Add(1)
				s.last.Store(time.Now().UnixNano())
				if i%s.o.sample == 0 {
					sampled.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	s.rep.Written, s.rep.SetErrors, s.rep.Sampled = written.Load(), failed.Load(), sampled.Load()
	if e, ok := firstErr.Load().(string); ok {
		s.rep.FirstError = e
	}
}

// recordKey is record i's key: about 10 bytes, and its number readable
// back by every receiver.
func recordKey(i int64) string { return fmt.Sprintf("r%09d", i) }

func parseFinals(arg string) (map[string]uint64, error) {
	out := map[string]uint64{}
	for _, f := range strings.Split(arg, ",") {
		id, v, ok := strings.Cut(f, "=")
		n, err := strconv.ParseUint(v, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("finals: bad entry %q", f)
		}
		out[id] = n
	}
	return out, nil
}

// catchUp says "caught" once the node holds every other writer's final
// version, and returns at "finish" (false if stdin closed first).
func (s *sustainedNode) catchUp(finals map[string]uint64) bool {
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	caught := false
	for {
		select {
		case line, ok := <-s.cmds:
			return ok && line == "finish"
		case <-poll.C:
		}
		if caught || !holds(s.n, s.o.id, finals) {
			continue
		}
		caught = true
		s.emit(sustainedMsg{Type: "caught", At: time.Now().UnixNano()})
	}
}

func holds(n *node.Node, self string, finals map[string]uint64) bool {
	have := map[string]uint64{}
	for _, p := range n.Peers() {
		have[p.ID] = p.MaxVersion
	}
	for id, v := range finals {
		if id != self && have[id] < v {
			return false
		}
	}
	return true
}

func (s *sustainedNode) report() {
	st := s.n.Status()
	s.rep.ID, s.rep.Own = s.o.id, st.MaxVersion
	s.rep.Finish, s.rep.BytesFinish = time.Now().UnixNano(), st.Stats.BytesOut
	s.rep.PushBytes = st.Stats.PushBytesOut - s.rep.PushBytes
	s.rep.Throttled = st.Stats.PushesThrottled - s.rep.Throttled
	for t, b := range bytesByType(s.n) {
		s.rep.ByType[t] = b - s.rep.ByType[t]
	}
	s.rep.Held = map[string]uint64{}
	for _, p := range s.n.Peers() {
		s.rep.Held[p.ID] = p.MaxVersion
	}
	s.rep.Samples, s.rep.Suspicions, s.rep.Missed = s.obs.snapshot()
	s.rep.PeakRSSKB = procStatusKB("VmHWM")
	s.rep.CPUSeconds = cpuSeconds()
	errs := counterByLabel(s.n, "leviathan_errors_total", "kind")
	s.rep.LaneDrops, s.rep.LaneStale = errs["data_lane_full"], errs["data_lane_stale"]
	s.rep.WritesDelayed = st.Stats.WritesDelayed
	s.emit(sustainedMsg{Type: "report", Report: &s.rep})
}

// bytesByType reads the node's bytes sent by message type from its
// metrics: where a run's traffic went.
func bytesByType(n *node.Node) map[string]uint64 {
	return counterByLabel(n, "leviathan_sent_bytes_total", "type")
}

// counterByLabel reads a counter of the node's metrics by one label's
// values (empty if the metrics cannot be read).
func counterByLabel(n *node.Node, name, label string) map[string]uint64 {
	out := map[string]uint64{}
	mfs, err := n.Gatherer().Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					out[l.GetValue()] = uint64(m.GetCounter().GetValue())
				}
			}
		}
	}
	return out
}

// readCommands delivers stdin's lines until it closes.
func readCommands(r io.Reader) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			ch <- strings.TrimSpace(sc.Text())
		}
	}()
	return ch
}

// observer counts suspicions and notes when sampled records arrive.
type observer struct {
	sub     *node.Subscription
	done    chan struct{}
	mu      gosync.Mutex
	samples []arrival
	susp    int
	missed  uint64
}

func observe(n *node.Node, self string, sample int64) *observer {
	o := &observer{sub: n.Subscribe(1 << 14), done: make(chan struct{})}
	go func() {
		defer close(o.done)
		for ev := range o.sub.C {
			o.note(ev, self, sample)
		}
	}()
	return o
}

func (o *observer) note(ev node.Event, self string, sample int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.missed += ev.Missed
	switch ev.Type {
	case node.EventSuspend:
		o.susp += len(ev.Peers)
	case node.EventUpdates:
		for _, d := range ev.Deltas {
			i, err := strconv.ParseInt(strings.TrimPrefix(d.Key, "r"), 10, 64)
			if d.Peer == self || err != nil || i%sample != 0 || len(d.Value) < 8 {
				continue
			}
			o.samples = append(o.samples, arrival{W: d.Peer, I: i,
				T: int64(binary.LittleEndian.Uint64(d.Value)), A: ev.Time.UnixNano()})
		}
	}
}

func (o *observer) snapshot() ([]arrival, int, uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]arrival(nil), o.samples...), o.susp, o.missed
}

func (o *observer) close() {
	o.sub.Close()
	<-o.done
}
