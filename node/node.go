package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"slices"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/leviathan-gossip/leviathan/health"
	"github.com/leviathan-gossip/leviathan/internal/engine"
	"github.com/leviathan-gossip/leviathan/store"
	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/transport"
	"github.com/leviathan-gossip/leviathan/versioner"
)

// Clock is the node's source of time; tests may slow or script it.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) Ticker
}

// Ticker is the part of time.Ticker a node uses.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

type systemClock struct{}

func (systemClock) Now() time.Time                   { return time.Now() }
func (systemClock) NewTicker(d time.Duration) Ticker { return sysTicker{time.NewTicker(d)} }

type sysTicker struct{ t *time.Ticker }

func (t sysTicker) C() <-chan time.Time { return t.t.C }
func (t sysTicker) Stop()               { t.t.Stop() }

// Option replaces one of a node's parts.
type Option func(*options)

type options struct {
	transport transport.Transport
	store     Store
	versioner versioner.Versioner
	clock     Clock
	logger    *zerolog.Logger
	seed      int64
	seeded    bool

	registerer prometheus.Registerer
	keyring    *transport.Keyring
	resolver   Resolver
}

// WithTransport makes the node use t (for instance an in-memory network)
// instead of listening on addr:port. The node closes it on Close.
func WithTransport(t transport.Transport) Option { return func(o *options) { o.transport = t } }

// WithStore makes the node use s instead of opening Badger at data_dir.
// The node closes it on Close. New checks once which optional capabilities
// s has (see Store); a wrapper that embeds *store.Badger keeps them all.
func WithStore(s Store) Option { return func(o *options) { o.store = s } }

// WithVersioner replaces the default persistent counter, e.g. with
// versioner.NewHLC(time.Now) for versions that order across nodes.
func WithVersioner(v versioner.Versioner) Option { return func(o *options) { o.versioner = v } }

// WithClock replaces the system clock.
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// WithLogger sets the logger. By default the node writes its warnings and
// errors to standard error (os.Stderr at New), and nothing else: a
// library that logs nothing hides the one line that explains a failure,
// such as a data directory another node holds.
func WithLogger(l zerolog.Logger) Option { return func(o *options) { o.logger = &l } }

// WithRandSeed makes peer selection reproducible.
func WithRandSeed(seed int64) Option { return func(o *options) { o.seed, o.seeded = seed, true } }

// Errors callers can test for. Those of other packages are the same
// values under this package's name, so errors.Is matches either.
var (
	// ErrClosed: the node was closed; it cannot be started again.
	ErrClosed = errors.New("node: closed")
	// ErrStarted: Start was called twice.
	ErrStarted = errors.New("node: already started")
	// ErrUnknownPeer: no peer of that id or alias has been heard of.
	ErrUnknownPeer = errors.New("node: unknown peer")
	// ErrBadKey: a key that cannot exist (empty, too long, not UTF-8,
	// holding a NUL byte); see CheckKey.
	ErrBadKey = errors.New("node: bad key")
	// ErrStoreFailed: a write to the store failed, possibly half done, so
	// the node stopped taking writes and gossiping; restarting it rebuilds
	// a consistent state from the store.
	ErrStoreFailed = errors.New("node: store write failed; restart the node")
	// ErrIDMismatch: New was given a data_dir holding another node's
	// data, which served under this node's id would corrupt the cluster.
	ErrIDMismatch = store.ErrIDMismatch
	// ErrCorrupt: the store holds data it cannot decode (New, Lookup,
	// Scan, Changes), as opposed to failing to read it.
	ErrCorrupt = store.ErrCorrupt
)

