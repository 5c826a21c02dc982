package sync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
)

// Config is what the protocol core needs to know about its node.
type Config struct {
	Cluster string
	Self    PeerMeta // ID, Alias, Addr and Generation of the local node
	// Heartbeat is the local heartbeat to start from. It must exceed every
	// heartbeat an earlier run of this node sent, or peers take the
	// restarted node for a stale copy of itself.
	Heartbeat uint64
	// PacketBudget bounds a Syn: the initiator's digest must fit one datagram.
	PacketBudget int
	// MessageBudget bounds a SynAck or Ack.
	MessageBudget int
	// Limits are applied to deltas received (and checked on local writes).
	Limits Limits
	// GenerationEvidence is how many messages from a peer itself, with a
	// rising heartbeat, it takes to believe the peer's generation changed
	// (which drops all its data); see State.proven. 0 believes any digest
	// entry or delta at once. Evidence needs the source address, given by
	// HandleFrom; Handle alone never proves a change when this is set.
	GenerationEvidence int
	// QuietDigest, when > 0, bounds in bytes the part of a Syn's digest
	// that is a random slice of the cluster (the rest is the local node
	// and the nodes whose data changed within RecentMs): a quiet cluster
	// then exchanges small Syns, and every node is still listed now and
	// then. 0 fills the datagram, as before monitoring made digests only a
	// data summary.
	QuietDigest int
	// RecentMs is how long (ms of SetTime) a node whose data changed is
	// listed first in every Syn; 0 is for as long as it is among the 64
	// most recently changed.
	RecentMs uint64
}

// Errors of the protocol core.
var (
	ErrInvalidConfig = errors.New("sync: invalid config")
	ErrOwnID         = errors.New("sync: records of the local node cannot be restored from a peer")
)

func (c *Config) validate() error {
	switch {
	case c.Self.ID == "":
		return fmt.Errorf("%w: self id is empty", ErrInvalidConfig)
	case len(c.Self.ID) > c.Limits.MaxIDBytes || len(c.Self.Alias) > c.Limits.MaxIDBytes ||
		len(c.Self.Addr) > c.Limits.MaxIDBytes || len(c.Cluster) > c.Limits.MaxIDBytes:
		return fmt.Errorf("%w: id, alias, addr and cluster must be at most %d bytes", ErrInvalidConfig, c.Limits.MaxIDBytes)
	case c.PacketBudget < 512:
		return fmt.Errorf("%w: packet budget %d is below 512 bytes", ErrInvalidConfig, c.PacketBudget)
	case c.MessageBudget < c.PacketBudget:
		return fmt.Errorf("%w: message budget %d is below the packet budget %d", ErrInvalidConfig, c.MessageBudget, c.PacketBudget)
	case c.MessageBudget < c.Limits.MaxKeyBytes+c.Limits.MaxValueBytes+1024:
		// The largest record must fit a message, or it could never be sent
		// and would block its node's deltas for ever.
		return fmt.Errorf("%w: message budget %d cannot carry a record of the largest key (%d) and value (%d)",
			ErrInvalidConfig, c.MessageBudget, c.Limits.MaxKeyBytes, c.Limits.MaxValueBytes)
	}
	return nil
}

// logEntry indexes a record by version. A peer's log is ascending because
// records of a node are only ever applied in ascending version order; an
// entry whose key has since been overwritten is stale and skipped.
type logEntry struct {
	version uint64
	key     string
}

// peer is the core's view of one node, the local one included.
type peer struct {
	meta       PeerMeta
	heartbeat  uint64
	leaving    bool
	records    map[string]*Record
	log        []logEntry
	stale      int
	tombstones int
	synMark    uint64 // MakeSyn call that already listed this peer
	ghost      bool   // known only from digests so far (see ghost.go)
	ghostSince uint64 // ms when it became a ghost
	// reborn is the newest generation proven for this node (its data
	// reset may still be on its way to disk): heartbeats of older
	// generations are ignored from then on, so a relayed digest of the
	// old incarnation cannot lift the heartbeat back above the new one's.
	reborn uint64
	// directHB is the heartbeat of the node's last Beat taken here.
	directHB uint64
	// touched is when (ms of SetTime) the node's data last changed here.
	touched uint64
}

func newPeer(meta PeerMeta) *peer {
	return &peer{meta: meta, records: make(map[string]*Record)}
}

// put applies one record above the watermark. The caller guarantees
// ascending versions.
func (p *peer) put(r Record) {
	rec := r
	p.putAt(&rec)
}

