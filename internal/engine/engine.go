// Package engine is one Leviathan node without its I/O: the scuttlebutt
// core, the failure detector, the versioner and the bookkeeping around
// them (catch-up pulls, leaves, dead peers awaiting removal, in-flight
// deltas, the generation ceiling). It owns no goroutine, socket, clock or
// disk. Inputs are a received message, a timer firing and a local write,
// each with the time; the output is a Ready: a batch to make durable,
// messages to send and events to publish. The driver persists the batch,
// calls Commit, and only then publishes and sends, all through Apply so
// that the order is kept in one place — the model is etcd raft's RawNode.
//
// node drives an Engine with goroutines, sockets, Badger and the wall
// clock; internal/sim drives the same Engine with a simulated network,
// clock and in-memory store, so the simulator measures the node's logic
// and not a copy of it.
//
// An Engine is not safe for concurrent use. A driver that releases its
// lock while a batch is being persisted must not produce a second batch
// until the first is committed (see Busy).
package engine

import (
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"time"

	"github.com/leviathan-gossip/leviathan/health"
	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/versioner"
)

// Config describes one node. Zero durations and counts are errors where
// noted; the node and the simulator fill in their defaults.
type Config struct {
	Cluster    string
	Self       lsync.PeerMeta // ID, Alias, Addr and Generation
	Boot       uint64         // boot count: heartbeats start at Boot<<32
	Seeds      []string       // seed addresses
	Fanout     int            // live peers gossiped to per round (> 0)
	Gossip     time.Duration  // round interval: a pull unanswered for two is given up (> 0)
	DeadGrace  time.Duration  // dead this long -> removed with its data
	KeepDead   bool           // never remove dead peers
	Tombstones time.Duration  // tombstone grace
	// LeftTTL bounds how long a peer that announced its leave is
	// remembered as left if it is neither removed nor heard from again;
	// default 2*DeadGrace.
	LeftTTL       time.Duration
	PacketBudget  int
	MessageBudget int
	Limits        lsync.Limits
	// GenerationEvidence: messages from a peer itself that prove its
	// generation changed (sync.Config); 0 believes any message.
	GenerationEvidence int
	Health             health.Config
	// Monitors is how many peers each node beats to directly (see
	// health.Monitor); 0 judges peers by phi over every heartbeat rise, as
	// before monitoring. Quorum is how many of a peer's monitors must
	// vote to suspend it at once; 0 means all but one.
	Monitors int
	Quorum   int
	// QuietDigest and Recent are sync.Config's QuietDigest and RecentMs;
	// QuietFanout, when > 0, is the fanout of a round with no news to
	// spread (no recent data, no votes).
	QuietDigest int
	Recent      time.Duration
	QuietFanout int
	// QuietSummary makes a round with no news send a summary of its digest
	// (sync.State.SummarySyn) rather than a slice of it.
	QuietSummary bool
	Versioner    versioner.Versioner // default a counter
	// Storage is where committed records are read from (the node's
	// Badger); nil keeps them in the core's own memory (sync.Config).
	// With one, the driver makes each batch durable in it before Commit
	// and boots with RestoreMeta.
	Storage lsync.Storage
	Rand    *rand.Rand // peer selection; required
	// MaxPeers caps the nodes known at once (sync.Config.MaxPeers).
	MaxPeers int
	// PushFanout is how many live peers a committed write is pushed to
	// at once (push.go); 0 leaves writes to the rounds. PushRate bounds
	// the records pushed per second (default DefaultPushRate): beyond it
	// writes travel by rounds only, so a burst of writes costs digests,
	// not a flood of pushes.
	PushFanout int
	PushRate   int
	// Flow is write flow control (flow.go): MaxLag 0 admits every write.
	Flow FlowConfig
	// Signing, when set, makes addresses, generations, aliases and
	// leaves change only through their nodes' signed records
	// (records.go); the driver calls SignRecord before the first round.
	Signing *Signing
}

// MaxGenerationAhead is how far in the future a peer's generation (the
// milliseconds since the epoch when its data directory was created) may
// lie. A newer generation makes a node drop everything it holds of that
// peer and refuse that peer's older generation from then on, so one forged
// entry with an absurd generation would shut the real peer out for good;
// Cassandra rejects generations more than a year ahead for the same reason.
const MaxGenerationAhead = 365 * 24 * time.Hour

// Errors of Write.
var (
	// ErrBusy: an earlier batch is not committed yet.
	ErrBusy = errors.New("engine: a batch is being persisted")
	// ErrLeft: the node left (Leave).
	ErrLeft = errors.New("engine: left the cluster")
)