// Node is one member of a Leviathan cluster. Its methods are safe for
// concurrent use.
type Node struct {
	cfg       Config
	id        string
	log       zerolog.Logger
	clock     Clock
	store     Store
	transport transport.Transport
	guard     *streamGuard // the transport's AllowStream; nil with a transport given
	versioner versioner.Versioner
	seeds     []string
	hub       *hub
	limits    lsync.Limits
	started   time.Time
	metrics   *metrics

	ident         *nodeIdentity        // nil without key_file
	keeper        *identityKeeper      // identity state and key lock; nil unless signed
	keyring       *transport.Keyring   // nil without encryption
	encrypted     *transport.Encrypted // the transport's encryption layer, or nil
	badClusterLog *logLimiter
	// rejectLog limits the log of refused node records and claims to
	// once a minute per sender.
	rejectLog *logLimiter

	// mu guards the engine: the protocol core, the detector and the
	// bookkeeping around them. It is held only while the engine computes,
	// never across a store write, a send or a GC (see gossip.go).
	mu  gosync.Mutex
	eng *engine.Engine
	// caps are the store's optional parts, found once by New.
	caps storeCaps
	// disk is the store when the engine reads its records from it (nil:
	// they are in the engine's memory); reads go to it outside mu.
	disk ReadStore
	// signer signs the node's own records (signed = true; nil otherwise).
	signer  *recordSigner
	closed  bool
	running bool
	failed  error // a store write failed: no more writes or gossip
	// peersRefused is the core's count of ids refused at max_peers, as
	// last seen: the first refusal is logged.
	peersRefused atomic.Uint64
	writes       groupCommit
	admission    admission // write flow control's waits (flow.go)
	counters     counters
	// seq serialises the paths that produce a batch, from computing it to
	// committing it, so that no two batches are out at once. Taken before
	// mu, and never by heartbeats, rounds, health checks or reads.
	seq       seqLock
	maint     chan struct{} // wakes maintLoop
	reduceDue atomic.Bool

	stop       chan struct{}
	reserve    *reserve      // min_free_disk; nil when not enforced
	phase      time.Duration // delay of the timers' start (waitPhase)
	lowDiskLog atomic.Bool   // the low-disk error is logged (once per episode)
	// dataIn is the data lane: messages that persist or read the store,
	// from receiveLoop to dataLoop (gossip.go).
	dataIn    chan queued
	sendOrder gosync.Mutex // local writes' sends, in commit order (driver.Settled)
	dataBytes atomic.Int64 // bytes queued in dataIn
	// probeReq hands the engine's probe times to tickLoop (gossip.go).
	probeReq chan time.Time
	// ctx is done once Close begins, for the background work that takes
	// one (seed resolution).
	ctx    context.Context
	cancel context.CancelFunc
	wg     gosync.WaitGroup

	// Membership at run time (seeds.go, membership.go).
	resolver     Resolver
	dnsSeeds     []*dnsSeed // seeds given as names; the seed loop's after Start
	fixedSeeds   []string   // seeds given as addresses, or joined; under mu after Start
	resolveNames bool       // seeds are host names (UDP/TCP), not a custom transport's addresses
	leaving      bool       // Leave was called: no rounds, beats or writes; under mu
	contact      contact    // first contact (contact.go)
}

// New builds a node: it opens the store, binds the gossip port and loads
// every persisted peer, but starts nothing; call Start.
func New(cfg Config, opts ...Option) (*Node, error) { return newNode(cfg, opts...) }

