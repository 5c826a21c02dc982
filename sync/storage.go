package sync

import (
	"errors"
	"sort"

	"github.com/leviathan-gossip/leviathan/sync/proof"
)

// Storage is where the core reads the records it has committed: the core
// itself keeps only each node's meta and heartbeat (etcd raft's Storage is
// the model). The node passes its Badger store; with none
// (Config.Storage nil) the core keeps its records in MemRecords of its
// own, which the simulator and tests use. An in-memory Storage to pass
// as Config.Storage is sync/memstore's.
//
// An external Storage must hold every batch before State.Commit is called
// with it (the node applies it first), and may hold batches the core has
// not committed yet: reads are given the core's view of the node (its
// committed meta) and must never return anything the view does not vouch
// for. Reads may run beside the core's writes: the driver reads deltas
// (DeltaFill) and tombstone collections (TombstoneScan) outside its lock,
// and Get is called without it; the core's steps themselves read nothing
// but Counts, which answers from memory.
//
// A change with Relabel keeps the node's records and serves them at the
// new generation from then on: a Storage that keeps a generation per
// record must not take the change for a wipe (see PeerChange.Relabel).
type Storage interface {
	// Scan calls fn with the servable records of view.ID at generation
	// view.Generation, versions in (after, view.MaxVersion], ascending by
	// version, until fn returns false. Servable: the record is the key's
	// current one, of that generation, and not a tombstone collected at
	// view.GCVersion. fn must not modify r.Value and may keep it (the
	// storage never changes it); r itself is valid only during the call.
	//
	// through is the version up to which the records passed to fn are
	// complete: every servable record in (after, through] was accepted by
	// fn. It is view.MaxVersion when the scan ran through; below it when
	// fn returned false (the rejected record's version minus one) or the
	// storage is ahead of the view in a way that makes the rest
	// unservable now (a key overwritten above the watermark, another
	// generation or horizon stored): the caller sends the prefix.
	Scan(view PeerMeta, after uint64, fn func(r *Record) bool) (through uint64, err error)
	// Get returns the servable record of key of peer (tombstones
	// included), against the storage's own meta of peer.
	Get(peer, key string) (Record, bool, error)
	// Counts returns what the storage holds of a node, exactly: the core
	// calls it under its owner's lock (PeerInfo.Keys, and to skip a
	// collection with no tombstone to collect), beside the storage's
	// writes, so it answers from memory. A batch counts once it is
	// applied, which may be a moment before the core commits it.
	Counts(id string) Counts
}

// RecordProof is where a served record stands in its origin's signed
// batch: the tree of what the storage holds of that batch, and the
// record's position among the records the tree holds. A sender collects
// the positions of the records it sends of each tree and cuts their proof
// with Tree.Subset, at whatever slice its budget allows. The zero
// RecordProof is an unsigned record.
type RecordProof struct {
	Tree *proof.Tree
	Pos  int
}

// ProofScanner is a Storage that keeps its records' proofs (a change's
// Proofs): ScanProofs is Scan that also hands each record's proof.
type ProofScanner interface {
	ScanProofs(view PeerMeta, after uint64, fn func(r *Record, p RecordProof) bool) (through uint64, err error)
}

// Counts are what a storage holds of one node. Live is its keys whose
// current record is a value, not a tombstone: each key once, however
// often it was overwritten. Tombstones are its deleted keys whose
// tombstone the storage still holds; a tombstone collected at the node's
// horizon may count until the storage deletes it.
type Counts struct {
	Live       int
	Tombstones int
}

// ErrStorage wraps a failed read of the storage.
var ErrStorage = errors.New("sync: storage read failed")

// MemRecords is a Storage in memory: a map per node and a log by version.
// It is not safe for concurrent use, and has no lock: the core reads and
// writes its own only under its owner's lock (a DeltaFill or
// TombstoneScan of it is read as it is planned), so the core needs no lock
// of its own. sync/memstore wraps one with a lock, for a Storage in memory
// that is read beside its writes.
type MemRecords struct {
	peers map[string]*memPeer
}

// NewMemRecords returns an empty MemRecords.
func NewMemRecords() *MemRecords { return &MemRecords{peers: make(map[string]*memPeer)} }

// logEntry indexes a record by version. A node's log is ascending because
// records of a node are only ever applied in ascending version order; an
// entry whose key has since been overwritten is stale and skipped.
type logEntry struct {
	version uint64
	key     string
}

type memPeer struct {
	meta       PeerMeta
	records    map[string]*Record
	log        []logEntry
	stale      int
	tombstones int
}

func newMemPeer(meta PeerMeta) *memPeer {
	return &memPeer{meta: meta, records: make(map[string]*Record)}
}

