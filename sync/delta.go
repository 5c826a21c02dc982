package sync

import (
	"math/rand"
	"sort"

	"github.com/leviathan-gossip/leviathan/sync/proof"
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

// reset starts the node over with no data: at a new generation, or at
// the same one refilled from a sender's current state up to horizon gc.
func (pb *pending) reset(p *peer, gen, gc uint64) {
	m := pb.metaOf(p)
	m.Generation, m.MaxVersion, m.GCVersion = gen, 0, gc
	c := pb.add(m)
	c.Reset, c.Records, c.Drop, c.Proofs = true, nil, nil, nil
}

func (pb *pending) batch() *Batch {
	if len(pb.changes) == 0 {
		return nil
	}
	for i := range pb.changes {
		if c := &pb.changes[i]; c.Remove || c.Relabel != 0 {
			c.Proofs = nil // a store takes proofs only with records written
		}
		pb.changes[i].Drop = collectable(pb.changes[i].Drop, pb.changes[i].Records, pb.changes[i].Meta.GCVersion)
	}
	return &Batch{Changes: pb.changes}
}

// collectable keeps the dropped keys that the batch leaves as collected
// tombstones: a key dropped early in a step may be written again by a later
// delta of the same step, and must then survive.
func collectable(drop []string, recs []Record, gc uint64) []string {
	if len(drop) == 0 || len(recs) == 0 {
		return drop
	}
	last := make(map[string]*Record, len(recs))
	for i := range recs {
		last[recs[i].Key] = &recs[i]
	}
	kept := drop[:0]
	for _, k := range drop {
		if r := last[k]; r == nil || r.Tombstone && r.Version <= gc {
			kept = append(kept, k)
		}
	}
	return kept
}

// candidate is a node the other side is behind on.
type candidate struct {
	p       *peer
	from    uint64
	reset   bool
	unknown bool
	depth   int
	tie     int
}

// clean is how far the local copy of p is known to hold no key deleted by
// a collected tombstone.
func (p *peer) clean() uint64 { return max(p.meta.MaxVersion, p.meta.GCVersion) }

// candidates lists the nodes the other side lacks data of, per its digest.
// depth is how many records it lacks: at most all the node's records, and
// at most one per version it is behind.
func (s *State) candidates(theirs map[string]*DigestEntry, complete bool) []candidate {
	var cands []candidate
	for _, p := range s.relevant(theirs, complete) {
		if p.meta.MaxVersion == 0 {
			continue
		}
		n := s.counts(p)
		recs := n.Live + n.Tombstones
		e, known := theirs[p.meta.ID]
		switch {
		case !known:
			if complete {
				cands = append(cands, candidate{p: p, unknown: true, depth: recs})
			}
		case e.Generation < p.meta.Generation:
			cands = append(cands, candidate{p: p, depth: recs})
		case e.Generation > p.meta.Generation:
		case s.shownGC(p) > max(e.MaxVersion, e.GCVersion):
			// It may hold keys whose tombstones it never saw and that are
			// collected now: only a refill from the current state fixes that.
			cands = append(cands, candidate{p: p, reset: true, depth: recs})
		case e.MaxVersion < p.meta.MaxVersion && p.clean() >= e.GCVersion:
			behind := p.meta.MaxVersion - e.MaxVersion
			cands = append(cands, candidate{p: p, from: e.MaxVersion, depth: int(min(uint64(recs), behind))})
		}
	}
	return cands
}

// planDeltas picks what the other side lacks according to its digest,
// within budget bytes, and returns it as a DeltaFill for reply: the order
// is decided here, the records are read by DeltaFill.Read (here already
// when they are the core's own). Order: nodes it
// has never heard of first (least data first, so that many get
// introduced), then scuttle-depth — the node it is furthest behind on
// first — with ties shuffled. Within a node, records go in ascending
// version order and stop at the first one that does not fit, so a cut
// delta is still a gap-free prefix.
func (s *State) planDeltas(reply Message, to string, theirs map[string]*DigestEntry, complete bool, budget int, rng *rand.Rand) *DeltaFill {
	// The requester's own entry gives its incarnation; a digest without
	// one counts as generation 0.
	var toGen uint64
	if e := theirs[to]; e != nil {
		toGen = e.Generation
	}
	cands := s.inflight.skipSent(to, toGen, s.candidates(theirs, complete), s.now)
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
	f := &DeltaFill{reply: reply, store: s.store,
		to: to, toGen: toGen, now: s.now, budget: budget, packet: s.cfg.PacketBudget}
	if ps, ok := s.store.(ProofScanner); ok && s.cfg.RecordProofs && s.mem == nil {
		f.proofs = ps
	}
	f.plans = make([]plannedDelta, len(cands))
	for i, c := range cands {
		f.plans[i] = plannedDelta{view: c.p.meta, from: c.from, reset: c.reset, clean: c.p.clean()}
		f.plans[i].view.GCVersion = s.shownGC(c.p)
	}
	if s.mem != nil {
		// The core's own records may not be read beside Commit, which
		// writes them under the owner's lock; here, under it, they are
		// memory, read at once (see DeltaFill).
		f.read()
	}
	return f
}

// prepareDeltas validates received deltas against the state and adds what
// is new to the pending batch. Deltas that cannot be applied without a gap,
// of an older generation, or about the local node are skipped and counted.
func (s *State) prepareDeltas(ds []NodeDelta, pb *pending) {
	s.refuteHeld(pb)
	for i := range ds {
		nd := &ds[i]
		if nd.ID == "" {
			s.stats.OwnIDDeltas++
			continue
		}
		if !s.validDelta(nd) {
			s.stats.InvalidDeltas++
			continue
		}
		s.capDeltaTo(nd)
		if nd.ID == s.cfg.Self.ID {
			s.prepareOwnDelta(nd, pb) // a lost tail taken back, or a forgery
			continue
		}
		if s.implausible(nd.Generation) || s.removed.has(nd.ID) {
			continue
		}
		if !s.plausibleVersion(nd.To) || !s.plausibleVersion(nd.GCVersion) {
			continue // a watermark no node can have reached: it would silence the node
		}
		// Data is taken only for known ids: an id enters through a digest
		// entry, as a ghost (ghost.go, bounded in number), and its data
		// makes it a member. A delta that made its node a peer let one
		// datagram create thousands, persisted.
		p := s.peers[nd.ID]
		if p == nil {
			s.stats.UnknownDeltas++
			continue
		}
		s.prepareDelta(p, nd, pb)
	}
}

func (s *State) prepareDelta(p *peer, nd *NodeDelta, pb *pending) {
	meta := pb.metaOf(p)
	if nd.Generation == meta.Generation && !s.signedHorizon(p, nd.GCVersion) && nd.Reset {
		// A refill from a horizon the node never signed (watermarks.go);
		// any other delta's horizon is cut to the signed one as it is
		// learnt. Both are counted.
		return
	}
	switch {
	case nd.Generation < meta.Generation:
		s.stats.StaleGenDeltas++
		return
	case nd.Generation > meta.Generation:
		if s.cfg.GenerationEvidence > 0 {
			// Only the peer's own digest entry proves a new generation
			// (see proven); until then its data stays as it is.
			s.stats.UnprovenGen++
			s.unproven = true
			return
		}
		pb.reset(p, nd.Generation, 0)
		meta = pb.metaOf(p)
	case nd.Reset:
		if nd.GCVersion <= max(meta.MaxVersion, meta.GCVersion) {
			return // already as clean as this refill would make it
		}
		pb.reset(p, meta.Generation, nd.GCVersion)
		meta = pb.metaOf(p)
	case nd.Clean < meta.GCVersion:
		// The sender may still hold keys deleted before our horizon.
		s.stats.UncleanDeltas++
		return
	}
	if nd.From > meta.MaxVersion {
		s.stats.GapDeltas++
		return
	}
	if nd.To <= meta.MaxVersion {
		return // nothing new
	}
	first := sort.Search(len(nd.Records), func(j int) bool { return nd.Records[j].Version > meta.MaxVersion })
	proofs, ok := pb.proofsOf(nd, first)
	if !ok {
		s.stats.InvalidDeltas++
		return
	}
	meta.MaxVersion = nd.To
	c := pb.add(meta)
	c.Records = append(c.Records, nd.Records[first:]...)
	if proofs != nil {
		c.Proofs = proofs
	}
	s.learnHorizon(p, nd.GCVersion, pb)
}

// proofsOf returns the proofs of the node's change once it takes
// nd.Records[first:]: those it holds with the proofs of the records taken
// (nil when neither has any). False if nd's proofs do not match its
// records, or overlap the change's of another batch.
func (pb *pending) proofsOf(nd *NodeDelta, first int) ([]*proof.Proof, bool) {
	if len(nd.Proofs) == 0 {
		return nil, true
	}
	taken := nd.Records[first:]
	ps, ok := CutProofs(nd.ID, nd.Proofs, nd.Records, taken)
	if !ok {
		return nil, false
	}
	prev := pb.change(nd.ID)
	if prev == nil {
		prev = &PeerChange{}
	}
	return joinProofs(nd.ID, prev.Proofs, prev.Records, ps, taken)
}

// validDelta checks what a well-behaved sender guarantees: records
// strictly ascending within (From, To], keys within limits.
func (s *State) validDelta(nd *NodeDelta) bool {
	if nd.To < nd.From || len(nd.ID) > s.cfg.Limits.MaxIDBytes || nd.Reset && nd.From != 0 {
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