// newNode is New; its named error lets a deferred cleanup see a failure.
func newNode(cfg Config, opts ...Option) (_ *Node, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{clock: systemClock{}, resolver: systemResolver}
	for _, opt := range opts {
		opt(&o)
	}
	n := &Node{cfg: cfg, clock: o.clock, resolver: o.resolver, hub: newHub(), stop: make(chan struct{}), maint: make(chan struct{}, 1), seq: newSeqLock(),
		dataIn: make(chan queued, dataQueueMessages), probeReq: make(chan time.Time, 1)}
	n.contact.init()
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.badClusterLog = newLogLimiter(badClusterLogWindow, badClusterLogKeys)
	n.rejectLog = newLogLimiter(badClusterLogWindow, badClusterLogKeys)
	n.log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, NoColor: true}).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	if o.logger != nil {
		n.log = *o.logger
	}
	n.limits = lsync.Limits{MaxKeyBytes: cfg.MaxKeySize, MaxValueBytes: cfg.MaxValueSize, MaxIDBytes: lsync.DefaultLimits.MaxIDBytes}
	seed := o.seed
	if !o.seeded {
		seed = time.Now().UnixNano()
	}
	rng := rand.New(rand.NewSource(seed))
	// The phase comes from a source of its own, so that drawing it leaves
	// the engine's sequence (peer selection) as the seed gives it.
	n.phase = time.Duration(rand.New(rand.NewSource(seed ^ 0x7068617365)).Int63n(int64(max(cfg.GossipVal, 1))))
	// The key is read before any socket or store is opened: a node that
	// cannot prove who it is stops here.
	if n.ident, err = cfg.loadIdentity(max(cfg.MaxPeers, 0)); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if n.metrics, err = newMetrics(n, o.registerer); err != nil {
		return nil, fmt.Errorf("node: metrics: %w", err)
	}
	n.hub.observe = func(t EventType, dropped int) {
		n.metrics.eventsPublished.WithLabelValues(t.String()).Inc()
		n.metrics.eventsDropped.Add(float64(dropped))
	}

	// Undo what was opened if a later step fails.
	defer func() {
		if err != nil {
			n.metrics.unregister()
			if n.transport != nil {
				_ = n.transport.Close()
			}
			if n.store != nil {
				_ = n.store.Close()
			}
			n.keeper.close()
		}
	}()
	if n.transport = o.transport; n.transport == nil {
		n.guard = newStreamGuard(n)
		tr, err := transport.ListenNet(transport.NetConfig{
			Addr:           cfg.advertised(),
			Bind:           cfg.BindAddr,
			PacketSize:     cfg.MTU,
			MaxMessageSize: cfg.MaxMessageSize,
			AllowStream:    n.guard.allow,
			Logger:         n.log,
		})
		if err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
		n.transport = tr
	}
	if err := n.setupEncryption(o.keyring); err != nil {
		return nil, err
	}
	if n.store = o.store; n.store == nil {
		db, err := store.Open(store.Options{Dir: cfg.DataDir, InMemory: cfg.InMemory, SyncWrites: cfg.SyncWrites, Logger: n.log})
		if err != nil {
			return nil, fmt.Errorf("node: data_dir %q: %w", cfg.DataDir, err)
		}
		n.store = db
	}
	if n.caps, err = checkStore(n.store); err != nil {
		return nil, err
	}
	n.reserve = newReserve(n.dataDir(), cfg.MinFreeDisk)
	if n.versioner = o.versioner; n.versioner == nil {
		n.versioner = versioner.NewCounter()
	}
	if err := n.load(rng); err != nil {
		return nil, err
	}
	if err := n.setupIdentity(); err != nil {
		return nil, err
	}
	// Seed names are resolved again from Start on (seeds.go).
	n.resolveSeeds(cfg.Seeds, o.transport == nil)
	n.logDataDir()
	n.logStoreCaps()
	n.logAuthFailures()
	return n, nil
}

