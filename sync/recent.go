package sync

import "sort"

// recentBytes bounds the records held by all recent caches together (see
// recent); each node's share is at least minRecentBytes.
const (
	recentBytes    = 8 << 20
	minRecentBytes = 16 << 10
)

// recent caches a node's most recently committed records when they live
// in an external Storage, so that a delta to a peer barely behind costs no
// disk read. It holds every committed record of the node with a version
// in (floor, the node's watermark], ascending, overwritten ones included
// (latest tells them apart), within a byte budget: the oldest go first,
// raising floor.
type recent struct {
	recs   []Record
	floor  uint64
	bytes  int
	latest map[string]latestRec
}

type latestRec struct {
	version uint64
	tomb    bool
}

func newRecent(floor uint64) *recent {
	return &recent{floor: floor, latest: make(map[string]latestRec)}
}

func recordBytes(r *Record) int { return len(r.Key) + len(r.Value) + 48 }

// add appends committed records (ascending, above everything held) and
// reports how many of them overwrite a key it holds, and how many of the
// overwritten were tombstones.
func (c *recent) add(recs []Record, budget int) (overwrites, tombs int) {
	for i := range recs {
		r := recs[i]
		if old, ok := c.latest[r.Key]; ok {
			overwrites++
			if old.tomb {
				tombs++
			}
		}
		c.latest[r.Key] = latestRec{version: r.Version, tomb: r.Tombstone}
		c.recs = append(c.recs, r)
		c.bytes += recordBytes(&r)
	}
	c.evict(budget)
	return overwrites, tombs
}

// evict drops the oldest records until the cache is within budget.
func (c *recent) evict(budget int) {
	n := 0
	for n < len(c.recs) && c.bytes > budget {
		r := &c.recs[n]
		c.bytes -= recordBytes(r)
		if l, ok := c.latest[r.Key]; ok && l.version == r.Version {
			delete(c.latest, r.Key)
		}
		c.floor = r.Version
		n++
	}
	if n == 0 {
		return
	}
	if n == len(c.recs) {
		c.recs = nil
		return
	}
	// Copy down once the dead front outweighs the rest, so the backing
	// array does not grow for ever.
	if n > len(c.recs)-n {
		c.recs = append([]Record(nil), c.recs[n:]...)
	} else {
		clear(c.recs[:n])
		c.recs = c.recs[n:]
	}
}

// covers reports whether every record above from is held.
func (c *recent) covers(from uint64) bool { return c != nil && from >= c.floor }

// scan is Storage.Scan over the cache, for a from it covers.
func (c *recent) scan(view PeerMeta, after uint64, fn func(r *Record) bool) uint64 {
	i := sort.Search(len(c.recs), func(i int) bool { return c.recs[i].Version > after })
	for ; i < len(c.recs); i++ {
		r := &c.recs[i]
		if r.Version > view.MaxVersion {
			break
		}
		if l := c.latest[r.Key]; l.version != r.Version || r.Tombstone && r.Version <= view.GCVersion {
			continue
		}
		if !fn(r) {
			return r.Version - 1
		}
	}
	return view.MaxVersion
}

// cacheRecent follows a committed change in p's cache (external storage
// only) and returns the overwrites it saw, for the counts.
func (s *State) cacheRecent(p *peer, c *PeerChange) (overwrites, tombs int) {
	if c.Reset {
		p.cache = newRecent(0) // nothing is left below the new records
	}
	if len(c.Drop) > 0 {
		// Collected keys would have to be found and taken out: rare
		// enough to start over above the new watermark.
		p.cache = newRecent(c.Meta.MaxVersion)
		return 0, 0
	}
	if p.cache == nil {
		p.cache = newRecent(p.meta.MaxVersion)
	}
	return p.cache.add(c.Records, max(minRecentBytes, recentBytes/max(1, len(s.peers))))
}