// putAt applies a record held at rec, which the peer keeps.
func (p *peer) putAt(rec *Record) {
	if old, ok := p.records[rec.Key]; ok {
		if old.Version >= rec.Version {
			return
		}
		p.stale++
		if old.Tombstone {
			p.tombstones--
		}
		// It may sit in a slab that outlives it (see Restore): let its
		// value go now.
		old.Value = nil
	}
	p.records[rec.Key] = rec
	if rec.Tombstone {
		p.tombstones++
	}
	p.log = append(p.log, logEntry{version: rec.Version, key: rec.Key})
	p.compact()
}

// drop removes a collected tombstone.
func (p *peer) drop(key string) {
	if r, ok := p.records[key]; ok {
		r.Value = nil
		delete(p.records, key)
		p.stale++
		if r.Tombstone {
			p.tombstones--
		}
	}
}

func (p *peer) reset() {
	p.records = make(map[string]*Record)
	p.log = nil
	p.stale = 0
	p.tombstones = 0
}

// compact drops stale log entries once they are the majority, keeping
// the log within twice the number of live keys.
func (p *peer) compact() {
	if p.stale < 1024 || p.stale*2 < len(p.log) {
		return
	}
	live := p.log[:0]
	for _, e := range p.log {
		if r := p.records[e.key]; r != nil && r.Version == e.version {
			live = append(live, e)
		}
	}
	clear(p.log[len(live):])
	p.log = live
	p.stale = 0
}

// after returns the index of the first log entry above version v.
func (p *peer) after(v uint64) int {
	return sort.Search(len(p.log), func(i int) bool { return p.log[i].version > v })
}

// current returns the record a log entry points to, or nil if stale.
func (p *peer) current(e logEntry) *Record {
	if r := p.records[e.key]; r != nil && r.Version == e.version {
		return r
	}
	return nil
}

// State is the replicated state of a cluster as seen by one node, and the
// scuttlebutt logic over it. It is not safe for concurrent use: the node
// serialises access to it.
type State struct {
	cfg   Config
	self  *peer
	peers map[string]*peer // every known node, self included
	stats Stats
	// genCeiling bounds plausible generations (0: no bound), so that one
	// bogus entry far in the future cannot shadow a node for ever.
	genCeiling uint64
	removed    removedSet
	inflight   inflight
	tail       ownTail
	// genProof collects evidence of peers' generation changes, one entry
	// per known peer at most; src is the current message's source address
	// (HandleFrom), unproven is set when a delta was dropped for want of
	// evidence in the current message.
	ghosts    []*peer // the peers with ghost set, oldest first
	lastSweep uint64
	genProof  map[string]*genEvidence
	src       string
	unproven  bool
	now       uint64 // unix ms, from SetTime
	// sorted caches the peers in id order (nil until first needed); addPeer
	// keeps it sorted.
	// Sorting on every message was most of a 1000-node simulation's time.
	sorted []*peer
	// recent lists the peers whose data changed most recently, newest
	// first, at most recentCap; MakeSyn gives them half the digest.
	recent []*peer
	synSeq uint64
	quiet  bool // the last Syn listed no recent news
	loud   bool // SetLoud
}

// Stats count what the core rejected; the node exports them.
type Stats struct {
	BadCluster     uint64 // messages from another cluster
	OwnIDDeltas    uint64 // deltas or digest entries claiming to be this node
	GapDeltas      uint64 // node deltas not applicable without a gap
	InvalidDeltas  uint64 // node deltas with unordered or out-of-range records
	StaleGenDeltas uint64 // node deltas of a generation older than known
	FutureGen      uint64 // entries or deltas of an implausibly new generation
	UncleanDeltas  uint64 // deltas from a sender that may hold collected keys
	Resets         uint64 // peers whose data was dropped and refilled
	OwnRecovered   uint64 // own records taken back from peers after a lost tail
	Refutations    uint64 // own generation raised above one a peer reported
	UnprovenGen    uint64 // entries or deltas of a newer generation not (yet) proven by the peer itself
	StrayBeats     uint64 // beats from unknown nodes or from an address not theirs
	GhostsRefused  uint64 // unknown ids not taken because maxGhosts ghosts are held
}

// NewState creates the core for a node with no state yet; Restore adds
// what the store holds.
func NewState(cfg Config) (*State, error) {
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &State{cfg: cfg, peers: make(map[string]*peer)}
	s.self = newPeer(cfg.Self)
	s.self.heartbeat = cfg.Heartbeat
	s.peers[cfg.Self.ID] = s.self
	return s, nil
}

