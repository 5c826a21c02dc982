package sync

import (
	"math/rand"
	"sort"
)

// pending accumulates the Batch of one step, one PeerChange per node, so
// that a digest's generation reset and the deltas of the same message
// land in one durable write.
type pending struct {
	changes []PeerChange
	at      map[string]int
}

func (pb *pending) change(id string) *PeerChange {
	if i, ok := pb.at[id]; ok {
		return &pb.changes[i]
	}
	return nil
}

// metaOf is the node's meta as this step leaves it.
func (pb *pending) metaOf(p *peer) PeerMeta {
	if c := pb.change(p.meta.ID); c != nil {
		return c.Meta
	}
	return p.meta
}

func (pb *pending) add(meta PeerMeta) *PeerChange {
	if c := pb.change(meta.ID); c != nil {
		c.Meta = meta
		return c
	}
	if pb.at == nil {
		pb.at = make(map[string]int)
	}
	pb.at[meta.ID] = len(pb.changes)
	pb.changes = append(pb.changes, PeerChange{Meta: meta})
	return &pb.changes[len(pb.changes)-1]
}

func (pb *pending) meta(m PeerMeta) { pb.add(m) }

// reset starts the node over at a new generation with no data.
func (pb *pending) reset(p *peer, gen uint64) {
	m := pb.metaOf(p)
	m.Generation, m.MaxVersion = gen, 0
	c := pb.add(m)
	c.Reset, c.Records = true, nil
}

func (pb *pending) batch() *Batch {
	if len(pb.changes) == 0 {
		return nil
	}
	return &Batch{Changes: pb.changes}
}

// candidate is a node the other side is behind on.
type candidate struct {
	p       *peer
	from    uint64
	unknown bool
	depth   int
	tie     int
}

// selectDeltas picks what the other side lacks according to its digest,
// within budget bytes. Order: nodes it has never heard of first (least
// data first, so that many get introduced), then scuttle-depth — the node
// it is furthest behind on first — with ties shuffled. Within a node,
// records go in ascending version order and stop at the first one that
// does not fit, so a cut delta is still a gap-free prefix.
func (s *State) selectDeltas(theirs map[string]*DigestEntry, complete bool, budget int, rng *rand.Rand) []NodeDelta {
	var cands []candidate
	for _, p := range s.relevant(theirs, complete) {
		if p.meta.MaxVersion == 0 {
			continue
		}
		e, known := theirs[p.meta.ID]
		switch {
		case !known:
			if complete {
				cands = append(cands, candidate{p: p, unknown: true, depth: len(p.records)})
			}
		case e.Generation < p.meta.Generation:
			cands = append(cands, candidate{p: p, depth: len(p.records)})
		case e.Generation == p.meta.Generation && e.MaxVersion < p.meta.MaxVersion:
			cands = append(cands, candidate{p: p, from: e.MaxVersion, depth: len(p.log) - p.after(e.MaxVersion)})
		}
	}
	for i := range cands {
		cands[i].tie = rng.Int()
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := &cands[i], &cands[j]
		if a.unknown != b.unknown {
			return a.unknown
		}
		if a.unknown && a.p.meta.MaxVersion != b.p.meta.MaxVersion {
			return a.p.meta.MaxVersion < b.p.meta.MaxVersion
		}
		if !a.unknown && a.depth != b.depth {
			return a.depth > b.depth
		}
		return a.tie < b.tie
	})
	var out []NodeDelta
	for _, c := range cands {
		nd, used, ok := c.p.delta(c.from, budget)
		if !ok {
			continue
		}
		out = append(out, nd)
		budget -= used
	}
	return out
}

// delta builds the node's records above from within budget bytes.
func (p *peer) delta(from uint64, budget int) (NodeDelta, int, bool) {
	nd := NodeDelta{ID: p.meta.ID, Generation: p.meta.Generation, From: from, To: p.meta.MaxVersion}
	used := deltaHeadSize(nd.ID, nd.Generation, nd.From, nd.To)
	if used > budget {
		return NodeDelta{}, 0, false
	}
	for i := p.after(from); i < len(p.log); i++ {
		r := p.current(p.log[i])
		if r == nil {
			continue
		}
		sz := recordSize(r)
		if used+sz > budget || len(nd.Records) == 1<<16-1 {
			if len(nd.Records) == 0 {
				return NodeDelta{}, 0, false
			}
			nd.To = nd.Records[len(nd.Records)-1].Version
			return nd, used, true
		}
		nd.Records = append(nd.Records, *r)
		used += sz
	}
	return nd, used, true
}

// prepareDeltas validates received deltas against the state and adds what
// is new to the pending batch. Deltas that cannot be applied without a gap,
// of an older generation, or about the local node are skipped and counted.
func (s *State) prepareDeltas(ds []NodeDelta, pb *pending, obs *Observed) {
	for i := range ds {
		nd := &ds[i]
		if nd.ID == "" || nd.ID == s.cfg.Self.ID {
			s.stats.OwnIDDeltas++
			continue
		}
		if !s.validDelta(nd) {
			s.stats.InvalidDeltas++
			continue
		}
		p := s.peers[nd.ID]
		if p == nil {
			p = newPeer(PeerMeta{ID: nd.ID, Alias: nd.ID, Generation: nd.Generation})
			s.addPeer(p)
			obs.New = append(obs.New, nd.ID)
		}
		meta := pb.metaOf(p)
		switch {
		case nd.Generation < meta.Generation:
			s.stats.StaleGenDeltas++
			continue
		case nd.Generation > meta.Generation:
			pb.reset(p, nd.Generation)
			meta = pb.metaOf(p)
		}
		if nd.From > meta.MaxVersion {
			s.stats.GapDeltas++
			continue
		}
		if nd.To <= meta.MaxVersion {
			continue // nothing new
		}
		first := sort.Search(len(nd.Records), func(j int) bool { return nd.Records[j].Version > meta.MaxVersion })
		meta.MaxVersion = nd.To
		c := pb.add(meta)
		c.Records = append(c.Records, nd.Records[first:]...)
	}
}

// validDelta checks what a well-behaved sender guarantees: records
// strictly ascending within (From, To], keys within limits.
func (s *State) validDelta(nd *NodeDelta) bool {
	if nd.To < nd.From || len(nd.ID) > s.cfg.Limits.MaxIDBytes {
		return false
	}
	prev := nd.From
	for j := range nd.Records {
		r := &nd.Records[j]
		if r.Version <= prev || r.Version > nd.To || r.Key == "" ||
			len(r.Key) > s.cfg.Limits.MaxKeyBytes || len(r.Value) > s.cfg.Limits.MaxValueBytes {
			return false
		}
		prev = r.Version
	}
	return true
}
