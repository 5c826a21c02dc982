package sim

import (
	"errors"
	"fmt"
	"math/rand"
	"time"

	"github.com/leviathan-gossip/leviathan/health"
	"github.com/leviathan-gossip/leviathan/internal/engine"
	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/wire"
)

// Config is a simulated cluster. Zero fields take the node's defaults.
type Config struct {
	Nodes     int
	Seed      int64
	Cluster   string
	Seeds     int           // the first Seeds nodes are everyone's seeds; default 3
	Gossip    time.Duration // gossip round interval; default 1s
	Heartbeat time.Duration // default 1s
	Check     time.Duration // health check interval; default 1s
	Reduce    time.Duration // tombstone collection interval; default 10s, as the node
	// TombstoneGrace is how long tombstones are kept; default 1h.
	TombstoneGrace time.Duration
	// DeadGrace is how long a dead peer is kept before it is removed with
	// its data; default 24h, as the node. KeepDead never removes one.
	DeadGrace time.Duration
	KeepDead  bool
	// Unsynced is how far back a power loss (PowerLoss) takes a node's
	// store: the batches applied within it were not synced to disk.
	Unsynced time.Duration
	// ExpectLostTail boots a restarted node as a node without sync_writes
	// boots after a crash: it may have lost its newest own writes, so its
	// writes wait (ErrRecovering, for at most max(2s, 5 rounds)) for a
	// peer's word, and never reuse a version a peer holds.
	ExpectLostTail bool
	// GenerationEvidence is sync.Config's; default 2, as the node.
	GenerationEvidence int
	// Monitors is how many peers each node beats to directly (the node's
	// monitors); default 5, as the node; negative turns monitoring off
	// (phi over every heartbeat rise). Quorum: votes needed;
	// default a majority.
	Monitors int
	Quorum   int
	// QuietDigest, Recent and QuietFanout are the engine's (a quiet round's
	// digest slice in bytes, how long changed data is news, a quiet round's
	// fanout); defaults as the node's; negative turns each off.
	QuietDigest int
	Recent      time.Duration
	QuietFanout int
	// QuietSummary > 0 or 0 (the default, as the node's) sends a quiet
	// round's summary instead of its digest slice; negative does not.
	QuietSummary int
	Fanout       int // default 3
	// PushFanout and PushRate are the engine's eager push; PushFanout
	// defaults to 5, as the node's, and a negative one turns it off.
	PushFanout    int
	PushRate      int
	MTU           int          // largest datagram; default 1400
	MessageBudget int          // largest stream message; default 4 MiB, as the node
	Limits        lsync.Limits // key/value limits; default sync.DefaultLimits
	// Health configures every detector. Default: the node's defaults with
	// a window of 100 samples, to bound memory at N² windows.
	Health *health.Config
	Net    NetConfig
	// Flow is the engine's write flow control; zero is off. The
	// simulator's writes do not ask for admission unless a scenario's
	// writers do (churn with Params.Flow).
	Flow engine.FlowConfig
	// Signed gives each node a key, pinned for it on every node, and
	// makes the engines sign and check node records (engine.Signing).
	Signed bool
	// BeatChain is the length of each signed node's heartbeat chains
	// (default 1<<14: set up in a couple of milliseconds, and as many
	// beats as a simulation runs); Reanchor is engine.Signing.Reanchor.
	BeatChain, Reanchor uint64
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.Cluster == "" {
		out.Cluster = "sim"
	}
	if out.Seeds <= 0 {
		out.Seeds = 3
	}
	out.Seeds = min(out.Seeds, out.Nodes)
	if out.Gossip <= 0 {
		out.Gossip = time.Second
	}
	if out.Heartbeat <= 0 {
		out.Heartbeat = time.Second
	}
	if out.Check <= 0 {
		out.Check = time.Second
	}
	if out.Reduce <= 0 {
		out.Reduce = 10 * time.Second
	}
	if out.TombstoneGrace <= 0 {
		out.TombstoneGrace = time.Hour
	}
	if out.DeadGrace <= 0 {
		out.DeadGrace = 24 * time.Hour
	}
	if out.GenerationEvidence <= 0 {
		out.GenerationEvidence = 2
	}
	if out.Fanout <= 0 {
		out.Fanout = 3
	}
	if out.Monitors == 0 {
		out.Monitors = 5
	}
	if out.PushFanout == 0 {
		out.PushFanout = 5
	}
	if out.QuietDigest == 0 {
		out.QuietDigest = DefaultQuietDigest
	}
	if out.Recent == 0 {
		out.Recent = 30 * out.Gossip
	}
	if out.QuietFanout == 0 {
		out.QuietFanout = DefaultQuietFanout
	}
	if out.MTU <= 0 {
		out.MTU = 1400
	}
	if out.MessageBudget <= 0 {
		out.MessageBudget = 4 << 20
	}
	if out.Limits == (lsync.Limits{}) {
		out.Limits = lsync.DefaultLimits
	}
	if out.Health == nil {
		h := health.DefaultConfig()
		h.WindowSize = 100
		out.Health = &h
	}
	if out.Net == (NetConfig{}) {
		out.Net = DefaultNet
	}
	return out
}

