package health

import (
	"maps"
	"math"
	"slices"
	"time"
)

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

// LastBeats: a heartbeat relayed this far above a verdict's votes may be
// one of the crashed node's last, missed by all its monitors (each of the
// five misses a beat with the loss rate: at 50 %, all miss the last three
// once in 2^15 crashes); one further above is life.
const LastBeats = 3

// maxVoters bounds a voteSet: a quorum never needs more.
const maxVoters = 16

// maxSpread bounds the votes waiting to be gossiped; the oldest go first.
const maxSpread = 64

// votesPerMessage is how many votes one Suspect message carries.
const votesPerMessage = 16

// spreading is a vote being gossiped, with the sends it has left.
type spreading struct {
	v    Vote
	left int
}

// voters counts the votes of a set that come from where a peer's
// monitors can be.
func (m *Monitor) voters(id string, vs *voteSet) int {
	n := 0
	for _, by := range vs.by {
		if m.canVote(id, by) {
			n++
		}
	}
	return n
}

// castVote votes against a peer this node monitors and finds silent.
func (m *Monitor) castVote(id string, now time.Time) {
	p, ok := m.c.Peer(id)
	if !ok {
		return
	}
	m.ownVote(Vote{ID: id, Generation: p.Generation, Heartbeat: p.Heartbeat, By: m.cfg.Self}, now)
}

// ownVote counts this node's vote and sends it, with the next Flush, to
// the peer's other monitors and to the peer itself (which refutes it if
// alive). A lone vote is not news for the cluster: under heavy loss, at
// any time some monitor of some peer in a large cluster misses a run of
// beats, and gossiping each such vote (and its refutation) to every node
// would keep rounds loud and make up most of the idle traffic
// (docs/failure-detection.md, "Why the detector is built this way"). Only
// votes that make a verdict are broadcast (see judge).
func (m *Monitor) ownVote(v Vote, now time.Time) {
	m.takeVote(v, false, now)
	if !slices.Contains(m.outVotes, v) {
		m.outVotes = append(m.outVotes, v)
	}
}

// quorum is how many of a peer's monitors must vote to suspend it at
// once — all but one of the monitors it can have in a cluster of this
// size (4 of 5, 2 of 3, 1 of 2 in a 3-node cluster) — and the bare majority
// that suspends it after confirmRounds. With a bare majority at once (3
// of 5), three monitors that miss beats together under heavy loss convict
// a live node (docs/failure-detection.md, "Why the detector is built this
// way").
func (m *Monitor) quorum() (full, majority int) {
	k := min(m.cfg.Monitors, max(1, len(m.live)))
	majority = k/2 + 1
	full = m.cfg.Quorum
	if full <= 0 {
		full = max(1, k-1)
	}
	return max(1, min(full, k)), max(1, min(majority, k))
}

// judge sets the verdict on a peer from its votes at now.
func (m *Monitor) judge(id string, vs *voteSet, now time.Time) {
	if vs.refuted {
		return
	}
	full, majority := m.quorum()
	switch n := m.voters(id, vs); {
	case n >= full:
		m.convict(id, vs)
	case n >= majority:
		if vs.majority.IsZero() {
			vs.majority = now
		}
		if now.Sub(vs.majority) >= confirmRounds*m.cfg.Gossip {
			m.convict(id, vs)
		}
	}
}

// convict sets the verdict and, the first time these votes make one
// here, has them broadcast.
func (m *Monitor) convict(id string, vs *voteSet) {
	m.det.setVerdict(id, true)
	if !vs.convicted {
		vs.convicted = true
		m.verdicts = append(m.verdicts, id)
	}
}

// TakeVotes takes the votes of a Suspect message. It returns the beats of
// a refutation when one is against this node; the votes it passes on go
// out with the next Flush.
func (m *Monitor) TakeVotes(votes []Vote, now time.Time) []Message {
	if m.cfg.Monitors <= 0 {
		return nil
	}
	for _, v := range votes {
		m.takeVote(v, true, now)
	}
	return m.take()
}