// Restore loads one node's persisted state; recs must be ascending by
// version and at or below meta.MaxVersion. For the local node only the
// records and watermark are taken: identity comes from Config.
func (s *State) Restore(meta PeerMeta, recs []Record) error {
	p := s.peers[meta.ID]
	if p == nil {
		p = newPeer(meta)
		s.addPeer(p)
	}
	if p == s.self {
		if meta.Generation != s.cfg.Self.Generation {
			return nil // our own data of an older generation is not ours any more
		}
		p.meta.MaxVersion, p.meta.GCVersion = meta.MaxVersion, meta.GCVersion
	} else {
		p.meta = meta
	}
	if len(p.records) == 0 && len(recs) > 0 {
		// Sized once: growing a map of a million keys rehashes it a dozen
		// times, a good part of a restart.
		p.records = make(map[string]*Record, len(recs))
		p.log = make([]logEntry, 0, len(recs))
	}
	// One slab for all restored records rather than an allocation each;
	// putAt clears the value of a slot that is overwritten later.
	slab := make([]Record, len(recs))
	for i, r := range recs {
		if r.Version > meta.MaxVersion || (i > 0 && r.Version <= recs[i-1].Version) {
			return fmt.Errorf("sync: restore %s: records out of order or above watermark %d", meta.ID, meta.MaxVersion)
		}
		slab[i] = r
		p.putAt(&slab[i])
	}
	return nil
}

// Commit applies a batch that has been made durable.
func (s *State) Commit(b *Batch) {
	if b == nil {
		return
	}
	for i := range b.Changes {
		c := &b.Changes[i]
		p := s.peers[c.Meta.ID]
		if c.Remove {
			if p != nil && p != s.self {
				s.removed.add(c.Meta.ID, p.meta.Generation, p.heartbeat)
				s.removePeer(p)
			}
			continue
		}
		if p == nil {
			p = newPeer(c.Meta)
			s.addPeer(p)
		}
		s.confirm(p) // persisted now: not to be forgotten silently
		if c.Reset {
			p.reset()
			s.stats.Resets++
		}
		if p == s.self {
			s.cfg.Self.Generation = c.Meta.Generation // changed by a refutation
		}
		for _, r := range c.Records {
			p.put(r)
		}
		for _, k := range c.Drop {
			p.drop(k)
		}
		if p != s.self && (len(c.Records) > 0 || c.Reset) {
			s.touch(p)
		}
		p.meta = c.Meta
	}
}

// Stats returns the rejection counters.
func (s *State) Stats() Stats { return s.stats }

// Self returns the local node's meta.
func (s *State) Self() PeerMeta { return s.self.meta }

// Heartbeat returns the local heartbeat.
func (s *State) Heartbeat() uint64 { return s.self.heartbeat }

// Beat advances the local heartbeat; peers take it as a sign of life.
func (s *State) Beat() uint64 {
	s.self.heartbeat++
	return s.self.heartbeat
}

// Leave marks the local node as leaving on purpose: the next digests tell
// peers it is gone rather than failed.
func (s *State) Leave() {
	s.self.leaving = true
	s.self.heartbeat++
}

// SetGenerationCeiling sets the highest generation believed; entries and
// deltas above it are ignored. The node passes now plus a year, in the
// generation's unit (milliseconds), as Cassandra does.
func (s *State) SetGenerationCeiling(g uint64) { s.genCeiling = g }

func (s *State) implausible(gen uint64) bool {
	if s.genCeiling != 0 && gen > s.genCeiling {
		s.stats.FutureGen++
		return true
	}
	return false
}

// Remove forgets a node, typically one dead for longer than the dead
// grace period. Commit the batch once durable. Until it comes back with a
// newer generation or heartbeat, digests that still list it are ignored.
func (s *State) Remove(id string) *Batch {
	p := s.peers[id]
	if p == nil || p == s.self {
		return nil
	}
	return &Batch{Changes: []PeerChange{{Meta: p.meta, Remove: true, Heartbeat: p.heartbeat}}}
}

// RestoreRemoved remembers a node removed in an earlier run (the store's
// marker, see PeerChange.Remove): until it comes back with a newer
// generation or heartbeat, digests that list it are ignored. A node known
// again (restored with data) is not affected.
func (s *State) RestoreRemoved(id string, gen, heartbeat uint64) error {
	if s.peers[id] == nil {
		s.removed.add(id, gen, heartbeat)
	}
	return nil
}

// CollectTombstones prepares the collection of the local node's tombstones
// older than grace: in version order, up to the first one still young,
// so that the published horizon (GCVersion) means "every tombstone up to
// here is gone". A tombstone's value holds its deletion time in unix
// milliseconds (see TombstoneValue).
func (s *State) CollectTombstones(nowMs, graceMs uint64) *Batch {
	p := s.self
	if p.tombstones == 0 {
		return nil
	}
	var drop []string
	horizon := p.meta.GCVersion
	for i := p.after(horizon); i < len(p.log); i++ {
		r := p.current(p.log[i])
		if r == nil || !r.Tombstone {
			continue
		}
		if deletedAt(r.Value)+graceMs > nowMs {
			break
		}
		drop = append(drop, r.Key)
		horizon = r.Version
	}
	if len(drop) == 0 {
		return nil
	}
	meta := p.meta
	meta.GCVersion = horizon
	return &Batch{Changes: []PeerChange{{Meta: meta, Drop: drop}}}
}

