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
	// then. 0 fills the datagram.
	QuietDigest int
	// RecentMs is how long (ms of SetTime) a node whose data changed is
	// listed first in every Syn; 0 is for as long as it is among the 64
	// most recently changed.
	RecentMs uint64
	// MaxPeers caps the nodes known at once, self and ghosts included
	// (0: no cap): every id a message names costs memory, and a member
	// costs a record on disk, so a flood of made-up ids stops here.
	MaxPeers int
	// Storage is where committed records are read from. Nil keeps them in
	// MemRecords owned by the core, applied on Commit; otherwise the
	// caller makes each batch durable in it before Commit, and restores
	// with RestoreMeta (metadata only) instead of Restore.
	Storage Storage
	// RecordProofs makes the core serve each record with its origin's
	// proof (a cluster that signs records): a reply reads them with
	// ProofScanner.ScanProofs, and a record the storage holds no proof
	// of is not served, as no receiver would take it. A Storage that is
	// not a ProofScanner serves its records as they are.
	RecordProofs bool
	// PushProofReserve is the room, in bytes, a push keeps for the
	// proofs of this node's own delta, which the driver adds once it has
	// signed them (0 without record proofs).
	PushProofReserve int
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

// peer is the core's view of one node, the local one included: its meta
// and liveness. Its records are in the Storage.
type peer struct {
	meta      PeerMeta
	heartbeat uint64
	// reborn is the newest generation proven for this node (its data
	// reset may still be on its way to disk): heartbeats of older
	// generations are ignored from then on, so a relayed digest of the
	// old incarnation cannot lift the heartbeat back above the new one's.
	reborn uint64
	// directHB is the heartbeat of the node's last Beat taken here.
	directHB uint64
	synMark  uint32 // MakeSyn call that already listed this peer
	leaving  bool
	ghost    bool // known only from digests so far (see ghost.go)
	// recordSeq is the seq of the node's signed record held (records.go).
	recordSeq uint64
	// proof is the node's proof of heartbeat, as the entry that raised
	// it carried it (zero without signing): relayed with it verbatim.
	proof BeatProof
	word  word // what it last said of itself (see claims.go)
	lag   lag  // its watermark as digests claim it (see lag.go)
	// A node holds a peer for every member, so what only some peers need
	// is kept elsewhere: the ghost list holds when each ghost appeared,
	// the recent list when each node's data last changed, the State the
	// local node's tombFloor.
}

func newPeer(meta PeerMeta) *peer { return &peer{meta: meta} }

// counts returns what the storage holds of p.
func (s *State) counts(p *peer) Counts { return s.store.Counts(p.meta.ID) }