// Apply applies a batch; an external store does this durably instead.
func (m *MemRecords) Apply(b *Batch) {
	if b == nil {
		return
	}
	for i := range b.Changes {
		c := &b.Changes[i]
		if c.Remove {
			delete(m.peers, c.Meta.ID)
			continue
		}
		if m.peers[c.Meta.ID] == nil && c.Meta.MaxVersion == 0 && len(c.Records) == 0 {
			continue // nothing to hold: see peer
		}
		p := m.peer(c.Meta)
		if c.Reset {
			p.reset()
		}
		for _, r := range c.Records {
			p.put(r)
		}
		for _, k := range c.Drop {
			p.drop(k)
		}
		p.collect(p.meta.GCVersion, c.Meta.GCVersion)
		// A relabel (c.Relabel) needs nothing more: records here have no
		// generation of their own, the meta's is theirs.
		p.meta = c.Meta
	}
}

// peer returns the node's entry, made on its first version: most nodes
// of a large quiet cluster write nothing, and an entry for each of them on
// every node was a sixth of a simulation's memory. A node without an
// entry reads as one without records.
func (m *MemRecords) peer(meta PeerMeta) *memPeer {
	p := m.peers[meta.ID]
	if p == nil {
		p = newMemPeer(meta)
		m.peers[meta.ID] = p
	}
	return p
}

// restore loads records at boot, ascending and at or below the meta's
// watermark (checked by the caller).
func (m *MemRecords) restore(meta PeerMeta, recs []Record) {
	if m.peers[meta.ID] == nil && meta.MaxVersion == 0 && len(recs) == 0 {
		return
	}
	p := m.peer(meta)
	p.meta = meta
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
		slab[i] = r
		p.putAt(&slab[i])
	}
}

// Counts implements Storage. MemRecords deletes collected tombstones as
// it applies a horizon, so none of them counts.
func (m *MemRecords) Counts(id string) Counts {
	if p := m.peers[id]; p != nil {
		return Counts{Live: len(p.records) - p.tombstones, Tombstones: p.tombstones}
	}
	return Counts{}
}

// Scan implements Storage.
func (m *MemRecords) Scan(view PeerMeta, after uint64, fn func(r *Record) bool) (uint64, error) {
	p := m.peers[view.ID]
	if p == nil || p.meta.Generation != view.Generation {
		return after, nil
	}
	for i := p.after(after); i < len(p.log); i++ {
		e := p.log[i]
		if e.version > view.MaxVersion {
			break
		}
		r := p.current(e)
		if r == nil {
			continue
		}
		if r.Tombstone && r.Version <= view.GCVersion {
			continue
		}
		if !fn(r) {
			return r.Version - 1, nil
		}
	}
	return view.MaxVersion, nil
}

// Get implements Storage.
func (m *MemRecords) Get(peer, key string) (Record, bool, error) {
	p := m.peers[peer]
	if p == nil {
		return Record{}, false, nil
	}
	r := p.records[key]
	if r == nil || r.Tombstone && r.Version <= p.meta.GCVersion {
		return Record{}, false, nil
	}
	return *r, true, nil
}

// put applies one record above the watermark. The caller guarantees
// ascending versions.
func (p *memPeer) put(r Record) {
	rec := r
	p.putAt(&rec)
}

// putAt applies a record held at rec, which the peer keeps.
func (p *memPeer) putAt(rec *Record) {
	if old, ok := p.records[rec.Key]; ok {
		if old.Version >= rec.Version {
			return
		}
		p.stale++
		if old.Tombstone {
			p.tombstones--
		}
		// It may sit in a slab that outlives it (see restore): let its
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
func (p *memPeer) drop(key string) {
	if r, ok := p.records[key]; ok {
		r.Value = nil
		delete(p.records, key)
		p.stale++
		if r.Tombstone {
			p.tombstones--
		}
	}
}

// collect drops the tombstones a horizon raised from old to gc passed:
// the core lists only those of the batch that raises it (it reads nothing
// under its owner's lock), and past the horizon none is ever served.
func (p *memPeer) collect(old, gc uint64) {
	if gc <= old {
		return
	}
	var keys []string
	for i := p.after(old); i < len(p.log) && p.log[i].version <= gc; i++ {
		if r := p.current(p.log[i]); r != nil && r.Tombstone {
			keys = append(keys, r.Key)
		}
	}
	for _, k := range keys {
		p.drop(k)
	}
}

func (p *memPeer) reset() {
	p.records = make(map[string]*Record)
	p.log = nil
	p.stale = 0
	p.tombstones = 0
}

// compact drops stale log entries once they are the majority, keeping
// the log within twice the number of live keys.
func (p *memPeer) compact() {
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
func (p *memPeer) after(v uint64) int {
	return sort.Search(len(p.log), func(i int) bool { return p.log[i].version > v })
}

// current returns the record a log entry points to, or nil if stale.
func (p *memPeer) current(e logEntry) *Record {
	if r := p.records[e.key]; r != nil && r.Version == e.version {
		return r
	}
	return nil
}
