package sim

import (
	"fmt"
	"math"
	"math/rand"
	"time"

	"github.com/leviathan-gossip/leviathan/internal/engine"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Params are what a benchmark scenario varies. Zero fields take defaults.
type Params struct {
	Nodes int
	Drop  float64
	Seed  int64
	// Duration is the measured window: after the write (convergence),
	// before the crash (detection), of writes and crashes (churn).
	Duration time.Duration
	// WarmupLimit caps the time given to the cluster to form, from every
	// node knowing only the seeds to every node seeing every other alive.
	WarmupLimit time.Duration
	// Churn only.
	WriteRate  float64       // writes per second per node; default 1
	CrashEvery time.Duration // a random node crashes this often; default 10s
	Downtime   time.Duration // and restarts this much later; default 20s
	Flow       bool          // writers wait for their engine's flow control
	// StreamRate is NetConfig.StreamRate: bytes a second each node takes
	// in over streams; 0 unbounded.
	StreamRate int
	// MessageBudget overrides the stream message budget (default 4 MiB).
	MessageBudget int
	MTU           int // overrides the datagram size (default 1400)
	// Prejoin makes nodes start knowing every member (see Cluster.Prejoin)
	// instead of only the seeds, as a cluster restarting after it formed;
	// join_s then leaves out the spread of membership from the seeds.
	Prejoin   bool
	ValueSize int // churn: bytes per value; default 64
	// PushFanout is Config.PushFanout: 0 the default, negative off.
	PushFanout int
	// Keys is how many distinct keys each churn writer cycles through;
	// default 16. Overwrites collapse in gossip (only a key's latest
	// version is sent), so congestion needs many keys.
	Keys int
	// Signed is Config.Signed: node records signed and checked.
	Signed bool
}

func (p Params) config() Config {
	cfg := Config{Nodes: p.Nodes, Seed: p.Seed, MessageBudget: p.MessageBudget, MTU: p.MTU, PushFanout: p.PushFanout, Signed: p.Signed}
	if p.MessageBudget > 0 && p.MessageBudget < 4<<20 {
		// A small budget (to provoke congestion) needs smaller limits: the
		// core insists that the largest record fits one message.
		cfg.Limits = lsync.Limits{MaxKeyBytes: 256, MaxValueBytes: max(p.MessageBudget-256-1024, 1), MaxIDBytes: 255}
	}
	cfg.Net = DefaultNet
	cfg.Net.Drop = p.Drop
	cfg.Net.StreamRate = p.StreamRate
	cfg.Flow = p.flowConfig(cfg.withDefaults().MessageBudget)
	return cfg
}

func (p Params) withDefaults(window time.Duration) Params {
	if p.Duration <= 0 {
		p.Duration = window
	}
	if p.WarmupLimit <= 0 {
		p.WarmupLimit = 60 * time.Second
	}
	if p.WriteRate <= 0 {
		p.WriteRate = 1
	}
	if p.CrashEvery <= 0 {
		p.CrashEvery = 10 * time.Second
	}
	if p.Downtime <= 0 {
		p.Downtime = 20 * time.Second
	}
	if p.Keys <= 0 {
		p.Keys = 16
	}
	if p.ValueSize <= 0 {
		p.ValueSize = 64
	}
	return p
}

// Common are the fields every result has.
type Common struct {
	Scenario string  `json:"scenario"`
	Nodes    int     `json:"nodes"`
	Drop     float64 `json:"drop"`
	Seed     int64   `json:"seed"`
	JoinS    float64 `json:"join_s"` // time for the cluster to form; -1 if it did not
	SimS     float64 `json:"sim_s"`  // simulated seconds in all
	WallS    float64 `json:"wall_s"` // filled in by the caller
	// Violations of the protocol invariants seen during the run.
	Violations int `json:"violations"`
	// Violated lists them (the first 100), for a log rather than a table.
	Violated []string `json:"-"`
}

// WarmUp runs until the cluster has formed — every running node sees at
// least 99% of the other running nodes alive (all of them below 100
// nodes) — or until limit has passed; it returns how long that took and
// whether it happened. Not 100% at scale: with a million observer/peer
// pairs, one of them is nearly always in a false suspicion.
func (c *Cluster) WarmUp(limit time.Duration) (time.Duration, bool) {
	start := c.Now()
	for c.Now()-start < limit {
		c.RunFor(c.cfg.Check)
		if c.allAlive() {
			return c.Now() - start, true
		}
	}
	return c.Now() - start, false
}

func (c *Cluster) allAlive() bool {
	up := 0
	for _, n := range c.nodes {
		if n.up {
			up++
		}
	}
	need := up - 1 - (up-1)/100
	for _, n := range c.nodes {
		if n.up && n.eng.Live() < need {
			return false
		}
	}
	return true
}

func start(p Params) (*Cluster, Common, error) {
	c, err := New(p.config())
	if err != nil {
		return nil, Common{}, err
	}
	if p.Prejoin {
		c.Prejoin()
	}
	if err := c.Start(); err != nil {
		return nil, Common{}, err
	}
	join, ok := c.WarmUp(p.WarmupLimit)
	com := Common{Nodes: p.Nodes, Drop: p.Drop, Seed: p.Seed, JoinS: round2(join.Seconds())}
	if !ok {
		com.JoinS = -1
	}
	return c, com, nil
}

func (c *Cluster) finish(com *Common) {
	com.SimS = round2(c.Now().Seconds())
	com.Violations = len(c.violations)
	com.Violated = c.violations
}

// ConvergenceResult is the outcome of one write spreading.
type ConvergenceResult struct {
	Common
	RoundsP50    float64 `json:"rounds_p50"`
	RoundsP90    float64 `json:"rounds_p90"`
	RoundsP99    float64 `json:"rounds_p99"`
	RoundsAll    float64 `json:"rounds_all"` // -1 if some node never got it
	RoundsTarget float64 `json:"rounds_target"`
	Reached      int     `json:"reached"` // nodes holding the write at the end
	BytesPerNode float64 `json:"bytes_per_node_per_s"`
	MsgsPerNode  float64 `json:"msgs_per_node_per_s"`
	SynMaxBytes  int     `json:"syn_max_bytes"`
	SynEntries   float64 `json:"syn_entries_avg"` // digest entries per Syn
	// PushBytesPerRecord is the wire bytes of every push sent over the
	// window per node that received the write (the record delivered).
	PushBytesPerRecord float64 `json:"push_bytes_per_record"`
}

// Convergence forms the cluster, has one node write one key and measures
// when each node holds it, and the traffic of the window after the write.
func Convergence(p Params) (*ConvergenceResult, error) {
	p = p.withDefaults(30 * time.Second)
	c, com, err := start(p)
	if err != nil {
		return nil, err
	}
	com.Scenario = "convergence"
	rng := rand.New(rand.NewSource(p.Seed))
	origin := c.nodes[rng.Intn(len(c.nodes))]
	t0 := c.Now()
	before, synsBefore := c.Traffic(), c.Syns()
	got := make([]time.Duration, 0, len(c.nodes))
	var version uint64
	holds := make([]bool, len(c.nodes))
	c.Hooks.Commit = func(i int, b *lsync.Batch) {
		for _, ch := range b.Changes {
			// A watermark at or above the version means it is held:
			// watermarks only cover gap-free prefixes.
			if ch.Meta.ID == origin.ID && !holds[i] && version > 0 && ch.Meta.MaxVersion >= version {
				holds[i] = true
				got = append(got, c.Now()-t0)
			}
		}
	}
	version, err = c.Write(origin.Index, KV{Key: "convergence", Value: make([]byte, 100)})
	if err != nil {
		return nil, err
	}
	holds[origin.Index] = true
	got = append(got, 0) // the writer holds it at once
	c.RunUntil(t0 + p.Duration)
	after, synsAfter := c.Traffic(), c.Syns()
	c.Hooks.Commit = nil
	r := &ConvergenceResult{Common: com, Reached: len(got)}
	rounds := sortedSeconds(got)
	for i := range rounds {
		rounds[i] /= c.cfg.Gossip.Seconds()
	}
	n := float64(len(c.nodes))
	r.RoundsP90 = quantileOfAll(rounds, 0.90, len(c.nodes))
	r.RoundsP99 = quantileOfAll(rounds, 0.99, len(c.nodes))
	r.RoundsP50 = quantileOfAll(rounds, 0.50, len(c.nodes))
	r.RoundsAll = quantileOfAll(rounds, 1, len(c.nodes))
	r.RoundsTarget = round2(math.Log2(n) + math.Log(n) + 3)
	secs := p.Duration.Seconds()
	r.BytesPerNode = round2(float64(after.BytesOut-before.BytesOut) / n / secs)
	r.MsgsPerNode = round2(float64(after.MsgsOut-before.MsgsOut) / n / secs)
	r.SynMaxBytes = synsAfter.MaxBytes
	if len(got) > 1 {
		r.PushBytesPerRecord = round2(float64(after.PushBytes-before.PushBytes) / float64(len(got)-1))
	}
	if k := synsAfter.Count - synsBefore.Count; k > 0 {
		r.SynEntries = round2(float64(synsAfter.Entries-synsBefore.Entries) / float64(k))
	}
	c.finish(&r.Common)
	return r, nil
}

// quantileOfAll is the time by which a fraction q of all n nodes held the
// write, from the sorted times of those that did; -1 if fewer did.
func quantileOfAll(sorted []float64, q float64, n int) float64 {
	need := int(math.Ceil(q * float64(n)))
	if need > len(sorted) {
		return -1
	}
	return round2(sorted[max(need, 1)-1])
}

// DetectionResult is the outcome of one crash and of a quiet period before.
type DetectionResult struct {
	Common
	DetectP50S      float64 `json:"detect_s_p50"`
	DetectP99S      float64 `json:"detect_s_p99"` // of all other nodes; -1 if over 1% never suspended it
	DetectMaxS      float64 `json:"detect_s_max"` // -1 if some node never suspended it
	Undetected      int     `json:"undetected"`
	FalseSuspicions int     `json:"false_suspicions"`
	NodeMinutes     float64 `json:"node_minutes"`
	FalsePer1000    float64 `json:"false_per_1000_node_min"`
	// ByVerdict and ByRelayed split every reported suspicion (the crash's
	// included) by cause: a quorum of monitors, or the last resort of phi
	// over relayed heartbeats.
	ByVerdict uint64 `json:"by_verdict"`
	ByRelayed uint64 `json:"by_relayed"`
	// FalseWithStart counts the false suspicions from the first boot on,
	// the cold start included: every reported suspicion but the crash's.
	FalseWithStart int `json:"false_incl_cold_start"`
	// IdleBytes is bytes sent per node per second over the last 10 s
	// before the crash (no writes).
	IdleBytes float64 `json:"idle_bytes_per_node_per_s"`
	// IdleByType splits IdleBytes by message type.
	IdleByType map[string]float64 `json:"idle_bytes_by_type,omitempty"`
}

// Detection forms the cluster, watches it for Duration counting
// suspicions of running nodes (all false), then crashes one node and
// measures when each other node suspends it.
func Detection(p Params) (*DetectionResult, error) {
	p = p.withDefaults(600 * time.Second)
	c, com, err := start(p)
	if err != nil {
		return nil, err
	}
	com.Scenario = "detection"
	r := &DetectionResult{Common: com}
	crashed := -1
	var tc time.Duration
	detected := make(map[int]time.Duration)
	c.Hooks.Events = func(i int, evs []engine.Event) {
		for _, ev := range evs {
			if ev.Kind != engine.Suspend {
				continue
			}
			for _, id := range ev.Peers {
				j := c.byID[id]
				switch {
				case j == crashed:
					if _, ok := detected[i]; !ok {
						detected[i] = c.Now() - tc
					}
				case c.nodes[j].up:
					r.FalseSuspicions++
				}
			}
		}
	}
	idle := min(10*time.Second, p.Duration)
	c.RunFor(p.Duration - idle)
	t0 := c.Traffic()
	c.RunFor(idle)
	t1 := c.Traffic()
	perNode := func(b uint64) float64 { return round2(float64(b) / float64(len(c.nodes)) / idle.Seconds()) }
	r.IdleBytes = perNode(t1.BytesOut - t0.BytesOut)
	r.IdleByType = make(map[string]float64)
	for i, b := range t1.ByType {
		if d := b - t0.ByType[i]; d > 0 {
			r.IdleByType[lsync.MsgType(i).String()] = perNode(d)
		}
	}
	r.NodeMinutes = round2(float64(len(c.nodes)) * p.Duration.Minutes())
	r.FalsePer1000 = round2(float64(r.FalseSuspicions) / r.NodeMinutes * 1000)
	rng := rand.New(rand.NewSource(p.Seed))
	crashed = c.cfg.Seeds + rng.Intn(max(len(c.nodes)-c.cfg.Seeds, 1))
	crashed = min(crashed, len(c.nodes)-1)
	tc = c.Now()
	c.Crash(crashed)
	others := len(c.nodes) - 1
	c.RunWhile(tc+120*time.Second, func() bool { return len(detected) < others })
	c.Hooks.Events = nil
	for _, n := range c.nodes {
		if n.eng != nil {
			cs := n.eng.Detector().Causes()
			r.ByVerdict += cs.Verdict
			r.ByRelayed += cs.Relayed
		}
	}
	r.FalseWithStart = int(r.ByVerdict+r.ByRelayed) - len(detected)
	ds := make([]time.Duration, 0, len(detected))
	for _, d := range detected {
		ds = append(ds, d)
	}
	secs := sortedSeconds(ds)
	r.Undetected = others - len(ds)
	r.DetectP50S = round2(percentile(secs, 0.5))
	r.DetectP99S = quantileOfAll(secs, 0.99, others)
	r.DetectMaxS = -1
	if r.Undetected == 0 && len(secs) > 0 {
		r.DetectMaxS = round2(secs[len(secs)-1])
	}
	c.finish(&r.Common)
	return r, nil
}

// String formats a result for logs.
func (r *DetectionResult) String() string {
	return fmt.Sprintf("%+v", *r)
}