// State is the replicated state of a cluster as seen by one node, and the
// scuttlebutt logic over it. It is not safe for concurrent use: the node
// serialises access to it.
type State struct {
	cfg  Config
	self *peer
	// store holds the records; mem is set when it is the core's own.
	store Storage
	mem   *MemRecords
	peers map[string]*peer // every known node, self included
	// recordSeqs is the seq of each node record held (records.go).
	recordSeqs map[string]uint64
	stats      Stats
	// genCeiling bounds plausible generations (0: no bound), so that one
	// bogus entry far in the future cannot shadow a node for ever.
	genCeiling uint64
	removed    removedSet
	inflight   inflight
	tail       ownTail
	refutes    refuteLimit // one generation refutation per window (tail.go)
	// genProof collects evidence of peers' generation changes, one entry
	// per known peer at most; src is the current message's source address
	// (HandleFrom), unproven is set when a delta was dropped for want of
	// evidence in the current message.
	// ghosts lists the peers with ghost set, oldest first, and some
	// confirmed since (see confirm); ghostCount counts the former.
	ghosts     []ghostPeer
	ghostCount int
	lastSweep  uint64
	genProof   map[string]*genEvidence
	src        string
	// upTo is, while a member list is observed, how many of its leading
	// entries its sender holds alive (Members.Up).
	upTo     int
	unproven bool
	now      uint64 // unix ms, from SetTime
	// sorted caches the peers in id order (nil until first needed);
	// sortedPeers merges the peers added since.
	// Sorting on every message would cost O(N log N) a message
	// (docs/benchmarks.md, "Why the code is built this way").
	sorted []*peer
	// added are the peers added since sorted was built (addPeer); order
	// counts the changes of sorted, so that synBuf, MakeSyn's copy of it
	// taken at synAt, is refreshed.
	added  []*peer
	order  uint64
	synBuf []*peer
	synAt  uint64
	// recent lists the peers whose data changed most recently, newest
	// first, at most recentCap; MakeSyn gives them half the digest.
	recent []recentPeer
	synSeq uint32
	// tombFloor: the local node holds no uncollected tombstone in
	// (GCVersion, tombFloor], so a collection (collect.go) resumes there instead
	// of reading every record again.
	tombFloor uint64
	// claimFloor is the highest watermark of this node that a peer
	// claimed; climbBudget and climbAt bound refutation climbs
	// (claims.go).
	claimFloor  uint64
	climbBudget uint64
	climbAt     uint64
	quiet       bool // the last Syn listed no recent news
	loud        bool // SetLoud
	// prove gives the local node's proof of a heartbeat of its own
	// (records.go; nil without signing), and signedBeats says that peers
	// take heartbeats only with their proofs (SetBeatProver).
	prove       func(hb uint64) BeatProof
	signedBeats bool
	// signedGC gives the GC horizon each node's signed record states
	// (watermarks.go; nil without signing).
	signedGC func(id string) uint64
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
	StorageErrors  uint64 // failed reads of the Storage (deltas, collection, reads left out)
	// Claims (claims.go): relayed heartbeats or versions beyond what the
	// node's own word allows; held words a node's own word replaced;
	// claims about this node refuted, and those too far above to climb.
	ImplausibleClaims uint64
	Overruled         uint64
	ClaimsRefuted     uint64
	ClaimsBeyondReach uint64
	UnknownDeltas     uint64 // deltas of nodes not known as members
	PeersRefused      uint64 // unknown ids not taken because Config.MaxPeers are held
	// UnsignedWatermarks counts horizons and watermarks beyond what their
	// nodes signed or proved, cut or refused (watermarks.go).
	UnsignedWatermarks uint64
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
	s := &State{cfg: cfg, peers: make(map[string]*peer), store: cfg.Storage}
	if s.store == nil {
		s.mem = NewMemRecords()
		s.store = s.mem
	}
	s.self = newPeer(cfg.Self)
	s.self.heartbeat = cfg.Heartbeat
	s.peers[cfg.Self.ID] = s.self
	return s, nil
}

// Restore loads one node's persisted state into the core's own
// MemRecords; recs must be ascending by version and at or below
// meta.MaxVersion. For the local node only the records and watermark are
// taken: identity comes from Config. With an external Storage use
// RestoreMeta.
func (s *State) Restore(meta PeerMeta, recs []Record) error {
	if s.mem == nil {
		return fmt.Errorf("%w: restore %s: records are read from the external storage; use RestoreMeta", ErrInvalidConfig, meta.ID)
	}
	for i := range recs {
		if recs[i].Version > meta.MaxVersion || (i > 0 && recs[i].Version <= recs[i-1].Version) {
			return fmt.Errorf("sync: restore %s: records out of order or above watermark %d", meta.ID, meta.MaxVersion)
		}
	}
	if !s.restoreMeta(meta) {
		return nil
	}
	s.mem.restore(meta, recs)
	return nil
}

// RestoreMeta loads one node's persisted meta at boot; its records, and
// their counts, stay in the external Storage.
func (s *State) RestoreMeta(meta PeerMeta) error {
	if s.mem != nil {
		return fmt.Errorf("%w: restore %s: no external storage to read records from; use Restore", ErrInvalidConfig, meta.ID)
	}
	s.restoreMeta(meta)
	return nil
}