// load boots the store and rebuilds the engine from it.
func (n *Node) load(rng *rand.Rand) error {
	addr := n.transport.Addr()
	id := n.cfg.nodeID(addr)
	n.id = id
	self, wiped, err := n.bootStore(id)
	if err != nil {
		return err
	}
	alias := n.cfg.Alias
	if alias == "" {
		alias = id
	}
	// A store the engine can read from holds the records; any other keeps
	// them in the engine's memory as well.
	disk := n.caps.reads
	var storage lsync.Storage
	if disk != nil {
		storage = disk
	}
	n.disk = disk
	signing, err := n.signing(id, self.Generation, self.Boot)
	if err != nil {
		return err
	}
	if n.signer = n.newRecordSigner(); signing != nil {
		signing.Records = n.signer != nil
	}
	n.eng, err = engine.New(engine.Config{
		Cluster:       n.cfg.Cluster,
		Self:          lsync.PeerMeta{ID: id, Alias: alias, Addr: addr, Generation: self.Generation},
		Boot:          self.Boot,
		Fanout:        n.cfg.Fanout,
		Gossip:        n.cfg.GossipVal,
		DeadGrace:     n.cfg.DeadGrace,
		KeepDead:      n.cfg.KeepDeadPeers,
		Tombstones:    n.cfg.TombstoneGrace,
		PacketBudget:  n.transport.PacketSize(),
		MessageBudget: n.transport.MaxMessageSize(),
		Limits:        n.limits,
		Health:        n.cfg.healthConfig(),
		Monitors:      max(0, n.cfg.Monitors),
		MaxPeers:      max(0, n.cfg.MaxPeers),
		QuietFanout:   max(0, n.cfg.QuietFanout),
		PushFanout:    max(0, n.cfg.PushFanout),
		Flow:          n.cfg.flowConfig(),
		QuietDigest:   quietDigest(n.cfg.QuietFanout),
		QuietSummary:  n.cfg.QuietFanout >= 0,
		Recent:        30 * n.cfg.GossipVal,
		Versioner:     n.versioner,
		Rand:          rng,
		Storage:       storage,
		// A peer's new generation (which drops its data) is believed only
		// from the peer itself, in this many messages.
		GenerationEvidence: generationEvidence,
		Signing:            signing,
	})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	now := n.clock.Now()
	peers, records := 0, 0
	if disk != nil {
		err = disk.LoadMeta(func(meta lsync.PeerMeta) error {
			if err := n.eng.RestoreMeta(meta, now); err != nil {
				return err
			}
			if meta.ID != id {
				peers++
			}
			c := disk.Counts(meta.ID)
			records += c.Live + c.Tombstones
			return nil
		})
	} else {
		err = n.store.Load(func(meta lsync.PeerMeta, recs []lsync.Record) error {
			if err := n.eng.Restore(meta, recs, now); err != nil {
				return err
			}
			if meta.ID != id {
				peers++
			}
			records += len(recs)
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("node: load state: %w", err)
	}
	// Removals survive restarts (RemovalStore), so that stale digests do
	// not bring a removed peer back.
	if rs := n.caps.removals; rs != nil {
		if err := rs.LoadRemoved(n.eng.RestoreRemoved); err != nil {
			return fmt.Errorf("node: load state: %w", err)
		}
	}
	// A store not synced on every write may have lost the newest
	// own records that peers hold; writes wait (bounded) for a peer's word
	// and never reuse a version a peer showed (sync.State.VersionFloor).
	switch {
	case wiped:
		// Every record is a lost tail: see identitystate.go.
		n.eng.ExpectWipedData(now, lostTailWait(n.cfg.GossipVal), wipedDataWait)
	case !self.Fresh && !self.CleanShutdown && !n.cfg.SyncWrites && peers > 0:
		n.eng.ExpectLostTail(now, lostTailWait(n.cfg.GossipVal))
	}
	n.eng.Restored()
	if err := n.retireKeys(); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.keepHorizons()
	n.log = n.log.With().Str("node", id).Logger()
	n.log.Info().Str("alias", alias).Str("addr", addr).Uint64("generation", self.Generation).
		Uint64("boot", self.Boot).Bool("fresh", self.Fresh).Bool("wiped", wiped).Int("peers", peers).Int("records", records).
		Msg("node loaded")
	return nil
}

// quietDigestBytes bounds the random slice of a quiet round's digest:
// about 7 entries.
const quietDigestBytes = 400

func quietDigest(quietFanout int) int {
	if quietFanout < 0 {
		return 0
	}
	return quietDigestBytes
}

// healthConfig is the failure detector's configuration.
func (c Config) healthConfig() health.Config {
	return health.Config{
		Threshold:       c.PhiThreshold,
		WindowSize:      c.PhiWindow,
		InitialInterval: c.PhiInitialInterval,
		MaxInterval:     c.PhiMaxInterval,
		AcceptablePause: c.PhiAcceptablePause,
		DeadAfter:       c.DeadAfter,
		PauseGuard:      5 * time.Second,
		DirectThreshold: c.PhiDirectThreshold,
	}
}

// Start begins gossiping. It serves no HTTP: the admin API is package
// node/admin's, mounted by the application.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return ErrClosed
	case n.running:
		return ErrStarted
	}
	if limit, from := applyMemoryLimit(n.cfg.MemoryLimit); from != "" {
		n.log.Info().Int64("bytes", limit).Str("from", from).Msg("go memory limit in force")
	} else {
		n.log.Info().Msg("no go memory limit: none in memory_limit, GOMEMLIMIT or the cgroup")
	}
	n.running = true
	n.started = n.clock.Now()
	if n.signer != nil {
		n.wg.Add(2)
		go n.signer.run()
		go n.signer.storeLoop()
	}
	n.wg.Add(4)
	go n.receiveLoop()
	go n.dataLoop()
	go n.tickLoop()
	go n.maintLoop()
	n.startSeedLoop()
	ev := n.log.Info().Strs("seeds", n.seeds)
	if id := n.keyID(); id != "" {
		ev = ev.Str("key_id", id)
	}
	ev.Msg("node started")
	return nil
}

