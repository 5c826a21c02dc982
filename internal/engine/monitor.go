package engine

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Monitoring (Config.Monitors > 0). Heartbeats relayed in digests reach a
// node further apart and more irregularly the larger the cluster (a digest
// lists a few dozen of its nodes), so phi over them both detects late and
// suspects live peers. Instead, as Akka does, live members are placed on a
// ring by a hash of their id, and each node sends a Beat straight to the
// next Monitors members on the ring every heartbeat interval. A monitor
// judges the peer by phi over those regular arrivals, and when it finds it
// silent it votes: a Suspect straight to the peer's other monitors and to
// the peer. A node suspends a peer once a quorum of its monitors voted at
// the newest heartbeat it knows of the peer, and broadcasts those votes
// (flushVotes). A newer heartbeat refutes lone votes; a verdict yields to
// the peer's own word or a heartbeat well above it. A node that sees
// itself suspected beats at once and spreads a refutation. Nodes that are
// not a peer's monitors never suspect it on their own, except by the
// detector's last resort when most of its monitors are down
// (guardLastResort).

// voteSet is what a node knows of the votes against one peer.
type voteSet struct {
	gen, hb uint64
	by      []string // distinct voters at hb
	// refuted: hb is the peer's own word that it is alive; votes at or
	// below it are stale.
	refuted bool
	// majority is when the votes at hb first made a bare majority.
	majority time.Time
	// convicted: these votes made a verdict here, and were broadcast.
	convicted bool
}

// confirmRounds is how long a bare majority of votes must stand,
// unrefuted, before it is a verdict (a full quorum is one at once), as
// Lifeguard shortens a suspicion's timeout with more confirmations: a
// partition in halves still convicts across, while the monitors that
// missed beats together under heavy loss are refuted within it.
const confirmRounds = 10

// lastBeats: a heartbeat relayed this far above a verdict's votes may be
// one of the crashed node's last, missed by all its monitors (each of the
// five misses a beat with the loss rate: at 50 %, all miss the last three
// once in 2^15 crashes); one further above is life.
const lastBeats = 3

// maxVoters bounds a voteSet: a quorum never needs more.
const maxVoters = 16

// maxSpread bounds the votes waiting to be gossiped; the oldest go first.
const maxSpread = 64

// votesPerMessage is how many votes one Suspect message carries.
const votesPerMessage = 16

// spreading is a vote being gossiped, with the sends it has left.
type spreading struct {
	v    lsync.Vote
	left int
}

// maxRevotes: a monitor that keeps learning newer heartbeats of a peer
// that no longer beats to it (its Release was lost) stops monitoring it
// after this many.
const maxRevotes = 3

// ringHash is FNV-1a of the id, computed without allocating: a lookup on
// the ring hashes at every step of its binary search.
func ringHash(id string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= prime
	}
	return h
}