// Engine is the node's protocol logic; see the package documentation.
type Engine struct {
	cfg   Config
	state *lsync.State
	det   *health.Detector
	ver   versioner.Versioner
	rng   *rand.Rand

	// left holds peers that announced their leave, and since when. Their
	// suspicion and death are not announced and their return is a
	// recovery. Entries go on removal, recovery, or after LeftTTL.
	left map[string]time.Time
	// pulls are the catch-up exchanges in flight, by address, and when
	// each was opened; expired after two rounds.
	pulls map[string]time.Time
	// deadSince is when each dead peer was declared dead.
	deadSince map[string]time.Time

	// seedSilence counts, per seed address, the exchanges opened with it
	// while it never answered (-1 once it did); a seed that reaches
	// SilentSeedRounds is reported once (Ready.SilentSeeds).
	seedSilence map[string]int

	// mon is the monitoring protocol (health.Monitor): ring, votes,
	// verdicts, refutations. It exists without monitoring too, for leaves.
	mon *health.Monitor
	// ringSize is how many members were up at the last rebuild.
	ringSize int

	contradictedAt time.Time // when a false claim was last answered
	// versionFloor is the versioner's floor last raised from claims of
	// this node's watermark (sync.State.VersionFloor).
	versionFloor uint64
	// news is when membership last changed here (a peer heard of, found,
	// back or reborn): rounds stay loud for Config.Recent after it.
	news time.Time

	// Joining and hello (join.go): member lists asked for, whether an
	// answer named no one new, whether the join is over, when a member was
	// last heard of for the first time, and the hellos left to send (-1:
	// sent).
	joinAsks int
	listed   bool // an answer named no one new and held all it named alive
	joined   bool
	gotList  bool      // a member list came in answer
	retryAt  time.Time // when to ask again if none came (joinRetry)
	heardNew time.Time
	// After the join: since when members heard of are unconfirmed, and
	// the wait before the next late ask (lateAsk).
	lateSince time.Time
	lateWait  time.Duration
	lateAsks  int
	helloLeft int

	busy    bool // a Ready's batch is out for persisting
	leaving bool // Leave was called: no rounds, beats or writes
	seeds   []string
	ts      targets
	// FutureGenerations counts digest entries and deltas dropped by screen.
	futureGenerations uint64

	// The push's token bucket (push.go) and counters.
	own        ownRecent
	pushTokens float64
	pushAt     time.Time
	// probeAt is when the pending probe is due (zero: none); probedAt
	// when the last one ran (see probe.go).
	probeAt, probedAt time.Time
	pushStats         PushStats
	// flow is the write flow controller (flow.go).
	flow *flow
	// recs holds the signed node records (records.go); nil without
	// signing.
	recs *records
}

// New builds the engine of a node with no data; Restore adds what its
// store holds.
func New(cfg Config) (*Engine, error) {
	if cfg.Rand == nil || cfg.Fanout <= 0 || cfg.Gossip <= 0 {
		return nil, fmt.Errorf("engine: config needs Rand, Fanout and Gossip")
	}
	if cfg.PushRate <= 0 {
		cfg.PushRate = DefaultPushRate
	}
	if cfg.LeftTTL <= 0 {
		cfg.LeftTTL = 2 * max(cfg.DeadGrace, time.Minute)
	}
	st, err := lsync.NewState(lsync.Config{
		Cluster: cfg.Cluster,
		Self:    cfg.Self,
		// Every boot starts heartbeats in a new 2^32 block, so they are
		// above anything an earlier run of this node sent.
		Heartbeat:          cfg.Boot << 32,
		PacketBudget:       cfg.PacketBudget,
		MessageBudget:      cfg.MessageBudget,
		Limits:             cfg.Limits,
		GenerationEvidence: cfg.GenerationEvidence,
		QuietDigest:        cfg.QuietDigest,
		RecentMs:           uint64(cfg.Recent.Milliseconds()),
		Storage:            cfg.Storage,
		MaxPeers:           cfg.MaxPeers,
		RecordProofs:       cfg.Signing != nil && cfg.Signing.Records,
		PushProofReserve:   pushReserve(cfg.Signing),
	})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if cfg.Monitors > 0 {
		cfg.Health.Monitored = true
	}
	det, err := health.NewDetector(cfg.Health)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	fl, err := newFlow(cfg.Flow, cfg.Gossip)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e := &Engine{cfg: cfg, state: st, det: det, ver: cfg.Versioner, rng: cfg.Rand, flow: fl,
		left: make(map[string]time.Time), pulls: make(map[string]time.Time), deadSince: make(map[string]time.Time),
		seedSilence: make(map[string]int), recs: newRecords(cfg.Signing, cfg.MaxPeers)}
	e.mon = health.NewMonitor(health.MonitorConfig{Self: cfg.Self.ID, Monitors: cfg.Monitors, Quorum: cfg.Quorum,
		Gossip: cfg.Gossip, Rand: cfg.Rand}, det, core{e})
	if e.ver == nil {
		e.ver = versioner.NewCounter()
	}
	e.ts.dirty = true
	e.seeds = append([]string(nil), cfg.Seeds...)
	e.initBeats()
	e.initHorizons()
	return e, nil
}

