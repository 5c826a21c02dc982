package sync

import (
	"cmp"
	"math/rand"
	"slices"
	"sort"
	"strings"
)

// entry is the local view of a node as a digest entry.
func (p *peer) entry() DigestEntry {
	e := DigestEntry{
		ID:         p.meta.ID,
		Alias:      p.meta.Alias,
		Addr:       p.meta.Addr,
		Generation: p.meta.Generation,
		Heartbeat:  p.heartbeat,
		MaxVersion: p.meta.MaxVersion,
		GCVersion:  p.meta.GCVersion,
		Leaving:    p.leaving,
		RecordSeq:  p.recordSeq,
		BeatProof:  p.proof,
	}
	if e.Alias == e.ID {
		e.Alias = ""
	}
	return e
}

// entryOf is p's digest entry, with the local node's proof of its own
// heartbeat when p is the local node.
func (s *State) entryOf(p *peer) DigestEntry {
	e := p.entry()
	if p == s.self && s.prove != nil {
		e.BeatProof = s.prove(e.Heartbeat)
	}
	if s.signedMarks() {
		e.GCVersion = s.shownGC(p)
	}
	return e
}

// sortedPeers lists the nodes in id order, so that every choice made with
// rng is reproducible from the seed. The slice is shared and cached: callers
// must not modify it.
func (s *State) sortedPeers() []*peer {
	if s.sorted == nil {
		out := make([]*peer, 0, len(s.peers))
		for _, p := range s.peers {
			out = append(out, p)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].meta.ID < out[j].meta.ID })
		s.sorted, s.added = out, nil
		s.order++
	}
	if len(s.added) > 0 {
		s.mergeAdded()
	}
	return s.sorted
}

// addPeer registers a node not known before. It joins the cached order at
// the next sortedPeers: a member list names thousands of new nodes at
// once, and inserting each into the order would move it thousands of
// times.
func (s *State) addPeer(p *peer) {
	p.recordSeq = s.recordSeqs[p.meta.ID]
	s.peers[p.meta.ID] = p
	if s.sorted != nil {
		s.added = append(s.added, p)
	}
}