// Close stops gossip and every goroutine, closes the transport and flushes
// and closes the store. It is safe to call more than once.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	leave := n.running && !n.cfg.SkipLeave && n.failed == nil
	var rd engine.Ready
	if leave {
		rd = n.eng.Leave()
	}
	n.mu.Unlock()

	close(n.stop)
	n.cancel()
	if leave {
		n.sendAll(rd.Send)
		n.log.Info().Int("peers", len(rd.Send)).Msg("leave announced")
	}
	var errs []error
	if err := n.transport.Close(); err != nil {
		errs = append(errs, fmt.Errorf("node: close transport: %w", err))
	}
	n.wg.Wait()
	n.hub.close()
	if err := n.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("node: close store: %w", err))
	}
	n.keeper.close()
	n.metrics.unregister()
	n.log.Info().Msg("node closed")
	return errors.Join(errs...)
}

// ID is the node's id.
func (n *Node) ID() string { return n.id }

// Addr is the gossip address peers reach this node at.
func (n *Node) Addr() string { return n.transport.Addr() }

// Config is the node's configuration, with the defaults New filled in.
func (n *Node) Config() Config {
	c := n.cfg
	c.Seeds = slices.Clone(c.Seeds)
	c.HTTPAllowedHosts = slices.Clone(c.HTTPAllowedHosts)
	c.EncryptKeys = slices.Clone(c.EncryptKeys)
	c.TrustedCA = slices.Clone(c.TrustedCA)
	c.RevokedKeys = slices.Clone(c.RevokedKeys)
	if c.TrustedKeys != nil {
		pins := make(map[string][]string, len(c.TrustedKeys))
		for id, keys := range c.TrustedKeys {
			pins[id] = slices.Clone(keys)
		}
		c.TrustedKeys = pins
	}
	return c
}

// Logger is the node's logger, its lines tagged node=<id>, for code that
// serves the node (an HTTP API) to log with.
func (n *Node) Logger() zerolog.Logger { return n.log }

// Subscribe returns a subscription with room for buffer events. Delivery
// never blocks gossip: when the buffer is full, events are dropped and
// the next delivered one says how many were missed.
func (n *Node) Subscribe(buffer int) *Subscription { return n.hub.add(buffer) }

// SubscribeBounded is Subscribe whose waiting events also hold at most
// about maxBytes of keys and values (one event larger than that still
// arrives when none waits): a subscriber that relays events to a slow
// client loses them, told in Missed, instead of pinning their values in
// memory. Call Release with each event received.
func (n *Node) SubscribeBounded(buffer int, maxBytes int64) *Subscription {
	return n.hub.addBounded(buffer, maxBytes)
}

// generationEvidence is how many messages from a peer itself, with rising
// heartbeats, prove that its generation changed (sync.Config).
const generationEvidence = 2

// lostTailWait is how long local writes wait after a possibly lossy boot
// for a peer to say what it holds of this node's own data: a few gossip
// rounds, at least two seconds.
func lostTailWait(gossip time.Duration) time.Duration { return max(2*time.Second, 5*gossip) }

// wipedDataWait bounds how long a node that came back on a wiped data
// directory holds its writes while its records keep coming back from
// peers (each delta restarts lostTailWait): ample for a data set that
// gossip refills at tens of thousands of records a second.
const wipedDataWait = 10 * time.Minute