// takeVote takes one vote, counting it and passing it on if it is news.
// canRefute: the vote came from another node, so one against this node
// is answered with a refutation (none of this node's own can be against
// it).
func (m *Monitor) takeVote(v Vote, canRefute bool, now time.Time) {
	self := m.cfg.Self
	if v.ID == self {
		if v.By == self || !canRefute || v.Generation != m.c.Generation() || v.Heartbeat < m.refutedAt {
			return // our own refutation, or a vote an earlier one answered
		}
		m.refute(v.Heartbeat, now)
		return
	}
	p, ok := m.c.Peer(v.ID)
	if ok && !m.c.PlausibleBeat(v.ID, v.Heartbeat) {
		// Beyond what the peer's own word allows: a vote or refutation at
		// a heartbeat it never reached would stand above every later beat
		// of its own.
		m.implausibleVotes++
		return
	}
	// A refutation newer than the votes counts even where relayed
	// heartbeats passed it: they do not undo a verdict (Observe). A
	// vote counts up to LastBeats below the heartbeat known here, for the
	// same reason: a crashed node's last Syn carries a heartbeat none of
	// its monitors may have had in a beat, and the few nodes it reached
	// would refuse the verdict until the monitors learnt it by gossip and
	// voted again, late (docs/failure-detection.md, "Why the detector is
	// built this way").
	stale := v.Heartbeat+LastBeats < p.Heartbeat
	if v.By == v.ID {
		stale = v.Heartbeat < p.Heartbeat && m.votes[v.ID] == nil
	}
	if !ok || p.Generation != v.Generation || stale {
		return // unknown, another life of the peer, or refuted already
	}
	if _, known := m.c.Peer(v.By); !known && v.By != self {
		return // a voter nobody knows cannot make up a quorum
	}
	vs := m.votes[v.ID]
	if v.By == v.ID {
		// The peer's own word that it is alive at v.Heartbeat.
		if vs != nil && (v.Heartbeat < vs.hb || v.Heartbeat == vs.hb && vs.refuted) {
			return
		}
		m.votes[v.ID] = &voteSet{gen: v.Generation, hb: v.Heartbeat, refuted: true}
		m.det.setVerdict(v.ID, false)
		m.det.Heartbeat(v.ID, now)
		if vs != nil && !vs.refuted && vs.convicted {
			// It clears a verdict: pass it on as far as the verdict went.
			// Elsewhere it is kept, so that the verdict's votes, should
			// they come later, are stale on arrival.
			m.queue(v)
		}
		return
	}
	switch {
	case vs == nil || v.Heartbeat > vs.hb:
		vs = &voteSet{gen: v.Generation, hb: v.Heartbeat, by: []string{v.By}}
		m.votes[v.ID] = vs
	case v.Heartbeat == vs.hb && !vs.refuted && !slices.Contains(vs.by, v.By) && len(vs.by) < maxVoters:
		vs.by = append(vs.by, v.By)
	default:
		return // nothing new
	}
	if vs.convicted {
		m.queue(v) // a late vote of a verdict already broadcast
	}
	m.judge(v.ID, vs, now)
	if _, silent := m.silent[v.ID]; silent && v.By != self && !slices.Contains(vs.by, self) {
		// Another monitor heard a later beat than this one did, and has
		// heard nothing since either: this one has heard nothing since
		// its own last beat, so it agrees at that heartbeat. Under loss
		// monitors' last beats differ, and votes split over heartbeats
		// would never make a majority.
		m.ownVote(Vote{ID: v.ID, Generation: v.Generation, Heartbeat: v.Heartbeat, By: self}, now)
	}
}

// Overruled voids the votes against a peer whose own word overruled the
// heartbeat they are at (the replication core found it so).
func (m *Monitor) Overruled(id string) {
	if vs := m.votes[id]; vs != nil && !vs.refuted {
		delete(m.votes, id)
		m.det.setVerdict(id, false)
	}
}

// RefuteDue answers, before this node's next regular beat, a vote against
// it that came inside refuteGap of the last refutation, and returns the
// refutation's beats.
func (m *Monitor) RefuteDue(now time.Time) []Message {
	if m.refuteDue != 0 && m.refuteDue >= m.refutedAt {
		m.refute(m.refuteDue, now)
	}
	return m.take()
}

// refute answers a vote against this node at heartbeat hb: it beats above
// it at once, to its monitors and in a refutation that spreads like a
// vote. One refutation per refuteGap: a stream of votes otherwise sends a
// stream of beats. A vote inside the gap is answered at the next beat
// (RefuteDue), never dropped.
func (m *Monitor) refute(hb uint64, now time.Time) {
	if !m.refutedTime.IsZero() && now.Sub(m.refutedTime) < RefuteGap {
		m.refuteDue = max(m.refuteDue, hb)
		return
	}
	beat := m.c.BeatAbove(hb)
	m.refutedAt, m.refutedTime, m.refuteDue = beat, now, 0
	m.beatTo(beat)
	m.queue(Vote{ID: m.cfg.Self, Generation: m.c.Generation(), Heartbeat: beat, By: m.cfg.Self})
	m.refutations++
}

// RefuteGap spaces refutations out: a tenth of the shortest heartbeat
// interval a node takes, far below any suspicion's timeout.
const RefuteGap = 100 * time.Millisecond

// Flush returns this node's own votes, sent straight to the peer's other
// monitors and to the peer, and the verdicts formed here since the last
// Flush: all their votes in one Suspect, sent at once to verdictFanout
// live members and queued for gossip. Each node that the broadcast
// convinces broadcasts in turn, so a verdict spreads at the speed of the
// network rather than one hop per round, which would add a round per hop
// to detection (docs/failure-detection.md, "Why the detector is built
// this way").
func (m *Monitor) Flush() []Message {
	if len(m.outVotes) > 0 {
		by := make(map[string][]Vote)
		var order []string
		for _, v := range m.outVotes {
			for _, addr := range m.voteTargets(v.ID) {
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
				m.send(Message{Kind: Suspect, To: []string{addr}, Votes: vs[:n]})
				vs = vs[n:]
			}
		}
		m.outVotes = m.outVotes[:0]
	}
	slices.Sort(m.verdicts) // formed in map order by recount
	for _, id := range m.verdicts {
		vs := m.votes[id]
		if vs == nil || vs.refuted || !vs.convicted {
			continue
		}
		msg := Message{Kind: Suspect}
		for _, by := range vs.by {
			v := Vote{ID: id, Generation: vs.gen, Heartbeat: vs.hb, By: by}
			msg.Votes = append(msg.Votes, v)
			m.queue(v)
		}
		msg.To = m.sample(verdictFanout)
		m.send(msg)
	}
	m.verdicts = m.verdicts[:0]
	return m.take()
}

