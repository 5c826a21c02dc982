package sync

import (
	"errors"
	"fmt"
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
	meta      PeerMeta
	heartbeat uint64
	records   map[string]*Record
	log       []logEntry
	stale     int
	synMark   uint64 // MakeSyn call that already listed this peer
}

func newPeer(meta PeerMeta) *peer {
	return &peer{meta: meta, records: make(map[string]*Record)}
}

// put applies one record above the watermark. The caller guarantees
// ascending versions.
func (p *peer) put(r Record) {
	if old, ok := p.records[r.Key]; ok {
		if old.Version >= r.Version {
			return
		}
		p.stale++
	}
	rec := r
	p.records[r.Key] = &rec
	p.log = append(p.log, logEntry{version: r.Version, key: r.Key})
	p.compact()
}

func (p *peer) reset() {
	p.records = make(map[string]*Record)
	p.log = nil
	p.stale = 0
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
	// sorted caches the peers in id order (nil until first needed); addPeer
	// keeps it sorted.
	// Sorting on every message was most of a 1000-node simulation's time.
	sorted []*peer
	// recent lists the peers whose data changed most recently, newest
	// first, at most recentCap; MakeSyn gives them half the digest.
	recent []*peer
	synSeq uint64
	stats  Stats
}

// Stats count what the core rejected; the node exports them.
type Stats struct {
	BadCluster     uint64 // messages from another cluster
	OwnIDDeltas    uint64 // deltas or digest entries claiming to be this node
	GapDeltas      uint64 // node deltas not applicable without a gap
	InvalidDeltas  uint64 // node deltas with unordered or out-of-range records
	StaleGenDeltas uint64 // node deltas of a generation older than known
	Resets         uint64 // peers whose data was dropped for a new generation
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
		p.meta.MaxVersion = meta.MaxVersion
	} else {
		p.meta = meta
	}
	for i, r := range recs {
		if r.Version > meta.MaxVersion || (i > 0 && r.Version <= recs[i-1].Version) {
			return fmt.Errorf("sync: restore %s: records out of order or above watermark %d", meta.ID, meta.MaxVersion)
		}
		p.put(r)
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
		if p == nil {
			p = newPeer(c.Meta)
			s.addPeer(p)
		}
		if c.Reset {
			p.reset()
			s.stats.Resets++
		}
		for _, r := range c.Records {
			p.put(r)
		}
		if p != s.self && (len(c.Records) > 0 || c.Reset) {
			s.touch(p)
		}
		hb := p.heartbeat
		p.meta = c.Meta
		p.heartbeat = hb
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

// PeerInfo is a snapshot of what is known about one node.
type PeerInfo struct {
	PeerMeta
	Heartbeat uint64
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
	return PeerInfo{PeerMeta: p.meta, Heartbeat: p.heartbeat, Keys: len(p.records)}
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
	meta := s.self.meta
	meta.MaxVersion = last
	return &Batch{Changes: []PeerChange{{Meta: meta, Records: recs}}}, nil
}