// restoreMeta takes a node's meta; false for the local node's data of an
// older generation, which is not ours any more.
func (s *State) restoreMeta(meta PeerMeta) bool {
	p := s.peers[meta.ID]
	if p == nil {
		p = newPeer(meta)
		s.addPeer(p)
	}
	if p == s.self {
		if meta.Generation != s.cfg.Self.Generation {
			return false
		}
		p.meta.MaxVersion, p.meta.GCVersion = meta.MaxVersion, meta.GCVersion
	} else {
		p.meta = meta
	}
	return true
}

// Commit applies a batch that has been made durable.
func (s *State) Commit(b *Batch) {
	if b == nil {
		return
	}
	if s.mem != nil {
		s.mem.Apply(b)
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
			s.stats.Resets++
		}
		if p == s.self {
			s.cfg.Self.Generation = c.Meta.Generation // changed by a refutation
			if c.Reset {
				s.tombFloor = 0 // refilled: its tombstones are new ones
			}
		}
		if p != s.self && (len(c.Records) > 0 || c.Reset) {
			s.touch(p)
		}
		p.meta = c.Meta
		s.committedLag(p, c)
	}
}

// Storage is where the core reads its committed records from: the one
// given in Config, or its own MemRecords. Config's may be read outside
// the lock the core's owner holds around it, beside the core's writes;
// the core's own only under that lock (it has none of its own).
func (s *State) Storage() Storage { return s.store }

// Stats returns the rejection counters.
func (s *State) Stats() Stats { return s.stats }

// Member reports whether id is a known node whose meta is committed: not
// a ghost, heard of only in digests.
func (s *State) Member(id string) bool {
	p := s.peers[id]
	return p != nil && !p.ghost
}

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
	// Keys is the node's live keys as the storage holds them: each key
	// whose current record is a value counts once, overwritten or not;
	// deleted keys (tombstones) do not count (Counts.Live).
	Keys int
}

// Peers returns every known node except the local one, sorted by id.
func (s *State) Peers() []PeerInfo {
	out := make([]PeerInfo, 0, len(s.peers)-1)
	for _, p := range s.peers {
		if p != s.self {
			out = append(out, s.info(p))
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
	return s.info(p), true
}

func (s *State) info(p *peer) PeerInfo {
	return PeerInfo{PeerMeta: p.meta, Heartbeat: p.heartbeat, Leaving: p.leaving, Keys: s.counts(p).Live}
}

// Get returns a node's record for key, tombstones included. A failed
// storage read counts in Stats.StorageErrors and reads as absent.
func (s *State) Get(id, key string) (Record, bool) {
	if s.peers[id] == nil {
		return Record{}, false
	}
	r, ok, err := s.store.Get(id, key)
	if err != nil {
		s.stats.StorageErrors++
		return Record{}, false
	}
	return r, ok
}

// Keys returns the keys a node holds (tombstones excluded), sorted.
func (s *State) Keys(id string) []string {
	p := s.peers[id]
	if p == nil {
		return nil
	}
	out, err := ScanKeys(s.store, p.meta)
	if err != nil {
		s.stats.StorageErrors++
	}
	return out
}

// View returns what the core holds of a node, for reading its records
// from the Storage outside the core's lock (ScanKeys, Storage.Scan).
func (s *State) View(id string) (PeerMeta, bool) {
	p := s.peers[id]
	if p == nil {
		return PeerMeta{}, false
	}
	return p.meta, true
}

// ScanKeys returns the keys (tombstones excluded) of the node of view,
// sorted, read from st.
func ScanKeys(st Storage, view PeerMeta) ([]string, error) {
	var out []string
	_, err := st.Scan(view, 0, func(r *Record) bool {
		if !r.Tombstone {
			out = append(out, r.Key)
		}
		return true
	})
	sort.Strings(out)
	if err != nil {
		return out, fmt.Errorf("%w: keys of %s: %w", ErrStorage, view.ID, err)
	}
	return out, nil
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