// TombstoneValue is the value of a tombstone written at nowMs.
func TombstoneValue(nowMs uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], nowMs)
	return b[:]
}

func deletedAt(v []byte) uint64 {
	if len(v) != 8 {
		return 0 // not ours to interpret: collectable
	}
	return binary.BigEndian.Uint64(v)
}

// removedSet remembers recently removed nodes, bounded, so that a stale
// digest does not bring one back.
type removedSet struct {
	at    map[string]removedPeer
	order []string
}

type removedPeer struct{ gen, heartbeat uint64 }

const maxRemembered = 4096

func (r *removedSet) add(id string, gen, hb uint64) {
	if r.at == nil {
		r.at = make(map[string]removedPeer)
	}
	if _, ok := r.at[id]; !ok {
		r.order = append(r.order, id)
	}
	r.at[id] = removedPeer{gen: gen, heartbeat: hb}
	for len(r.order) > maxRemembered {
		delete(r.at, r.order[0])
		r.order = r.order[1:]
	}
}

// stale reports whether an entry only repeats what was known when the
// node was removed.
func (r *removedSet) stale(e *DigestEntry) bool {
	rp, ok := r.at[e.ID]
	if !ok {
		return false
	}
	if e.Generation > rp.gen || e.Generation == rp.gen && e.Heartbeat > rp.heartbeat {
		// Back for real. Forgotten in order too: a later removal appends
		// it again, and a duplicate would evict the newer entry early.
		delete(r.at, e.ID)
		if i := slices.Index(r.order, e.ID); i >= 0 {
			r.order = slices.Delete(r.order, i, i+1)
		}
		return false
	}
	return true
}

func (r *removedSet) has(id string) bool { _, ok := r.at[id]; return ok }

// PeerInfo is a snapshot of what is known about one node.
type PeerInfo struct {
	PeerMeta
	Heartbeat uint64
	Leaving   bool
	Keys      int
}

// Peers returns every known node except the local one, sorted by id.
func (s *State) Peers() []PeerInfo {
	out := make([]PeerInfo, 0, len(s.peers)-1)
	for _, p := range s.peers {
		if p != s.self {
			out = append(out, p.info())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Peer returns what is known about one node (the local one included).
func (s *State) Peer(id string) (PeerInfo, bool) {
	p := s.peers[id]
	if p == nil {
		return PeerInfo{}, false
	}
	return p.info(), true
}

func (p *peer) info() PeerInfo {
	return PeerInfo{PeerMeta: p.meta, Heartbeat: p.heartbeat, Leaving: p.leaving, Keys: len(p.records) - p.tombstones}
}

// Get returns a node's record for key, tombstones included.
func (s *State) Get(id, key string) (Record, bool) {
	p := s.peers[id]
	if p == nil {
		return Record{}, false
	}
	r := p.records[key]
	if r == nil {
		return Record{}, false
	}
	return *r, true
}

// Keys returns the keys a node holds (tombstones excluded), sorted.
func (s *State) Keys(id string) []string {
	p := s.peers[id]
	if p == nil {
		return nil
	}
	out := make([]string, 0, len(p.records))
	for k, r := range p.records {
		if !r.Tombstone {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// LocalWrite prepares records of the local node, with versions already
// issued in ascending order above the watermark. Commit the returned batch
// once it is durable.
func (s *State) LocalWrite(recs []Record) (*Batch, error) {
	last := s.self.meta.MaxVersion
	for _, r := range recs {
		if r.Version <= last {
			return nil, fmt.Errorf("sync: local write %q: version %d not above %d", r.Key, r.Version, last)
		}
		if len(r.Key) > s.cfg.Limits.MaxKeyBytes || len(r.Value) > s.cfg.Limits.MaxValueBytes {
			return nil, fmt.Errorf("%w: key %d bytes (max %d), value %d bytes (max %d)", ErrLimitExceeded,
				len(r.Key), s.cfg.Limits.MaxKeyBytes, len(r.Value), s.cfg.Limits.MaxValueBytes)
		}
		last = r.Version
	}
	// From now on this run's watermark is authoritative: see ownTail.
	s.tail.wrote = true
	meta := s.self.meta
	meta.MaxVersion = last
	return &Batch{Changes: []PeerChange{{Meta: meta, Records: recs}}}, nil
}
