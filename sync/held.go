package sync

// Pushed deltas that arrive ahead of their node's watermark are held for a
// moment instead of being dropped. A write is pushed along several paths
// at once, and a node writing steadily commits a batch every few
// milliseconds, so a receiver often gets batch k+1 of a node before batch
// k. Scuttlebutt takes only gap-free prefixes: without holding, k+1 would
// be thrown away when it came first and its records would wait for the
// next exchange, a round later, even though k arrived a moment after.
//
// Nothing held is persisted, acknowledged or listed in a digest: it is a
// cache of what the sender already has, and losing it costs only the wait
// for anti-entropy. It is bounded in deltas per node, in deltas and bytes
// in all, and in age, since network input fills it.

const (
	heldPerNode = 16      // deltas held for one node
	heldMax     = 512     // deltas held in all
	heldBytes   = 1 << 20 // their encoded size in all
	heldTTL     = 3000    // ms a delta is held before it is dropped
)

// heldDelta is one delta waiting for the gap before it to fill.
type heldDelta struct {
	nd   NodeDelta
	at   uint64 // ms of SetTime when held
	size int
}

// heldDeltas is the store of held deltas, by node id.
type heldDeltas struct {
	by    map[string][]heldDelta
	count int
	bytes int
}

// hold keeps nd, a delta of p's generation starting beyond its watermark,
// if the bounds allow. A delta covered by one held already is not kept
// twice: the paths of one push deliver the same delta several times.
func (s *State) hold(p *peer, nd *NodeDelta) {
	h := &s.held
	s.expireHeld()
	list := h.by[p.meta.ID]
	for i := range list {
		if list[i].nd.Generation == nd.Generation && list[i].nd.From <= nd.From && list[i].nd.To >= nd.To {
			return
		}
	}
	size := deltaHeadSize(nd)
	for j := range nd.Records {
		size += recordSize(&nd.Records[j])
	}
	if len(list) >= heldPerNode || h.count >= heldMax || h.bytes+size > heldBytes {
		s.stats.GapDeltas++
		return
	}
	if h.by == nil {
		h.by = make(map[string][]heldDelta)
	}
	h.by[p.meta.ID] = append(list, heldDelta{nd: *nd, at: s.now, size: size})
	h.count++
	h.bytes += size
	s.stats.HeldDeltas++
}

// releaseHeld adds to pb the held deltas of p that its watermark, as pb
// leaves it, has reached, and drops those it has passed or that belong
// to another generation.
func (s *State) releaseHeld(p *peer, pb *pending) {
	h := &s.held
	for {
		list := h.by[p.meta.ID]
		if len(list) == 0 {
			return
		}
		meta := pb.metaOf(p)
		next := -1
		kept := list[:0]
		for i := range list {
			d := &list[i]
			switch {
			case d.nd.Generation != meta.Generation || d.nd.To <= meta.MaxVersion || s.heldExpired(d):
				h.forget(d)
			case next < 0 && d.nd.From <= meta.MaxVersion:
				next = len(kept)
				kept = append(kept, *d)
			default:
				kept = append(kept, *d)
			}
		}
		if next < 0 {
			h.set(p.meta.ID, kept)
			return
		}
		nd := kept[next].nd
		h.forget(&kept[next])
		h.set(p.meta.ID, append(kept[:next], kept[next+1:]...))
		s.stats.HeldApplied++
		before := meta.MaxVersion
		s.applyDelta(p, &nd, pb)
		if pb.metaOf(p).MaxVersion == before {
			return // refused after all (a newer horizon, say): no progress to chase
		}
	}
}

// expireHeld drops the deltas held longer than heldTTL. It walks every
// held delta, at most heldMax, and only when a delta is about to be held.
func (s *State) expireHeld() {
	h := &s.held
	if h.count == 0 {
		return
	}
	for id, list := range h.by {
		kept := list[:0]
		for i := range list {
			if s.heldExpired(&list[i]) {
				h.forget(&list[i])
				continue
			}
			kept = append(kept, list[i])
		}
		h.set(id, kept)
	}
}

func (s *State) heldExpired(d *heldDelta) bool { return s.now-min(s.now, d.at) > heldTTL }

// dropHeld forgets what is held for id: the node is gone or starts over.
func (s *State) dropHeld(id string) {
	h := &s.held
	for i := range h.by[id] {
		h.forget(&h.by[id][i])
	}
	delete(h.by, id)
}

func (h *heldDeltas) forget(d *heldDelta) {
	h.count--
	h.bytes -= d.size
}

func (h *heldDeltas) set(id string, list []heldDelta) {
	if len(list) == 0 {
		delete(h.by, id)
		return
	}
	h.by[id] = list
}