// mergeAdded puts the nodes added since the last sortedPeers in order: a
// few are inserted, many are sorted and merged in one pass.
func (s *State) mergeAdded() {
	byID := func(a, b *peer) int { return strings.Compare(a.meta.ID, b.meta.ID) }
	s.order++
	if len(s.added) <= 4 {
		for _, p := range s.added {
			i, _ := slices.BinarySearchFunc(s.sorted, p, byID)
			s.sorted = slices.Insert(s.sorted, i, p)
		}
		clear(s.added)
		s.added = s.added[:0]
		return
	}
	slices.SortFunc(s.added, byID)
	out := make([]*peer, 0, len(s.sorted)+len(s.added))
	a, b := s.sorted, s.added
	for len(a) > 0 && len(b) > 0 {
		if byID(a[0], b[0]) < 0 {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	out = append(append(out, a...), b...)
	s.sorted, s.added = out, nil
}

// removePeer forgets a node, keeping the cached order and the recent list.
func (s *State) removePeer(p *peer) {
	s.confirm(p) // off the ghost list
	delete(s.peers, p.meta.ID)
	delete(s.genProof, p.meta.ID)
	if i := slices.Index(s.sorted, p); i >= 0 {
		s.sorted = slices.Delete(s.sorted, i, i+1)
		s.order++
	}
	if i := slices.Index(s.added, p); i >= 0 {
		s.added = slices.Delete(s.added, i, i+1)
	}
	if i := slices.IndexFunc(s.recent, func(r recentPeer) bool { return r.p == p }); i >= 0 {
		s.recent = slices.Delete(s.recent, i, i+1)
	}
}

// relevant lists, in id order, the nodes a digest can make a difference
// for: every node when the digest is complete (a node missing from it is
// news to the sender), else only the nodes it lists. With a partial digest
// of a few dozen entries out of a thousand nodes, this spares a scan of
// every node per message.
func (s *State) relevant(theirs map[string]*DigestEntry, complete bool) []*peer {
	if complete {
		return s.sortedPeers()
	}
	out := make([]*peer, 0, len(theirs))
	for id := range theirs {
		if p := s.peers[id]; p != nil {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *peer) int { return strings.Compare(a.meta.ID, b.meta.ID) })
	return out
}

// recentCap bounds State.recent: more than half a datagram's worth of
// entries at the default MTU.
const recentCap = 64

// recentPeer is a node on the recent list, with when (ms of SetTime) its
// data last changed here.
type recentPeer struct {
	p       *peer
	touched uint64
}

// touch moves a peer whose data just changed to the front of recent.
func (s *State) touch(p *peer) {
	i := slices.IndexFunc(s.recent, func(r recentPeer) bool { return r.p == p })
	if i < 0 {
		if len(s.recent) < recentCap {
			s.recent = append(s.recent, recentPeer{})
		}
		i = len(s.recent) - 1
	}
	copy(s.recent[1:i+1], s.recent[:i])
	s.recent[0] = recentPeer{p: p, touched: s.now}
}

// Quiet reports whether the last Syn made listed no node with recent
// news: nothing to spread, so a round may reach fewer peers.
func (s *State) Quiet() bool { return s.quiet }

// SetLoud makes Syns fill their datagram even with QuietDigest set: the
// caller knows of news that is not data (members joining), which full
// digests spread faster.
func (s *State) SetLoud(loud bool) { s.loud = loud }

// MakeSyn opens an exchange. The digest holds the local node first and
// then as many others as fit one datagram; when not all fit, a random
// subset is sent, so that over a few rounds every node is covered while no
// digest outgrows the MTU.
func (s *State) MakeSyn(rng *rand.Rand) *Syn {
	budget := s.cfg.PacketBudget - synHeadSize(s.cfg.Cluster, s.cfg.Self.ID)
	others := s.synOrder()
	d := make([]DigestEntry, 0, min(len(others), synEntriesHint))
	self := s.entryOf(s.self)
	d = append(d, self)
	budget -= entrySize(&self)
	// Half of what is left goes to the nodes whose data changed most
	// recently. A responder only sends deltas of nodes the digest lists,
	// so with a uniform subset of a large cluster a fresh write would ride
	// along on few exchanges and take many rounds to spread; listed first,
	// it spreads epidemically on every exchange (docs/design.md, "Why the
	// core is built this way").
	s.synSeq++
	recentBudget := budget / 2
	s.quiet = true
	marked := 0
	for _, r := range s.recent {
		p := r.p
		if s.cfg.RecentMs > 0 && r.touched+s.cfg.RecentMs < s.now {
			continue // old news: listed only in the random slice
		}
		s.quiet = false
		e := s.entryOf(p)
		if sz := entrySize(&e); sz <= recentBudget {
			d = append(d, e)
			budget -= sz
			recentBudget -= sz
			p.synMark = s.synSeq
			marked++
		}
	}
	if q := s.cfg.QuietDigest; q > 0 && q < budget && !s.loud {
		budget = q
	}
	// The random slice: a shuffle drawn only as far as entries still fit,
	// since shuffling every node for a few dozen entries would cost a pass
	// over the whole cluster per Syn (docs/benchmarks.md, "Why the code is
	// built this way").
	listed, misses := 0, 0
	for i := 0; i < len(others) && budget >= minEntrySize && misses < synMisses; i++ {
		j := i + rng.Intn(len(others)-i)
		others[i], others[j] = others[j], others[i]
		p := others[i]
		if p == s.self || p.synMark == s.synSeq {
			continue
		}
		e := s.entryOf(p)
		if sz := entrySize(&e); sz <= budget {
			d = append(d, e)
			budget -= sz
			listed, misses = listed+1, 0
		} else {
			misses++
		}
	}
	// Complete: every node but this one is listed.
	complete := listed+marked == len(others)-1
	return &Syn{Cluster: s.cfg.Cluster, From: s.cfg.Self.ID, Complete: complete, Digest: d}
}

// synEntriesHint sizes a digest's slice: a datagram holds a few dozen
// entries, and sizing it for every node would allocate per Syn in
// proportion to the cluster (docs/benchmarks.md, "Why the code is built
// this way").
const synEntriesHint = 64

// minEntrySize is the smallest a digest entry can be: once less is left of
// a digest's budget, no further node fits.
var minEntrySize = entrySize(&DigestEntry{})

// synMisses is how many nodes in a row that do not fit end the random
// slice: the budget left is then smaller than most entries, and trying
// every other node for one that fits would make each Syn cost a pass over
// all.
const synMisses = 8

// synOrder is the nodes in some order that MakeSyn shuffles as it draws
// from it: a copy of sortedPeers, kept between calls and refreshed when
// nodes come or go, so that a round costs no pass over every node.
func (s *State) synOrder() []*peer {
	sorted := s.sortedPeers()
	if s.synAt != s.order || len(s.synBuf) != len(sorted) {
		s.synBuf = append(s.synBuf[:0], sorted...)
		s.synAt = s.order
	}
	return s.synBuf
}

// Observed is what a digest taught the node, beyond data.
type Observed struct {
	// Heartbeats lists nodes whose heartbeat rose: evidence they are alive.
	Heartbeats []string
	// New lists nodes heard of for the first time.
	New []string
	// Left lists nodes that announced they are leaving.
	Left []string
	// Forgotten lists ghosts dropped (see ghost.go): known only from
	// digests, they never showed life. The node stops tracking them.
	Forgotten []string
	// Reborn lists nodes whose new generation (a wiped data directory)
	// was just proven: their heartbeat starts over with the new
	// incarnation's, and the old rhythm says nothing about the new one.
	Reborn []string
	// Direct lists the node whose own Beat this was; Released the node
	// that stopped beating to this one (see Beat).
	Direct, Released []string
	// Vouched lists nodes that spoke for themselves, or that a member
	// list's sender holds alive: alive now, without waiting for a second
	// heartbeat of theirs.
	Vouched []string
	// Overruled lists nodes whose own word replaced a heartbeat or leave
	// relayed for them (claims.go): votes at the relayed heartbeat are
	// void. Contradicted is set when the message claimed of the local
	// node what it did not say: the sender is to hear its own word.
	Overruled    []string
	Contradicted bool
	// Outdated is set when the message listed the local node at an older
	// generation than its own: the sender still holds the data of a
	// former, wiped incarnation of this node.
	Outdated bool
}

// observe takes heartbeats, addresses and generations from a digest. A
// newer generation means the node's data was wiped: the reset goes into
// the batch, to be made durable before the old data is forgotten.
func (s *State) observe(from string, d []DigestEntry, pb *pending, obs *Observed) {
	s.refuteHeld(pb)
	s.sweepGhosts(obs)
	for i := range d {
		e := &d[i]
		switch {
		case e.ID == "":
			continue
		case e.ID == s.cfg.Self.ID:
			if !s.signedMarks() || s.tail.wiped {
				// Signed, only records proven under this node's key show
				// its lost tail (watermarks.go); but a wiped store takes
				// every word on its data, to issue no version a peer
				// holds, tombstones collected there included.
				s.noteOwnClaim(e.Generation, e.MaxVersion)
			}
			if e.Generation < s.self.meta.Generation {
				obs.Outdated = true
			}
			switch {
			case e.Generation > s.self.meta.Generation && !s.implausible(e.Generation):
				s.refute(e.Generation, pb) // never adopt it: go above it
			case e.Generation > s.self.meta.Generation:
				s.stats.OwnIDDeltas++ // someone claims to be us; never adopt it
			case e.Generation == s.self.meta.Generation:
				s.refuteClaim(e, obs)
			}
			continue
		case s.implausible(e.Generation) || s.removed.stale(e):
			continue
		}
		p := s.peers[e.ID]
		if p == nil {
			// A ghost until it shows life (see ghost.go): not persisted.
			if p = s.newGhost(PeerMeta{ID: e.ID, Alias: aliasOf(e), Addr: e.Addr, Generation: e.Generation}); p == nil {
				continue
			}
			p.heartbeat, p.leaving, p.proof = e.Heartbeat, e.Leaving, e.BeatProof
			p.anchor(e.Heartbeat, s.now, s.ownEntry(from, e))
			obs.New = append(obs.New, e.ID)
			if !e.Leaving {
				obs.Heartbeats = append(obs.Heartbeats, e.ID)
				s.vouch(from, i, e, p, pb, obs)
			}
			continue
		}
		if p.ghost {
			s.observeGhost(p, e, pb, obs)
			if e.Generation >= p.meta.Generation && !e.Leaving {
				s.vouch(from, i, e, p, pb, obs)
			}
			continue
		}
		if e.Generation < p.meta.Generation || e.Generation < p.reborn {
			continue // news of an earlier life of the node
		}
		if e.Generation > p.meta.Generation {
			if e.Generation == p.reborn {
				// Proven, its reset not committed yet (dropped by a busy
				// engine, to be proven again): the heartbeat is the new
				// incarnation's already.
				s.takeHeartbeat(p, e, obs)
			}
			if !s.proven(p, e, from) {
				continue // wait for the peer itself to say so
			}
			pb.reset(p, e.Generation, 0)
			if e.Addr != "" {
				// Proven from this address (see proven): where the new
				// incarnation lives.
				m := pb.metaOf(p)
				m.Addr = e.Addr
				pb.meta(m)
			}
			// The new incarnation counts its heartbeats from its own boot
			// block (1<<32 for a fresh directory), below the old one's:
			// start over, or it stays suspended until it climbs past the
			// old incarnation's uptime.
			p.reborn, p.heartbeat, p.directHB, p.proof = e.Generation, 0, 0, BeatProof{}
			p.anchor(e.Heartbeat, s.now, true) // proven: the node's own word
			obs.Reborn = append(obs.Reborn, e.ID)
			s.takeHeartbeat(p, e, obs)
			continue
		}
		rose := e.Heartbeat > p.heartbeat
		if s.spoke(from, p) {
			s.takeOwnWord(p, e, obs)
		} else if !s.takeHeartbeat(p, e, obs) {
			continue // beyond what the node's own word allows: nothing of it
		}
		if !e.Leaving {
			s.vouch(from, i, e, p, pb, obs)
		}
		// An address or alias moves only with a newer heartbeat: a node
		// that moved says so with its next beats, and a stale relay of the
		// old address cannot flip it back.
		if rose && (e.Addr != "" && e.Addr != p.meta.Addr || aliasOf(e) != p.meta.Alias) {
			m := pb.metaOf(p)
			m.Addr, m.Alias = cmp.Or(e.Addr, m.Addr), aliasOf(e)
			pb.meta(m)
		}
		if s.plausibleVersion(e.GCVersion) {
			s.learnHorizon(p, e.GCVersion, pb)
		}
		s.noteWatermark(p, e, s.spoke(from, p))
	}
}

// takeHeartbeat records a newer heartbeat, relayed: a sign of life, or of
// a deliberate leave. It reports false for one beyond what the node's own
// word makes plausible (claims.go), which is dropped.
func (s *State) takeHeartbeat(p *peer, e *DigestEntry, obs *Observed) bool {
	if e.Heartbeat <= p.heartbeat {
		return true
	}
	if !s.plausibleBeat(p, e.Heartbeat) {
		return false
	}
	s.raiseHeartbeat(p, e, obs)
	return true
}

// raiseHeartbeat takes a heartbeat above the one held.
func (s *State) raiseHeartbeat(p *peer, e *DigestEntry, obs *Observed) {
	p.heartbeat, p.proof = e.Heartbeat, e.BeatProof
	if e.Leaving {
		if !p.leaving {
			obs.Left = append(obs.Left, e.ID)
		}
		p.leaving = true
		return
	}
	p.leaving = false
	obs.Heartbeats = append(obs.Heartbeats, e.ID)
}

// learnHorizon collects the node's tombstones up to gc once its owner has:
// they delete keys that are absent either way, and holding them for ever
// would grow the state without bound. Only possible once every version up
// to gc is held, or a tombstone not yet received would be missed.
//
// Tombstones arriving in this very batch are still written (a collectable
// tombstone must still overwrite the older value it deletes, durably,
// before the watermark moves past it) and dropped right after. Those
// committed before are not read here: this runs under the driver's lock,
// and a horizon that jumps far would mean reading every record it passes.
// Past the new horizon they are never served (Storage.Scan), and the
// storage deletes them itself: MemRecords as it applies the horizon, the
// Badger store in its index sweep and at boot.
func (s *State) learnHorizon(p *peer, gc uint64, pb *pending) {
	gc = min(gc, s.horizonCap(p)) // signed: no relay moves it (watermarks.go)
	m := pb.metaOf(p)
	if gc <= m.GCVersion || m.MaxVersion < gc {
		return
	}
	c := pb.add(m)
	c.Meta.GCVersion = gc
	last := make(map[string]*Record, len(c.Records))
	for i := range c.Records {
		last[c.Records[i].Key] = &c.Records[i]
	}
	for k, r := range last {
		if r.Tombstone && r.Version <= gc {
			c.Drop = append(c.Drop, k)
		}
	}
	sort.Strings(c.Drop)
}

func aliasOf(e *DigestEntry) string {
	if e.Alias == "" {
		return e.ID
	}
	return e.Alias
}

// replyDigest is the responder's digest in a SynAck: its own entry, the
// entries of nodes the initiator is ahead on (so the Ack brings them), and
// those where the responder has news for the initiator — a newer heartbeat,
// or a node the initiator's complete digest did not list.
func (s *State) replyDigest(in map[string]*DigestEntry, complete bool, budget int, rng *rand.Rand) ([]DigestEntry, int) {
	self := s.entryOf(s.self)
	out := []DigestEntry{self}
	budget -= entrySize(&self)
	var wants, news []DigestEntry
	for _, p := range s.relevant(in, complete) {
		if p == s.self {
			continue
		}
		theirs, known := in[p.meta.ID]
		e := s.entryOf(p)
		switch {
		case !known:
			if complete {
				news = append(news, e)
			}
		case theirs.Generation > e.Generation ||
			theirs.Generation == e.Generation && theirs.MaxVersion > e.MaxVersion:
			wants = append(wants, e)
		case theirs.Generation == e.Generation && e.Heartbeat > theirs.Heartbeat:
			news = append(news, e)
		}
	}
	rng.Shuffle(len(wants), func(i, j int) { wants[i], wants[j] = wants[j], wants[i] })
	rng.Shuffle(len(news), func(i, j int) { news[i], news[j] = news[j], news[i] })
	for _, group := range [][]DigestEntry{wants, news} {
		for i := range group {
			if sz := entrySize(&group[i]); sz <= budget {
				out = append(out, group[i])
				budget -= sz
			}
		}
	}
	return out, budget
}

// index maps a digest by node id; a later duplicate entry is ignored.
func index(d []DigestEntry) map[string]*DigestEntry {
	m := make(map[string]*DigestEntry, len(d))
	for i := range d {
		if _, dup := m[d[i].ID]; !dup {
			m[d[i].ID] = &d[i]
		}
	}
	return m
}