// ringCmp orders members on the ring: by hash, then id.
func ringCmp(a, b string) int {
	if c := cmp.Compare(ringHash(a), ringHash(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// ringPos is the position of id on the ring, and whether it is on it. A
// binary search rather than a map: a map of every member cost each node
// more memory than the ring itself.
func (e *Engine) ringPos(id string) (int, bool) {
	i, found := slices.BinarySearchFunc(e.ring, id, ringCmp)
	return i, found
}

// rebuildRing picks the node's monitors: the next Monitors alive members
// after it on the ring. Monitors dropped since the last pick are sent a
// Release with the next beat. alive is in id order; when it holds the same
// members as last time, the ring and the monitors stand.
func (e *Engine) rebuildRing(alive []string) {
	k := e.cfg.Monitors
	if k <= 0 || (len(e.ring) > 0 && slices.Equal(alive, e.ringIDs)) {
		return
	}
	self := e.cfg.Self.ID
	e.ringIDs = alive // the caller's: not kept twice
	ring := append(append(e.ring[:0], alive...), self)
	slices.SortFunc(ring, ringCmp)
	e.ring = ring
	at, _ := e.ringPos(self)
	next := make([]string, 0, k)
	for i := 1; i < len(ring) && len(next) < k; i++ {
		next = append(next, ring[(at+i)%len(ring)])
	}
	for _, id := range e.monitors {
		if !slices.Contains(next, id) && !slices.ContainsFunc(e.released, func(r release) bool { return r.id == id }) {
			e.released = append(e.released, release{id: id, left: releaseSends})
		}
	}
	// One taken back before its Release went out is not released.
	e.released = slices.DeleteFunc(e.released, func(r release) bool { return slices.Contains(next, r.id) })
	e.monitors = next
}

// guardLastResort allows the detector's last resort (phi over relayed
// heartbeats) only for the alive peers most of whose monitors are down
// here, so that no quorum of votes can form against them (a block of
// consecutive members failing at once), or that this node should monitor
// and gets no beats from. Their monitors are the members after them on a
// ring of every member this node knows, down or up: the ring of those up
// merged with down, those down (known, with an address, not left, not on
// the ring), in id order.
func (e *Engine) guardLastResort(down []string) {
	k := e.cfg.Monitors
	if k <= 0 || len(e.ring) == 0 {
		return
	}
	watched := e.watched()
	guard := func(id string, down int) {
		// A peer that should beat to this node and does not is not
		// watched by its monitors either, as far as this node can tell
		// (a 2-node cluster whose beats do not arrive was never suspected).
		unwatched := slices.Contains(watched, id) && !e.det.Direct(id)
		e.det.SetLastResort(id, down > k/2 || unwatched)
	}
	if len(down) == 0 {
		for _, id := range e.ring {
			if id != e.cfg.Self.ID {
				guard(id, 0)
			}
		}
		return
	}
	down = slices.Clone(down)
	slices.SortFunc(down, ringCmp)
	// all is the merged ring, each member with whether it is up.
	type member struct {
		id string
		up bool
	}
	all := make([]member, 0, len(e.ring)+len(down))
	i, j := 0, 0
	for i < len(e.ring) || j < len(down) {
		if j == len(down) || i < len(e.ring) && ringCmp(e.ring[i], down[j]) < 0 {
			all = append(all, member{e.ring[i], true})
			i++
		} else {
			all = append(all, member{down[j], false})
			j++
		}
	}
	k = min(k, len(all)-1)
	for i, m := range all {
		if m.id == e.cfg.Self.ID || !m.up {
			continue // down already, or never alive
		}
		n := 0
		for j := 1; j <= k; j++ {
			if !all[(i+j)%len(all)].up {
				n++
			}
		}
		guard(m.id, n)
	}
}

// watched lists the peers this node monitors by its own ring: the
// Monitors members before it.
func (e *Engine) watched() []string {
	at, ok := e.ringPos(e.cfg.Self.ID)
	if !ok {
		return nil
	}
	var out []string
	for i := 1; i <= e.cfg.Monitors && i < len(e.ring); i++ {
		out = append(out, e.ring[(at-i+len(e.ring))%len(e.ring)])
	}
	return out
}

// ringSlack: votes count from a peer's next Monitors*ringSlack members on
// this node's ring, since views of the ring differ a little.
const ringSlack = 2

// canVote reports whether by may vote against id: one of the members
// after id on this node's ring, within slack. A node that was a monitor
// once but not since (its Release lost) does not count, or during a long
// cold start, when a node's ring changes round after round, its many
// former monitors, silent for it, would add up to a quorum.
func (e *Engine) canVote(id, by string) bool {
	if by == e.cfg.Self.ID {
		return true
	}
	if e.ts.dirty {
		e.rebuild() // the ring of the members known now
	}
	// Only a committed member on the ring votes: anyone can name an id,
	// and ids heard of only in digests are anyone's to make up.
	bt, onRing := e.ringPos(by)
	if !onRing || !e.state.Member(by) {
		return false
	}
	// A peer off the ring here (suspended already) is judged from where
	// its hash falls.
	at, _ := e.ringPos(id)
	d := (bt - at + len(e.ring)) % len(e.ring)
	return d >= 1 && d <= e.cfg.Monitors*ringSlack
}

// watches reports whether this node is one of the peer's monitors on its
// own ring: one of the next Monitors members after the peer. A former
// monitor whose Release was lost still holds the peer's beats direct and
// finds it silent; it must not vote (its vote, with two others like it,
// made a bare majority against live nodes at N = 300 and 50 % loss).
// Unknown positions count as watching.
func (e *Engine) watches(id string) bool {
	at, ok := e.ringPos(id)
	self, ok2 := e.ringPos(e.cfg.Self.ID)
	if !ok || !ok2 || len(e.ring) == 0 {
		return true
	}
	d := (self - at + len(e.ring)) % len(e.ring)
	return d >= 1 && d <= e.cfg.Monitors
}

// voters counts the votes of a set that come from where a peer's
// monitors can be.
func (e *Engine) voters(id string, vs *voteSet) int {
	n := 0
	for _, by := range vs.by {
		if e.canVote(id, by) {
			n++
		}
	}
	return n
}

// Monitors lists the peers this node beats to.
func (e *Engine) Monitors() []string {
	if e.ts.dirty {
		e.rebuild()
	}
	return slices.Clone(e.monitors)
}

// Beat advances the local heartbeat and, with monitoring, sends it to the
// node's monitors (and a Release to those it no longer beats to). After
// Leave it does nothing.
func (e *Engine) Beat(now time.Time) Ready {
	var rd Ready
	if e.leaving {
		return rd
	}
	if e.refuteDue != 0 && e.refuteDue >= e.refutedAt {
		e.refute(e.refuteDue, &rd, now)
	}
	hb := e.state.Beat()
	e.hello(&rd)
	if e.cfg.Monitors <= 0 {
		return rd
	}
	if e.ts.dirty {
		e.rebuild()
	}
	e.beatTo(&rd, hb)
	return rd
}

func (e *Engine) beatTo(rd *Ready, hb uint64) {
	self := e.state.Self()
	beat := &lsync.Beat{Cluster: e.cfg.Cluster, From: self.ID, Generation: self.Generation, Heartbeat: hb}
	for _, id := range e.monitors {
		if p, ok := e.state.Peer(id); ok && p.Addr != "" {
			rd.Send = append(rd.Send, Outgoing{To: p.Addr, Msg: beat})
		}
	}
	if len(e.released) > 0 {
		rel := &lsync.Beat{Cluster: e.cfg.Cluster, From: self.ID, Generation: self.Generation, Heartbeat: hb, Release: true}
		for i := range e.released {
			r := &e.released[i]
			if p, ok := e.state.Peer(r.id); ok && p.Addr != "" {
				rd.Send = append(rd.Send, Outgoing{To: p.Addr, Msg: rel})
			}
			r.left--
		}
		e.released = slices.DeleteFunc(e.released, func(r release) bool { return r.left <= 0 })
	}
}

// release is a former monitor to be sent a Release, with the sends left.
type release struct {
	id   string
	left int
}

// releaseSends is how many beats carry each Release. A Release is one
// datagram: at 50 % loss one in two was lost, and the former monitor,
// never beaten to again, voted against a live node (three such votes
// made a bare majority at N = 300 in the cold start). Five leave one in
// 32 lost, and those are caught by watches.
const releaseSends = 5

// noteDirect feeds the detector the beats peers sent this node directly,
// and re-votes or gives up on peers voted against whose heartbeat rose
// without a beat here. from is the message's source address, sender the
// node it says it is from.
func (e *Engine) noteDirect(obs *lsync.Observed, from, sender string, now time.Time) {
	if e.cfg.Monitors <= 0 {
		return
	}
	for _, id := range obs.Released {
		e.det.Indirect(id)
		delete(e.silent, id)
	}
	for _, id := range obs.Direct {
		e.det.DirectBeat(id, now)
		e.expectationMet(id, true)
		delete(e.silent, id)
	}
	if id := sender; id != "" && !slices.Contains(obs.Heartbeats, id) {
		// The peer's own message, its heartbeat already relayed here.
		if vs := e.votes[id]; vs != nil && e.hbOf(id) > vs.hb && e.det.Verdict(id) {
			if p, _ := e.state.Peer(id); p.Addr == from {
				delete(e.votes, id)
				e.det.SetVerdict(id, false)
			}
		}
	}
	for _, id := range obs.Heartbeats {
		direct := slices.Contains(obs.Direct, id)
		if vs := e.votes[id]; vs != nil {
			p, ok := e.state.Peer(id)
			switch {
			case !ok || p.Heartbeat <= vs.hb:
			case e.det.Verdict(id) && !direct && p.Addr != from && p.Heartbeat <= vs.hb+lastBeats:
				// A verdict stands against a heartbeat relayed by others
				// just above its votes: a crashed node's last heartbeats,
				// which its monitors missed, reach some nodes after the
				// verdict, and undid it there until the monitors voted
				// again (39 suspicions and recoveries of one crash at
				// N = 100, 50 % loss). A live node refutes in its own word
				// (its beat, its own message, its refutation: takeVote),
				// or its heartbeat goes on rising past lastBeats.
			default:
				delete(e.votes, id) // refuted
				e.det.SetVerdict(id, false)
			}
		}
		if !direct && e.expectationMet(id, false) {
			continue // alive elsewhere: not this node's to judge
		}
		if n, voted := e.silent[id]; voted && !direct {
			// Still silent here, yet alive elsewhere or its last beat
			// reached others: vote again at the newer heartbeat, a few
			// times, then take it that it stopped beating here.
			if n >= maxRevotes {
				e.det.Indirect(id)
				delete(e.silent, id)
				continue
			}
			e.silent[id] = n + 1
			e.castVote(id, now)
		}
	}
}

// castVote votes against a peer this node monitors and finds silent.
func (e *Engine) castVote(id string, now time.Time) {
	p, ok := e.state.Peer(id)
	if !ok {
		return
	}
	e.ownVote(lsync.Vote{ID: id, Generation: p.Generation, Heartbeat: p.Heartbeat, By: e.cfg.Self.ID}, now)
}

// ownVote counts this node's vote and sends it, with the next Ready, to
// the peer's other monitors and to the peer itself (which refutes it if
// alive). A lone vote is not news for the cluster: under 50 % loss some
// monitor of some peer misses eight beats in a row every few seconds at
// N = 1000, and gossiping each such vote (and its refutation) to every
// node kept rounds loud and cost most of the idle traffic. Only votes
// that make a verdict are broadcast (see judge).
func (e *Engine) ownVote(v lsync.Vote, now time.Time) {
	e.takeVote(v, nil, now)
	if !slices.Contains(e.outVotes, v) {
		e.outVotes = append(e.outVotes, v)
	}
}

// quorum is how many of a peer's monitors must vote to suspend it at
// once — all but one of the monitors it can have in a cluster of this
// size (4 of 5, 2 of 3, 1 of 2 in a 3-node cluster) — and the bare majority
// that suspends it after confirmRounds. With a bare majority at once (3
// of 5), three monitors that missed beats together convicted live nodes
// under heavy loss (N = 100, 50 % loss: 19 false suspicions in the cold
// start, none with 4 of 5).
func (e *Engine) quorum() (full, majority int) {
	k := min(e.cfg.Monitors, max(1, len(e.ts.live)))
	majority = k/2 + 1
	full = e.cfg.Quorum
	if full <= 0 {
		full = max(1, k-1)
	}
	return max(1, min(full, k)), max(1, min(majority, k))
}

// judge sets the verdict on a peer from its votes at now.
func (e *Engine) judge(id string, vs *voteSet, now time.Time) {
	if vs.refuted {
		return
	}
	full, majority := e.quorum()
	switch n := e.voters(id, vs); {
	case n >= full:
		e.convict(id, vs)
	case n >= majority:
		if vs.majority.IsZero() {
			vs.majority = now
		}
		if now.Sub(vs.majority) >= confirmRounds*e.cfg.Gossip {
			e.convict(id, vs)
		}
	}
}

// convict sets the verdict and, the first time these votes make one
// here, has them broadcast.
func (e *Engine) convict(id string, vs *voteSet) {
	e.det.SetVerdict(id, true)
	if !vs.convicted {
		vs.convicted = true
		e.verdicts = append(e.verdicts, id)
	}
}

// takeVote takes one vote, counting it and passing it on if it is news.
// rd receives the beats of a refutation when the vote is against this
// node (nil: none can be against it).
func (e *Engine) takeVote(v lsync.Vote, rd *Ready, now time.Time) {
	self := e.state.Self()
	if v.ID == self.ID {
		if v.By == self.ID || rd == nil || v.Generation != self.Generation || v.Heartbeat < e.refutedAt {
			return // our own refutation, or a vote an earlier one answered
		}
		e.refute(v.Heartbeat, rd, now)
		return
	}
	p, ok := e.state.Peer(v.ID)
	if ok && !e.state.PlausibleBeat(v.ID, v.Heartbeat) {
		// Beyond what the peer's own word allows: a vote or refutation at
		// a heartbeat it never reached would stand above every later beat
		// of its own.
		e.implausibleVotes++
		return
	}
	// A refutation newer than the votes counts even where relayed
	// heartbeats passed it: they do not undo a verdict (noteDirect). A
	// vote counts up to lastBeats below the heartbeat known here, for the
	// same reason: a crashed node's last Syn carries a heartbeat none of
	// its monitors may have had in a beat, and the few nodes it reached
	// refused the verdict until the monitors learnt it by gossip and
	// voted again (the last of 100 nodes after 19.6 s at 50 % loss).
	stale := v.Heartbeat+lastBeats < p.Heartbeat
	if v.By == v.ID {
		stale = v.Heartbeat < p.Heartbeat && e.votes[v.ID] == nil
	}
	if !ok || p.Generation != v.Generation || stale {
		return // unknown, another life of the peer, or refuted already
	}
	if _, known := e.state.Peer(v.By); !known && v.By != self.ID {
		return // a voter nobody knows cannot make up a quorum
	}
	vs := e.votes[v.ID]
	if v.By == v.ID {
		// The peer's own word that it is alive at v.Heartbeat.
		if vs != nil && (v.Heartbeat < vs.hb || v.Heartbeat == vs.hb && vs.refuted) {
			return
		}
		e.votes[v.ID] = &voteSet{gen: v.Generation, hb: v.Heartbeat, refuted: true}
		e.det.SetVerdict(v.ID, false)
		e.det.Heartbeat(v.ID, now)
		if vs != nil && !vs.refuted && vs.convicted {
			// It clears a verdict: pass it on as far as the verdict went.
			// Elsewhere it is kept, so that the verdict's votes, should
			// they come later, are stale on arrival.
			e.queue(v)
		}
		return
	}
	switch {
	case vs == nil || v.Heartbeat > vs.hb:
		vs = &voteSet{gen: v.Generation, hb: v.Heartbeat, by: []string{v.By}}
		e.votes[v.ID] = vs
	case v.Heartbeat == vs.hb && !vs.refuted && !slices.Contains(vs.by, v.By) && len(vs.by) < maxVoters:
		vs.by = append(vs.by, v.By)
	default:
		return // nothing new
	}
	if vs.convicted {
		e.queue(v) // a late vote of a verdict already broadcast
	}
	e.judge(v.ID, vs, now)
	if _, silent := e.silent[v.ID]; silent && v.By != self.ID && !slices.Contains(vs.by, self.ID) {
		// Another monitor heard a later beat than this one did, and has
		// heard nothing since either: this one has heard nothing since
		// its own last beat, so it agrees at that heartbeat. Under loss
		// monitors' last beats differ, and votes split over heartbeats
		// would never make a majority.
		e.ownVote(lsync.Vote{ID: v.ID, Generation: v.Generation, Heartbeat: v.Heartbeat, By: self.ID}, now)
	}
}

// refute answers a vote against this node at heartbeat hb: it beats above
// it at once, to its monitors and in a refutation that spreads like a
// vote. One refutation per refuteGap: a stream of votes otherwise sends a
// stream of beats. A vote inside the gap is answered at the next beat
// (Beat), never dropped.
func (e *Engine) refute(hb uint64, rd *Ready, now time.Time) {
	if !e.refutedTime.IsZero() && now.Sub(e.refutedTime) < refuteGap {
		e.refuteDue = max(e.refuteDue, hb)
		return
	}
	self := e.state.Self()
	beat := e.state.BeatAbove(hb)
	e.refutedAt, e.refutedTime, e.refuteDue = beat, now, 0
	e.beatTo(rd, beat)
	e.queue(lsync.Vote{ID: self.ID, Generation: self.Generation, Heartbeat: beat, By: self.ID})
	e.refutations++
}

// refuteGap spaces refutations out: a tenth of the shortest heartbeat
// interval a node takes, far below any suspicion's timeout.
const refuteGap = 100 * time.Millisecond

// flushVotes adds to rd this node's own votes, sent straight to the
// peer's other monitors and to the peer, and the verdicts formed here
// since the last Ready: all their votes in one Suspect, sent at once to
// verdictFanout live members and queued for gossip. Each node that the
// broadcast convinces broadcasts in turn, so a verdict spreads at the
// speed of the network rather than one hop per round (at N = 1000 and
// 50 % loss, a round per hop took detection from about 9 s to 20 s).
func (e *Engine) flushVotes(rd *Ready) {
	if len(e.outVotes) > 0 {
		by := make(map[string][]lsync.Vote)
		var order []string
		for _, v := range e.outVotes {
			for _, addr := range e.voteTargets(v.ID) {
				if _, ok := by[addr]; !ok {
					order = append(order, addr)
				}
				by[addr] = append(by[addr], v)
			}
		}
		for _, addr := range order {
			vs := by[addr]
			for len(vs) > 0 {
				n := min(len(vs), votesPerMessage)
				rd.Send = append(rd.Send, Outgoing{To: addr, Msg: &lsync.Suspect{Cluster: e.cfg.Cluster, From: e.cfg.Self.ID, Votes: vs[:n]}})
				vs = vs[n:]
			}
		}
		e.outVotes = e.outVotes[:0]
	}
	slices.Sort(e.verdicts) // formed in map order by recount
	for _, id := range e.verdicts {
		vs := e.votes[id]
		if vs == nil || vs.refuted || !vs.convicted {
			continue
		}
		m := &lsync.Suspect{Cluster: e.cfg.Cluster, From: e.cfg.Self.ID}
		for _, by := range vs.by {
			v := lsync.Vote{ID: id, Generation: vs.gen, Heartbeat: vs.hb, By: by}
			m.Votes = append(m.Votes, v)
			e.queue(v)
		}
		for _, addr := range e.sample(verdictFanout) {
			rd.Send = append(rd.Send, Outgoing{To: addr, Msg: m})
		}
	}
	e.verdicts = e.verdicts[:0]
}

// verdictFanout is how many live members a node that reaches a verdict
// tells at once. Each of them that it convinces tells as many, so at
// 50 % loss each node passes a verdict to about 3 new ones; the round
// gossip of the queued votes reaches the few the broadcast missed.
const verdictFanout = 6

// voteTargets are the addresses an own vote against id goes to: id's
// monitors on this node's ring but this node, and id itself.
func (e *Engine) voteTargets(id string) []string {
	var out []string
	add := func(m string) {
		if m == e.cfg.Self.ID {
			return
		}
		if p, ok := e.state.Peer(m); ok && p.Addr != "" && !slices.Contains(out, p.Addr) {
			out = append(out, p.Addr)
		}
	}
	add(id)
	// From where id's hash falls on the ring: a peer suspended here is
	// off the ring, yet its monitors must still hear this node's votes
	// at a later heartbeat (else a verdict formed at an earlier one, and
	// undone elsewhere by the later one, was never formed again: two
	// nodes of 100 never suspected a crash at 50 % loss).
	at, _ := e.ringPos(id)
	n := 0
	for i := 0; i < len(e.ring) && n < e.cfg.Monitors; i++ {
		if m := e.ring[(at+i)%len(e.ring)]; m != id {
			add(m)
			n++
		}
	}
	return out
}

// sample picks up to k distinct live members' addresses at random.
func (e *Engine) sample(k int) []string {
	live := e.ts.live
	if len(live) <= k {
		return slices.Clone(live)
	}
	out := make([]string, 0, k)
	for _, i := range e.rng.Perm(len(live))[:k] {
		out = append(out, live[i])
	}
	return out
}

// queue puts a vote up for gossip: enough sends to reach the cluster with
// high probability, as memberlist retransmits its broadcasts.
func (e *Engine) queue(v lsync.Vote) {
	n := len(e.ts.live) + 2
	sends := 3 * int(math.Ceil(math.Log2(float64(n))))
	if len(e.spread) >= maxSpread {
		e.spread = slices.Delete(e.spread, 0, 1)
	}
	e.spread = append(e.spread, spreading{v: v, left: sends})
}

// suspectMsg is the votes to send to n targets, newest first, or nil.
func (e *Engine) suspectMsg(n int) *lsync.Suspect {
	if len(e.spread) == 0 || n == 0 {
		return nil
	}
	m := &lsync.Suspect{Cluster: e.cfg.Cluster, From: e.cfg.Self.ID}
	for i := len(e.spread) - 1; i >= 0 && len(m.Votes) < votesPerMessage; i-- {
		m.Votes = append(m.Votes, e.spread[i].v)
		e.spread[i].left -= n
	}
	e.spread = slices.DeleteFunc(e.spread, func(s spreading) bool { return s.left <= 0 })
	return m
}

// stepSuspect takes the votes of a Suspect message.
func (e *Engine) stepSuspect(m *lsync.Suspect, rd *Ready, now time.Time) {
	if m.Cluster != e.cfg.Cluster || e.cfg.Monitors <= 0 {
		return
	}
	for _, v := range m.Votes {
		e.takeVote(v, rd, now)
	}
}

// recount runs before each health check. A quorum shrinks with the live
// count (a partition takes monitors away), so vote sets are judged again;
// and a monitor whose vote has not yet made a verdict here sends it again,
// so that a vote lost on the way (or sent across a partition) is not lost
// for good.
func (e *Engine) recount(now time.Time) {
	if e.cfg.Monitors <= 0 {
		return
	}
	for id, vs := range e.votes {
		e.judge(id, vs, now)
	}
	self := e.cfg.Self.ID
	// In order, so that a simulation's seed fixes the messages sent.
	for _, id := range slices.Sorted(maps.Keys(e.silent)) {
		if vs := e.votes[id]; vs != nil && vs.convicted {
			continue // its verdict stands here
		}
		if !e.watches(id) {
			// The ring moved on since the vote (a member joined between).
			e.det.Indirect(id)
			delete(e.silent, id)
			continue
		}
		// Re-sent every check while silent and the votes at the newest
		// heartbeat have not made a verdict here: a vote is one datagram
		// to each other monitor, and at 50 % loss a quorum of four needs
		// its votes sent more than once. That includes a monitor that
		// convicted at an older heartbeat and agreed to a later one
		// (another monitor got the crashed node's last beat): sent once,
		// such votes were lost and six nodes of 100 waited 14 s for the
		// crash at 50 % loss.
		if vs := e.votes[id]; vs != nil && !vs.refuted && vs.hb >= e.hbOf(id) && slices.Contains(vs.by, self) {
			e.ownVote(lsync.Vote{ID: id, Generation: vs.gen, Heartbeat: vs.hb, By: self}, now)
			continue
		}
		e.castVote(id, now)
	}
}

func (e *Engine) hbOf(id string) uint64 {
	p, _ := e.state.Peer(id)
	return p.Heartbeat
}

// forgetVotes drops what is held about a peer that is gone.
func (e *Engine) forgetVotes(id string) {
	delete(e.votes, id)
	delete(e.silent, id)
	delete(e.expecting, id)
	delete(e.unexpected, id)
}

// ImplausibleVotes counts the votes dropped for a heartbeat beyond what
// the peer's own word allows.
func (e *Engine) ImplausibleVotes() uint64 { return e.implausibleVotes }

// Refutations counts the times this node found itself suspected and
// refuted it.
func (e *Engine) Refutations() uint64 { return e.refutations }

// Votes reports the votes held against a peer: the heartbeat they are at
// and the voters (for status pages and tests).
func (e *Engine) Votes(id string) (hb uint64, by []string) {
	if vs := e.votes[id]; vs != nil {
		return vs.hb, slices.Clone(vs.by)
	}
	return 0, nil
}