// Defaults of a quiet round, as the node's.
var (
	DefaultQuietDigest = 400
	DefaultQuietFanout = 1
)

// Hooks observe the run. Each is optional and called synchronously from
// the event loop.
type Hooks struct {
	// Commit sees every batch a node made durable and committed.
	Commit func(node int, b *lsync.Batch)
	// Events sees every peer event a node publishes (suspend, recover,
	// dead, remove, leave...), as the node's subscribers would.
	Events func(node int, evs []engine.Event)
	// Message sees every message a running node decoded, before handling.
	Message func(node int, m lsync.Message)
	// Round is called as a node opens a gossip round.
	Round func(node int)
}

// Cluster is the simulator: nodes, network and the event loop.
type Cluster struct {
	cfg    Config
	clock  Clock
	q      queue
	net    *network
	nodes  []*Node
	byAddr map[string]int
	byID   map[string]int
	seeds  []string
	Hooks  Hooks
	// trust pins every node's key when Config.Signed.
	trust *identity.Trust

	violations []string
	syns       SynStats
	delays     []time.Duration
}

// ErrConfig is wrapped by errors about a bad simulation config.
var ErrConfig = errors.New("sim: invalid config")

// New builds a cluster whose nodes are not started yet; call Start.
func New(cfg Config) (*Cluster, error) {
	if cfg.Nodes < 1 || cfg.Nodes > 100000 {
		return nil, fmt.Errorf("%w: nodes %d out of range 1-100000", ErrConfig, cfg.Nodes)
	}
	if cfg.Net.Drop < 0 || cfg.Net.Drop >= 1 {
		return nil, fmt.Errorf("%w: drop %v out of range [0,1)", ErrConfig, cfg.Net.Drop)
	}
	c := &Cluster{cfg: cfg.withDefaults(), byAddr: make(map[string]int), byID: make(map[string]int)}
	if err := c.cfg.Health.Validate(); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	c.net = newNetwork(c.cfg.Net, cfg.Nodes, cfg.Seed)
	gen := uint64(Epoch.UnixMilli())
	for i := range cfg.Nodes {
		n := &Node{
			Index: i,
			ID:    fmt.Sprintf("n%04d", i),
			Addr:  fmt.Sprintf("10.%d.%d.%d:7946", i>>16&255, i>>8&255, i&255),
			gen:   gen,
			store: newStore(c.cfg.Unsynced, c.byID),
			// Each node draws from its own stream, derived from the seed,
			// so one node's choices do not shift another's.
			rng: rand.New(rand.NewSource(cfg.Seed*1_000_003 + int64(i) + 1)),
		}
		c.nodes = append(c.nodes, n)
		c.byAddr[n.Addr] = i
		c.byID[n.ID] = i
	}
	if cfg.Signed {
		if err := c.keyNodes(); err != nil {
			return nil, err
		}
	}
	for i := range c.cfg.Seeds {
		c.seeds = append(c.seeds, c.nodes[i].Addr)
	}
	return c, nil
}

// Config is the cluster's configuration with defaults filled in.
func (c *Cluster) Config() Config { return c.cfg }