// verdictFanout is how many live members a node that reaches a verdict
// tells at once. Each of them that it convinces tells as many, so at
// 50 % loss each node passes a verdict to about 3 new ones; the round
// gossip of the queued votes reaches the few the broadcast missed.
const verdictFanout = 6

// voteTargets are the addresses an own vote against id goes to: id's
// monitors on this node's ring but this node, and id itself.
func (m *Monitor) voteTargets(id string) []string {
	var out []string
	add := func(mb string) {
		if mb == m.cfg.Self {
			return
		}
		if p, ok := m.c.Peer(mb); ok && p.Addr != "" && !slices.Contains(out, p.Addr) {
			out = append(out, p.Addr)
		}
	}
	add(id)
	// From where id's hash falls on the ring: a peer suspended here is
	// off the ring, yet its monitors must still hear this node's votes
	// at a later heartbeat (else a verdict formed at an earlier one, and
	// undone elsewhere by the later one, is never formed again, and some
	// nodes never suspect the crash: docs/failure-detection.md, "Why the
	// detector is built this way").
	at, _ := m.ringPos(id)
	n := 0
	for i := 0; i < len(m.ring) && n < m.cfg.Monitors; i++ {
		if mb := m.ring[(at+i)%len(m.ring)]; mb != id {
			add(mb)
			n++
		}
	}
	return out
}

// sample picks up to k distinct live members' addresses at random.
func (m *Monitor) sample(k int) []string {
	live := m.live
	if len(live) <= k {
		return slices.Clone(live)
	}
	out := make([]string, 0, k)
	for _, i := range m.cfg.Rand.Perm(len(live))[:k] {
		out = append(out, live[i])
	}
	return out
}

// queue puts a vote up for gossip: enough sends to reach the cluster with
// high probability, as memberlist retransmits its broadcasts.
func (m *Monitor) queue(v Vote) {
	n := len(m.live) + 2
	sends := 3 * int(math.Ceil(math.Log2(float64(n))))
	if len(m.spread) >= maxSpread {
		m.spread = slices.Delete(m.spread, 0, 1)
	}
	m.spread = append(m.spread, spreading{v: v, left: sends})
}

// Spreading reports whether votes wait to be gossiped: a round that
// carries them is not a quiet one.
func (m *Monitor) Spreading() bool { return len(m.spread) > 0 }

// Gossip returns the votes to send to n targets of a round or exchange,
// newest first, or nil.
func (m *Monitor) Gossip(n int) []Vote {
	if len(m.spread) == 0 || n == 0 {
		return nil
	}
	var votes []Vote
	for i := len(m.spread) - 1; i >= 0 && len(votes) < votesPerMessage; i-- {
		votes = append(votes, m.spread[i].v)
		m.spread[i].left -= n
	}
	m.spread = slices.DeleteFunc(m.spread, func(s spreading) bool { return s.left <= 0 })
	return votes
}

// recount runs before each health check. A quorum shrinks with the live
// count (a partition takes monitors away), so vote sets are judged again;
// and a monitor whose vote has not yet made a verdict here sends it again,
// so that a vote lost on the way (or sent across a partition) is not lost
// for good.
func (m *Monitor) recount(now time.Time) {
	if m.cfg.Monitors <= 0 {
		return
	}
	for id, vs := range m.votes {
		m.judge(id, vs, now)
	}
	self := m.cfg.Self
	// In order, so that a simulation's seed fixes the messages sent.
	for _, id := range slices.Sorted(maps.Keys(m.silent)) {
		if vs := m.votes[id]; vs != nil && vs.convicted {
			continue // its verdict stands here
		}
		if !m.watches(id) {
			// The ring moved on since the vote (a member joined between).
			m.det.indirect(id)
			delete(m.silent, id)
			continue
		}
		// Re-sent every check while silent and the votes at the newest
		// heartbeat have not made a verdict here: a vote is one datagram
		// to each other monitor, and at 50 % loss a quorum of four needs
		// its votes sent more than once. That includes a monitor that
		// convicted at an older heartbeat and agreed to a later one
		// (another monitor got the crashed node's last beat): sent once,
		// such votes are lost and the nodes that missed them wait long for
		// the crash (docs/failure-detection.md, "Why the detector is built
		// this way").
		if vs := m.votes[id]; vs != nil && !vs.refuted && vs.hb >= m.hbOf(id) && slices.Contains(vs.by, self) {
			m.ownVote(Vote{ID: id, Generation: vs.gen, Heartbeat: vs.hb, By: self}, now)
			continue
		}
		m.castVote(id, now)
	}
}
