package sim

import (
	"fmt"
	"sort"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// store is a node's durable state: every batch it committed, kept across
// crashes. It stands in for Badger and is where the simulator checks what
// the core asks to persist, since a bad batch is a bug whatever the core
// does with it afterwards.
type store struct {
	boot  uint64
	peers peerTable
	// unsynced journals how to undo each batch applied within the last
	// window (when window > 0): what a power loss takes back from a store
	// that does not sync every write (Badger's sync_writes = false).
	window   time.Duration
	unsynced []undoBatch
}

// undoBatch undoes one applied batch: its steps, run in reverse order.
type undoBatch struct {
	at    time.Duration
	steps []func()
}

type storedPeer struct {
	meta lsync.PeerMeta
	recs map[string]lsync.Record // nil until the first record
}

// newStore returns an empty store; index maps the cluster's node ids to
// their indexes.
func newStore(window time.Duration, index map[string]int) *store {
	return &store{peers: newPeerTable(index), window: window}
}

// journal prepares the undo of a batch applied at now, dropping the undo
// of batches older than the window (synced since).
func (s *store) journal(now time.Duration) *undoBatch {
	if s.window <= 0 {
		return nil
	}
	k := 0
	for k < len(s.unsynced) && now-s.unsynced[k].at > s.window {
		k++
	}
	s.unsynced = append(s.unsynced[:0], s.unsynced[k:]...)
	s.unsynced = append(s.unsynced, undoBatch{at: now})
	return &s.unsynced[len(s.unsynced)-1]
}

// loseUnsynced undoes every batch of the window, newest first: the store
// as a power loss leaves it.
func (s *store) loseUnsynced() (lost int) {
	for i := len(s.unsynced) - 1; i >= 0; i-- {
		u := s.unsynced[i]
		for j := len(u.steps) - 1; j >= 0; j-- {
			u.steps[j]()
		}
	}
	lost = len(s.unsynced)
	s.unsynced = nil
	return lost
}

// remember adds to u the undo of the changes about to be made to peer id.
func (s *store) remember(u *undoBatch, id string, c *lsync.PeerChange) {
	if u == nil {
		return
	}
	prev := s.peers.get(id)
	had := prev != nil
	if !had || c.Remove {
		u.steps = append(u.steps, func() {
			if had {
				s.peers.set(id, prev)
			} else {
				s.peers.remove(id)
			}
		})
		return
	}
	meta, recs := prev.meta, prev.recs
	if c.Reset {
		// Reset replaces the record map: the old one stays as it was.
		u.steps = append(u.steps, func() { prev.meta, prev.recs = meta, recs })
		return
	}
	type old struct {
		r  lsync.Record
		ok bool
	}
	olds := make(map[string]old, len(c.Records)+len(c.Drop))
	for _, r := range c.Records {
		o, ok := prev.recs[r.Key]
		olds[r.Key] = old{o, ok}
	}
	for _, k := range c.Drop {
		o, ok := prev.recs[k]
		olds[k] = old{o, ok}
	}
	u.steps = append(u.steps, func() {
		prev.meta = meta
		if prev.recs == nil && len(olds) > 0 {
			prev.recs = make(map[string]lsync.Record)
		}
		for k, o := range olds {
			if o.ok {
				prev.recs[k] = o.r
			} else {
				delete(prev.recs, k)
			}
		}
	})
}

// apply makes a batch durable at now. It returns the invariants the batch
// breaks (and applies it anyway, so that one bug does not hide the next).
func (s *store) apply(b *lsync.Batch, now time.Duration) []string {
	var bad []string
	u := s.journal(now)
	for i := range b.Changes {
		c := &b.Changes[i]
		s.remember(u, c.Meta.ID, c)
		if c.Remove {
			s.peers.remove(c.Meta.ID)
			continue
		}
		p := s.peers.get(c.Meta.ID)
		held := p != nil
		if p == nil {
			p = &storedPeer{meta: lsync.PeerMeta{ID: c.Meta.ID, Generation: c.Meta.Generation}}
			s.peers.set(c.Meta.ID, p)
		}
		if c.Reset {
			p.recs = nil
			p.meta.MaxVersion = 0
		}
		if c.Relabel != 0 {
			// The records stay, at their versions, under the new
			// generation: only a relabel of the generation held means
			// that; anything else would serve records of another one.
			switch {
			case c.Reset || c.Relabel >= c.Meta.Generation:
				bad = append(bad, fmt.Sprintf("relabel of %s from generation %d to %d (reset %v)", c.Meta.ID, c.Relabel, c.Meta.Generation, c.Reset))
			case held && c.Relabel != p.meta.Generation:
				bad = append(bad, fmt.Sprintf("relabel of %s from generation %d, the store holds %d", c.Meta.ID, c.Relabel, p.meta.Generation))
			default:
				p.meta.Generation = c.Meta.Generation
			}
		}
		if c.Meta.Generation < p.meta.Generation {
			bad = append(bad, fmt.Sprintf("%s: generation of %s goes back from %d to %d", "store", c.Meta.ID, p.meta.Generation, c.Meta.Generation))
		}
		if c.Meta.Generation == p.meta.Generation && c.Meta.MaxVersion < p.meta.MaxVersion {
			bad = append(bad, fmt.Sprintf("watermark of %s goes back from %d to %d", c.Meta.ID, p.meta.MaxVersion, c.Meta.MaxVersion))
		}
		prev := p.meta.MaxVersion
		for _, r := range c.Records {
			if r.Version <= prev || r.Version > c.Meta.MaxVersion {
				bad = append(bad, fmt.Sprintf("record %s/%s v%d out of order (after v%d, watermark %d)", c.Meta.ID, r.Key, r.Version, prev, c.Meta.MaxVersion))
			}
			if old, ok := p.recs[r.Key]; ok && old.Version >= r.Version {
				bad = append(bad, fmt.Sprintf("record %s/%s v%d applied over newer v%d", c.Meta.ID, r.Key, r.Version, old.Version))
				continue
			}
			if p.recs == nil {
				p.recs = make(map[string]lsync.Record)
			}
			p.recs[r.Key] = r
			prev = r.Version
		}
		for _, k := range c.Drop {
			if r, ok := p.recs[k]; ok && (!r.Tombstone || r.Version > c.Meta.GCVersion) {
				bad = append(bad, fmt.Sprintf("collects %s/%s v%d, not a tombstone at or below gc version %d", c.Meta.ID, k, r.Version, c.Meta.GCVersion))
			}
			delete(p.recs, k)
		}
		p.meta = c.Meta
	}
	return bad
}

// load lists what a restart restores, in id order and each node's records
// in version order, as the Badger store's Load does.
func (s *store) load(fn func(meta lsync.PeerMeta, recs []lsync.Record) error) error {
	ids := make([]string, 0, s.peers.len())
	s.peers.each(func(id string, _ *storedPeer) { ids = append(ids, id) })
	sort.Strings(ids)
	for _, id := range ids {
		p := s.peers.get(id)
		recs := make([]lsync.Record, 0, len(p.recs))
		for _, r := range p.recs {
			recs = append(recs, r)
		}
		sort.Slice(recs, func(i, j int) bool { return recs[i].Version < recs[j].Version })
		if err := fn(p.meta, recs); err != nil {
			return fmt.Errorf("restore %s: %w", id, err)
		}
	}
	return nil
}

// watermark is what the store holds of a node: generation and max version.
func (s *store) watermark(id string) (gen, max uint64, ok bool) {
	p := s.peers.get(id)
	if p == nil {
		return 0, 0, false
	}
	return p.meta.Generation, p.meta.MaxVersion, true
}