// Now is the simulated time since the start.
func (c *Cluster) Now() time.Duration { return c.clock.Now() }

// Nodes lists the nodes, by index.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Node returns node i.
func (c *Cluster) Node(i int) *Node { return c.nodes[i] }

// Violations lists every broken invariant seen so far.
func (c *Cluster) Violations() []string { return c.violations }

func (c *Cluster) violate(format string, args ...any) {
	if len(c.violations) < 100 {
		c.violations = append(c.violations, fmt.Sprintf("t=%v ", c.clock.Now())+fmt.Sprintf(format, args...))
	}
}

// Prejoin gives every node's store the address of every other node, as
// if the cluster had formed before and restarted: it skips the membership
// spread of a cold start, which by default every cluster goes through
// (nodes know only the seeds). Call it before Start.
func (c *Cluster) Prejoin() {
	for _, n := range c.nodes {
		for _, o := range c.nodes {
			if o != n {
				n.store.peers.set(o.ID, &storedPeer{meta: lsync.PeerMeta{ID: o.ID, Alias: o.ID, Addr: o.Addr, Generation: o.gen}})
			}
		}
	}
}

// Start boots every node, each with a random phase within its intervals,
// so that rounds do not all happen at the same instant.
func (c *Cluster) Start() error {
	for _, n := range c.nodes {
		if err := c.start(n); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) start(n *Node) error {
	if err := n.boot(c); err != nil {
		return err
	}
	// As node.Start: the node comes up at a random instant within a
	// round, opens a round at once and starts its tickers together, so
	// its rounds, beats and checks share one phase.
	up := c.clock.Now() + c.phase(n, c.cfg.Gossip)
	c.q.push(event{at: up, kind: evGossip, node: int32(n.Index), inc: n.inc})
	c.q.push(event{at: up + c.cfg.Heartbeat, kind: evBeat, node: int32(n.Index), inc: n.inc})
	c.q.push(event{at: up + c.cfg.Check, kind: evCheck, node: int32(n.Index), inc: n.inc})
	c.q.push(event{at: up + c.cfg.Reduce, kind: evReduce, node: int32(n.Index), inc: n.inc})
	return nil
}

func (c *Cluster) phase(n *Node, d time.Duration) time.Duration {
	return time.Duration(n.rng.Int63n(int64(d)))
}

// Crash stops node i at once; what it committed stays in its store.
func (c *Cluster) Crash(i int) {
	n := c.nodes[i]
	if !n.up {
		return
	}
	n.up = false
	n.inc++
}

// PowerLoss stops node i at once and takes back from its store every
// batch applied within Config.Unsynced, as a power cut does to a store
// that does not sync every write. It returns how many batches were lost.
func (c *Cluster) PowerLoss(i int) int {
	n := c.nodes[i]
	if !n.up {
		return 0
	}
	c.Crash(i)
	return n.store.loseUnsynced()
}

// Restart boots a crashed node from its store.
func (c *Cluster) Restart(i int) error {
	n := c.nodes[i]
	if n.up {
		return fmt.Errorf("sim: restart %s: still running", n.ID)
	}
	return c.start(n)
}

// Wipe stops node i, if running, and throws its store away, as deleting
// a data directory does: the next Restart boots it with a new generation
// (the time now) and heartbeats from the first boot block again, below
// those of its old incarnation.
func (c *Cluster) Wipe(i int) {
	c.Crash(i)
	n := c.nodes[i]
	n.store = newStore(c.cfg.Unsynced, c.byID)
	n.issued = 0 // versions start over in a new generation
	n.gen = max(uint64(c.clock.Time().UnixMilli()), n.gen+1)
}

// Partition splits the network: each set can talk only within itself, and
// nodes in no set form one more group. It replaces an earlier partition.
func (c *Cluster) Partition(sets ...[]int) { c.net.partition(sets) }

// Heal removes every partition and block.
func (c *Cluster) Heal() { c.net.heal() }

// Block stops messages from one node to another (one way).
func (c *Cluster) Block(from, to int) { c.net.blocked[[2]int{from, to}] = true }

// SetNet changes the network's faults from now on.
func (c *Cluster) SetNet(cfg NetConfig) {
	c.net.cfg.Drop, c.net.cfg.Duplicate, c.net.cfg.Reorder = cfg.Drop, cfg.Duplicate, cfg.Reorder
	c.net.cfg.ReorderWindow, c.net.cfg.DelayMin, c.net.cfg.DelayMax = cfg.ReorderWindow, cfg.DelayMin, cfg.DelayMax
	c.net.cfg.StreamRate = cfg.StreamRate
}

// At schedules fn at simulated time t (or now, if t is past).
func (c *Cluster) At(t time.Duration, fn func()) {
	c.q.push(event{at: max(t, c.clock.Now()), kind: evFunc, fn: fn})
}

// Write has node i write key/value pairs in one batch and returns the last
// version issued.
func (c *Cluster) Write(i int, kv ...KV) (uint64, error) {
	recs := make([]lsync.Record, len(kv))
	for j, p := range kv {
		recs[j] = lsync.Record{Key: p.Key, Value: p.Value}
	}
	return c.write(i, recs)
}

// Delete has node i delete keys (write tombstones) in one batch and
// returns the last version issued.
func (c *Cluster) Delete(i int, keys ...string) (uint64, error) {
	recs := make([]lsync.Record, len(keys))
	for j, k := range keys {
		recs[j] = lsync.Record{Key: k, Tombstone: true, Value: lsync.TombstoneValue(uint64(c.clock.Time().UnixMilli()))}
	}
	return c.write(i, recs)
}

func (c *Cluster) write(i int, recs []lsync.Record) (uint64, error) {
	n := c.nodes[i]
	if !n.up {
		return 0, fmt.Errorf("sim: write on %s: node is down", n.ID)
	}
	if len(recs) == 0 {
		return 0, fmt.Errorf("sim: write on %s: nothing to write", n.ID)
	}
	rd, err := n.eng.Write(c.clock.Time(), recs)
	if err != nil {
		return 0, fmt.Errorf("sim: write on %s: %w", n.ID, err)
	}
	for _, r := range recs {
		// Versions of one node strictly increase across its whole life,
		// restarts included: the simulator remembers what it saw issued.
		if r.Version <= n.issued {
			c.violate("%s issued version %d after %d", n.ID, r.Version, n.issued)
		}
		n.issued = r.Version
	}
	c.ready(n, &rd)
	return recs[len(recs)-1].Version, nil
}

// Leave closes node i as node.Close does: it announces its leave to every
// peer it knows, then stops.
func (c *Cluster) Leave(i int) {
	n := c.nodes[i]
	if !n.up {
		return
	}
	rd := n.eng.Leave()
	c.ready(n, &rd)
	c.Crash(i)
}

// RunFor advances simulated time by d.
func (c *Cluster) RunFor(d time.Duration) { c.RunUntil(c.clock.Now() + d) }

// RunUntil processes every event due up to t, then sets the clock to t.
func (c *Cluster) RunUntil(t time.Duration) {
	for c.q.len() > 0 && c.q.peek().at <= t {
		c.step()
	}
	c.clock.now = max(c.clock.now, t)
}

// RunWhile runs until cond is false or the time limit passes, checking
// cond after every event; it reports whether cond became false.
func (c *Cluster) RunWhile(limit time.Duration, cond func() bool) bool {
	for cond() {
		if c.q.len() == 0 || c.q.peek().at > limit {
			c.clock.now = max(c.clock.now, limit)
			return !cond()
		}
		c.step()
	}
	return true
}

func (c *Cluster) step() {
	e := c.q.pop()
	c.clock.now = e.at
	if e.kind == evFunc {
		e.fn()
		return
	}
	n := c.nodes[e.node]
	if !n.up || (e.kind != evDeliver && e.inc != n.inc) {
		if e.kind == evDeliver {
			c.nodes[e.from].Stats.Lost++
		}
		return
	}
	switch e.kind {
	case evGossip:
		c.round(n)
		e.at += c.cfg.Gossip
		c.q.push(e)
	case evBeat:
		rd := n.eng.Beat(c.clock.Time())
		c.renewChain(n)
		c.ready(n, &rd)
		e.at += c.cfg.Heartbeat
		c.q.push(e)
	case evCheck:
		c.check(n)
		e.at += c.cfg.Check
		c.q.push(e)
	case evReduce:
		c.collect(n)
		e.at += c.cfg.Reduce
		c.q.push(e)
	case evDeliver:
		c.deliver(n, int(e.from), e.data)
	case evProbe:
		rd := n.eng.Probe(c.clock.Time()) // early, it asks again through Apply
		c.ready(n, &rd)
	}
}

func (c *Cluster) round(n *Node) {
	n.Stats.Rounds++
	if c.Hooks.Round != nil {
		c.Hooks.Round(n.Index)
	}
	rd := n.eng.Round(c.clock.Time())
	c.ready(n, &rd)
}

// check runs the health check and, when due, the removal of dead peers
// (which the node runs beside the check, on its maintenance goroutine).
func (c *Cluster) check(n *Node) {
	now := c.clock.Time()
	rd := n.eng.Check(now)
	c.ready(n, &rd)
	if n.eng.RemovalDue(now) {
		rd := n.eng.Reap(now)
		c.ready(n, &rd)
	}
}

// collect collects the node's own tombstones as the node does: the
// engine plans, the store is read (outside the node's lock), the engine
// makes the batch.
func (c *Cluster) collect(n *Node) {
	scan := n.eng.PlanCollect(c.clock.Time())
	if scan == nil {
		return
	}
	scan.Read()
	rd := n.eng.Collect(scan)
	c.ready(n, &rd)
}

// ready does what a Ready asks through engine.Apply, in the node's order.
// The simulator runs one event at a time: a store write never fails and
// there is no lock to take.
func (c *Cluster) ready(n *Node, rd *engine.Ready) {
	if err := n.eng.Apply(rd, driver{c, n}); err != nil {
		c.violate("%s: apply: %v", n.ID, err)
	}
}

// driver is engine.Driver for one simulated node.
type driver struct {
	c *Cluster
	n *Node
}

func (driver) Lock()    {}
func (driver) Unlock()  {}
func (driver) Settled() {}

// ProbeAt schedules the engine's probe; the engine ignores one that is
// not due, so an extra event costs nothing.
func (d driver) ProbeAt(t time.Time) {
	at := time.Duration(t.Sub(d.c.clock.Time()))
	d.c.q.push(event{at: d.c.clock.Now() + max(0, at), kind: evProbe, node: int32(d.n.Index), inc: d.n.inc})
}

// Persist makes a batch durable in the node's store and checks it against
// the invariants: a bad batch is a bug whatever the engine does with it.
func (d driver) Persist(b *lsync.Batch) error {
	c, n := d.c, d.n
	for _, bad := range n.store.apply(b, c.clock.Now()) {
		c.violate("%s: %s", n.ID, bad)
	}
	for i := range b.Changes {
		ch := &b.Changes[i]
		o, ok := c.byID[ch.Meta.ID]
		if !ok || o == n.Index || ch.Remove {
			continue
		}
		// A watermark above what the owner itself has stored would claim
		// records that do not exist.
		gen, max, _ := c.nodes[o].store.watermark(ch.Meta.ID)
		if ch.Meta.Generation == gen && ch.Meta.MaxVersion > max {
			c.violate("%s: watermark of %s is %d, above the %d it stored", n.ID, ch.Meta.ID, ch.Meta.MaxVersion, max)
		}
	}
	return nil
}

func (d driver) Committed(rd *engine.Ready, err error) {
	if err == nil && d.c.Hooks.Commit != nil {
		d.c.Hooks.Commit(d.n.Index, rd.Batch)
	}
}

func (d driver) Publish(rd *engine.Ready) {
	if len(rd.Events) > 0 && d.c.Hooks.Events != nil {
		d.c.Hooks.Events(d.n.Index, rd.Events)
	}
}

// Send encodes each message once and hands it to the network.
func (d driver) Send(out []engine.Outgoing) {
	c, n := d.c, d.n
	var last lsync.Message
	var enc []byte
	for _, o := range out {
		if o.Msg != last {
			b, err := wire.Encode(o.Msg)
			if err != nil {
				c.violate("%s: encode %s: %v", n.ID, o.Msg.Type(), err)
				continue
			}
			last, enc = o.Msg, b
			if syn, ok := o.Msg.(*lsync.Syn); ok {
				c.noteSyn(n, syn, len(b))
			}
			if p, ok := o.Msg.(*lsync.Push); ok {
				c.notePush(n, p, len(b))
			}
		}
		if _, ok := o.Msg.(*lsync.Push); ok {
			n.Stats.Pushes++
			n.Stats.PushBytes += uint64(len(enc))
		}
		to, ok := c.byAddr[o.To]
		if !ok {
			c.violate("%s: send to unknown address %s", n.ID, o.To)
			continue
		}
		c.send(n, to, enc)
	}
}

// notePush checks a push against the durability rule: every record it
// carries is in the sender's store already, so no peer hears of what a
// crash of the sender could lose. And it fits one datagram.
func (c *Cluster) notePush(n *Node, p *lsync.Push, size int) {
	if size > c.cfg.MTU {
		c.violate("%s: push of %d bytes exceeds the MTU %d", n.ID, size, c.cfg.MTU)
	}
	for i := range p.Deltas {
		d := &p.Deltas[i]
		gen, max, ok := n.store.watermark(d.ID)
		if !ok || gen != d.Generation || max < d.To {
			c.violate("%s: pushes %s up to v%d before its store holds it (stored gen %d v%d)", n.ID, d.ID, d.To, gen, max)
		}
	}
}

func (c *Cluster) noteSyn(n *Node, syn *lsync.Syn, size int) {
	if size > c.cfg.MTU {
		c.violate("%s: syn of %d bytes exceeds the MTU %d", n.ID, size, c.cfg.MTU)
	}
	c.syns.Count++
	c.syns.MaxBytes = max(c.syns.MaxBytes, size)
	c.syns.Entries += uint64(len(syn.Digest))
	if !syn.Complete {
		c.syns.Incomplete++
	}
}

// msgType reads the type byte of an encoded message's header; 0 when
// there is none.
func msgType(b []byte) int {
	if len(b) < wire.HeaderSize {
		return 0
	}
	return int(b[3]) & 15
}

// send hands an encoded message to the network. Messages share the
// encoded bytes: receivers only decode them.
func (c *Cluster) send(from *Node, to int, b []byte) {
	from.Stats.MsgsOut++
	from.Stats.BytesOut += uint64(len(b))
	from.Stats.ByType[msgType(b)] += uint64(len(b))
	if len(b) > c.cfg.MTU {
		from.Stats.Streams++
	}
	if !c.net.reachable(from.Index, to) {
		from.Stats.Lost++
		return
	}
	c.delays = c.net.route(len(b), c.cfg.MTU, c.delays)
	if len(c.delays) == 0 {
		from.Stats.Lost++
	}
	for _, d := range c.delays {
		at, ok := c.clock.Now()+d, true
		if len(b) > c.cfg.MTU {
			if at, ok = c.net.queue(to, at, len(b)); !ok {
				from.Stats.Lost++
				continue
			}
		}
		c.q.push(event{at: at, kind: evDeliver, node: int32(to), from: int32(from.Index), data: b})
	}
}

// deliver runs one received message through the node's engine.
func (c *Cluster) deliver(n *Node, from int, data []byte) {
	if !c.net.reachable(from, n.Index) {
		c.nodes[from].Stats.Lost++ // a partition that began in flight
		return
	}
	n.Stats.MsgsIn++
	n.Stats.BytesIn += uint64(len(data))
	msg, err := wire.DecodeWith(data, c.cfg.Limits)
	if err != nil {
		c.violate("%s: decode from %s: %v", n.ID, c.nodes[from].ID, err)
		return
	}
	c.intern(msg)
	if c.Hooks.Message != nil {
		c.Hooks.Message(n.Index, msg)
	}
	rd := n.eng.Step(c.clock.Time(), c.nodes[from].Addr, msg)
	c.ready(n, &rd)
}