// AddSeeds adds seed addresses (known ones are skipped).
func (e *Engine) AddSeeds(addrs ...string) {
	for _, a := range addrs {
		if !slices.Contains(e.seeds, a) {
			e.seeds = append(e.seeds, a)
		}
	}
}

// Seeds are the seed addresses.
func (e *Engine) Seeds() []string { return slices.Clone(e.seeds) }

// Syn is a Syn to open an exchange outside a round (a seed just added).
func (e *Engine) Syn() *lsync.Syn { return e.state.MakeSyn(e.rng) }

// RestoreRemoved restores, at boot, a peer removed in an earlier run, so
// that stale digests still listing it do not bring it back.
func (e *Engine) RestoreRemoved(id string, gen, heartbeat uint64) error {
	return e.state.RestoreRemoved(id, gen, heartbeat)
}

// ExpectLostTail tells the core, at boot, that the store may have lost the
// newest own records peers hold: writes wait up to wait for a peer's word
// (see sync.State.ExpectLostTail).
func (e *Engine) ExpectLostTail(now time.Time, wait time.Duration) {
	e.state.ExpectLostTail(uint64(now.UnixMilli()), uint64(wait.Milliseconds()))
}

// ExpectWipedData tells the core, at boot, that its store holds none of
// the node's data (a wiped data directory, the identity kept), or part of
// it, while peers may hold it at its generation: writes wait for it as for a lost tail,
// each delta taken back extending the wait, for at most capWait (see
// sync.State.ExpectWipedData).
func (e *Engine) ExpectWipedData(now time.Time, wait, capWait time.Duration) {
	e.state.ExpectWipedData(uint64(now.UnixMilli()), uint64(wait.Milliseconds()), uint64(capWait.Milliseconds()))
}

// Leaving reports whether Leave was called.
func (e *Engine) Leaving() bool { return e.leaving }

// Restore loads one node's persisted state at boot. A peer known from an
// earlier run is tracked from now, so that one that never comes back is
// suspected rather than forgotten.
func (e *Engine) Restore(meta lsync.PeerMeta, recs []lsync.Record, now time.Time) error {
	if err := e.state.Restore(meta, recs); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if meta.ID != e.cfg.Self.ID {
		e.det.Heartbeat(meta.ID, now)
	}
	return nil
}

// RestoreMeta is Restore for an engine reading its records from a
// Storage: the meta only (the Storage counts the records).
func (e *Engine) RestoreMeta(meta lsync.PeerMeta, now time.Time) error {
	if err := e.state.RestoreMeta(meta); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if meta.ID != e.cfg.Self.ID {
		e.det.Heartbeat(meta.ID, now)
	}
	return nil
}

// Restored ends the boot: versions continue above what was persisted (and
// above what peers may hold of a lost tail; sync.State.VersionFloor).
func (e *Engine) Restored() { e.ver.Restore(e.state.VersionFloor()) }

// State is the protocol core, for tests and the simulator to inspect; a
// driver reads through the engine's own methods (read.go). Do not mutate
// it.
func (e *Engine) State() *lsync.State { return e.state }

// Detector is the failure detector, for tests and the simulator to
// inspect.
func (e *Engine) Detector() *health.Detector { return e.det }

// Left reports whether a peer announced its leave and has not come back.
func (e *Engine) Left(id string) bool { _, ok := e.left[id]; return ok }

// Busy reports whether a batch handed out is not committed yet.
func (e *Engine) Busy() bool { return e.busy }

// FutureGenerations counts the entries screened out for a generation too
// far ahead.
func (e *Engine) FutureGenerations() uint64 { return e.futureGenerations }

// Tracked returns the sizes of the bookkeeping maps, for tests that check
// they stay bounded.
func (e *Engine) Tracked() (left, pulls, dead int) {
	return len(e.left), len(e.pulls), len(e.deadSince)
}
