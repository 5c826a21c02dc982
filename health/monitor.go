package health

import (
	"cmp"
	"math/rand"
	"slices"
	"strings"
	"time"
)

// Monitoring (MonitorConfig.Monitors > 0). Heartbeats relayed in digests
// reach a node further apart and more irregularly the larger the cluster
// (a digest lists a few dozen of its nodes), so phi over them both detects
// late and suspects live peers. Instead, as Akka does, live members are
// placed on a ring by a hash of their id, and each node sends a Beat
// straight to the next Monitors members on the ring every heartbeat
// interval. A monitor judges the peer by phi over those regular arrivals,
// and when it finds it silent it votes: a Suspect straight to the peer's
// other monitors and to the peer. A node suspends a peer once a quorum of
// its monitors voted at the newest heartbeat it knows of the peer, and
// broadcasts those votes (Flush). A newer heartbeat refutes lone votes; a
// verdict yields to the peer's own word or a heartbeat well above it. A
// node that sees itself suspected beats at once and spreads a refutation.
// Nodes that are not a peer's monitors never suspect it on their own,
// except by the detector's last resort when most of its monitors are down
// (guardLastResort).

// Monitor is the monitoring protocol of one node: the ring of members and
// this node's monitors, the Releases owed to former ones, the votes known
// against each peer, quorums and verdicts, the gossip of votes, re-votes,
// expected beats and refutations. It drives its Detector, which judges
// each peer by phi, through knobs only it turns (verdicts, direct beats,
// the last resort).
//
// It is a type of its own beside the Detector rather than part of it: the
// Detector is safe for concurrent use and read by status pages while the
// node runs, whereas the Monitor's state changes with every message and is
// owned by one caller (the engine) under its lock, like the replication
// core it reads from. Folding the two together would put the protocol's
// maps under the Detector's mutex, or leave half a type unsafe.
//
// Inputs are observations (Observe, TakeVotes, SetMembers, Silent) and
// time; outputs are Messages for the caller to send, and the Detector's
// state changes, reported by Check. What it needs of the replication core
// comes through Cluster. A Monitor is not safe for concurrent use.
type Monitor struct {
	cfg MonitorConfig
	det *Detector
	c   Cluster

	// The peers this node beats to, the ring, those to release at the
	// next beat, the votes known per peer, the votes being gossiped, and
	// the peers this node voted against in their current silence (with
	// the re-votes cast).
	monitors []string
	ring     []string // members in ring order, self included
	ringIDs  []string // the members of ring but self, in id order
	live     []string // addresses of alive peers (SetMembers)
	released []release
	votes    map[string]*voteSet
	spread   []spreading
	outVotes []Vote   // own votes for the next Flush
	verdicts []string // verdicts formed since, to broadcast
	silent   map[string]int
	// expecting: peers voted against by checkExpected (never beat here);
	// unexpected: such peers found alive elsewhere, not judged again
	// until they beat here (expect.go).
	expecting, unexpected map[string]bool
	refutations           uint64
	refutedAt             uint64    // heartbeat of the last refutation
	refutedTime           time.Time // when it was sent
	refuteDue             uint64    // a vote's heartbeat to refute at the next beat
	implausibleVotes      uint64    // votes above the known heartbeat, dropped

	out []Message // to hand out with the current call's result
}

// MonitorConfig describes the local node to its Monitor.
type MonitorConfig struct {
	Self string // this node's id
	// Monitors is how many peers each node beats to directly; 0 turns
	// monitoring off: no ring, beats or votes, and Check is the
	// Detector's alone. Left and Returned work either way.
	// Quorum is how many of a peer's monitors must vote to suspend it at
	// once; 0 means all but one.
	Monitors int
	Quorum   int
	// Gossip is the round interval: a bare majority of votes stands for
	// confirmRounds of them before it is a verdict.
	Gossip time.Duration
	// Rand picks the members a verdict is broadcast to. The caller's own,
	// shared, so that one seed fixes every choice of a simulated node.
	Rand *rand.Rand
}

// Cluster is what a Monitor reads of the replication core, and the one
// thing it changes there (BeatAbove). The engine implements it.
type Cluster interface {
	// Peer returns what is known of a peer, and false if nothing is.
	Peer(id string) (PeerView, bool)
	// Member reports whether the peer is a committed member (it spoke
	// for itself), not an id heard of in digests only.
	Member(id string) bool
	// PlausibleBeat reports whether the peer can have reached heartbeat
	// hb, by its own word.
	PlausibleBeat(id string, hb uint64) bool
	// Generation is this node's generation.
	Generation() uint64
	// BeatAbove raises this node's heartbeat above hb (by at least one)
	// and returns it: the heartbeat of a refutation.
	BeatAbove(hb uint64) uint64
	// Refresh brings the ring up to date, by calling SetMembers, if
	// membership or health changed since the last call.
	Refresh()
}

// PeerView is what the replication core knows of a peer.
type PeerView struct {
	Addr       string
	Generation uint64
	Heartbeat  uint64 // the newest known
}

// Vote says that By, a monitor of node ID, has heard nothing from it
// directly for long enough to suspect it, and that the highest heartbeat
// of ID it knew was Heartbeat. A vote by ID about itself (By == ID) is a
// refutation: ID's own word that it is alive at Heartbeat.
type Vote struct {
	ID         string
	Generation uint64
	Heartbeat  uint64
	By         string
}

// Kind is what a Message is.
type Kind uint8

// Kinds of Message.
const (
	Beat    Kind = iota + 1 // this node's heartbeat, to its monitors
	Release                 // a beat telling a former monitor it is one no longer
	Suspect                 // votes
)

// Message is one message for the caller to send, the same to every
// address in To.
type Message struct {
	Kind      Kind
	To        []string
	Heartbeat uint64 // Beat and Release
	Votes     []Vote // Suspect
}

// NewMonitor returns the Monitor of the node cfg.Self, driving det; det
// must have been made with Config.Monitored when cfg.Monitors > 0.
func NewMonitor(cfg MonitorConfig, det *Detector, c Cluster) *Monitor {
	return &Monitor{cfg: cfg, det: det, c: c,
		votes: make(map[string]*voteSet), silent: make(map[string]int),
		expecting: make(map[string]bool), unexpected: make(map[string]bool)}
}

// take hands out the messages the current call produced.
func (m *Monitor) take() []Message {
	out := m.out
	m.out = nil
	return out
}

// send adds a message to the current call's result, if it has anyone to
// go to.
func (m *Monitor) send(msg Message) {
	if len(msg.To) > 0 {
		m.out = append(m.out, msg)
	}
}

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
// binary search rather than a map: a map of every member would cost each
// node more memory than the ring itself.
func (m *Monitor) ringPos(id string) (int, bool) {
	i, found := slices.BinarySearchFunc(m.ring, id, ringCmp)
	return i, found
}

// SetMembers tells the monitor who is where: alive are the members up
// here (alive or joining), in id order; down those known, with an
// address, that are not (not left, not on the ring); live the addresses
// of the alive ones. It picks this node's monitors again and allows or
// forbids the detector's last resort for each peer. The slices are kept
// until the next call.
func (m *Monitor) SetMembers(alive, down, live []string) {
	m.live = live
	m.rebuildRing(alive)
	m.guardLastResort(down)
}

// rebuildRing picks the node's monitors: the next Monitors alive members
// after it on the ring. Monitors dropped since the last pick are sent a
// Release with the next beat. alive is in id order; when it holds the same
// members as last time, the ring and the monitors stand.
func (m *Monitor) rebuildRing(alive []string) {
	k := m.cfg.Monitors
	if k <= 0 || (len(m.ring) > 0 && slices.Equal(alive, m.ringIDs)) {
		return
	}
	self := m.cfg.Self
	m.ringIDs = alive // the caller's: not kept twice
	ring := append(append(m.ring[:0], alive...), self)
	slices.SortFunc(ring, ringCmp)
	m.ring = ring
	at, _ := m.ringPos(self)
	next := make([]string, 0, k)
	for i := 1; i < len(ring) && len(next) < k; i++ {
		next = append(next, ring[(at+i)%len(ring)])
	}
	for _, id := range m.monitors {
		if !slices.Contains(next, id) && !slices.ContainsFunc(m.released, func(r release) bool { return r.id == id }) {
			m.released = append(m.released, release{id: id, left: releaseSends})
		}
	}
	// One taken back before its Release went out is not released.
	m.released = slices.DeleteFunc(m.released, func(r release) bool { return slices.Contains(next, r.id) })
	m.monitors = next
}

// guardLastResort allows the detector's last resort (phi over relayed
// heartbeats) only for the alive peers most of whose monitors are down
// here, so that no quorum of votes can form against them (a block of
// consecutive members failing at once), or that this node should monitor
// and gets no beats from. Their monitors are the members after them on a
// ring of every member this node knows, down or up: the ring of those up
// merged with down, those down (known, with an address, not left, not on
// the ring), in id order.
func (m *Monitor) guardLastResort(down []string) {
	k := m.cfg.Monitors
	if k <= 0 || len(m.ring) == 0 {
		return
	}
	watched := m.watched()
	guard := func(id string, down int) {
		// A peer that should beat to this node and does not is not
		// watched by its monitors either, as far as this node can tell
		// (else a 2-node cluster whose beats do not arrive is never
		// suspected).
		unwatched := slices.Contains(watched, id) && !m.det.direct(id)
		m.det.setLastResort(id, down > k/2 || unwatched)
	}
	if len(down) == 0 {
		for _, id := range m.ring {
			if id != m.cfg.Self {
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
	all := make([]member, 0, len(m.ring)+len(down))
	i, j := 0, 0
	for i < len(m.ring) || j < len(down) {
		if j == len(down) || i < len(m.ring) && ringCmp(m.ring[i], down[j]) < 0 {
			all = append(all, member{m.ring[i], true})
			i++
		} else {
			all = append(all, member{down[j], false})
			j++
		}
	}
	k = min(k, len(all)-1)
	for i, mb := range all {
		if mb.id == m.cfg.Self || !mb.up {
			continue // down already, or never alive
		}
		n := 0
		for j := 1; j <= k; j++ {
			if !all[(i+j)%len(all)].up {
				n++
			}
		}
		guard(mb.id, n)
	}
}

// watched lists the peers this node monitors by its own ring: the
// Monitors members before it.
func (m *Monitor) watched() []string {
	at, ok := m.ringPos(m.cfg.Self)
	if !ok {
		return nil
	}
	var out []string
	for i := 1; i <= m.cfg.Monitors && i < len(m.ring); i++ {
		out = append(out, m.ring[(at-i+len(m.ring))%len(m.ring)])
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
func (m *Monitor) canVote(id, by string) bool {
	if by == m.cfg.Self {
		return true
	}
	m.c.Refresh() // the ring of the members known now
	// Only a committed member on the ring votes: anyone can name an id,
	// and ids heard of only in digests are anyone's to make up.
	bt, onRing := m.ringPos(by)
	if !onRing || !m.c.Member(by) {
		return false
	}
	// A peer off the ring here (suspended already) is judged from where
	// its hash falls.
	at, _ := m.ringPos(id)
	d := (bt - at + len(m.ring)) % len(m.ring)
	return d >= 1 && d <= m.cfg.Monitors*ringSlack
}

// CanVote reports whether a vote by by against id counts here: by is
// one of id's monitors as this node places them (canVote). A caller that
// checks votes before they reach the monitor refuses the others.
func (m *Monitor) CanVote(id, by string) bool { return m.canVote(id, by) }

// watches reports whether this node is one of the peer's monitors on its
// own ring: one of the next Monitors members after the peer. A former
// monitor whose Release was lost still holds the peer's beats direct and
// finds it silent; it must not vote: its vote, with two others like it,
// makes a bare majority against a live node (docs/failure-detection.md,
// "Why the detector is built this way"). Unknown positions count as
// watching.
func (m *Monitor) watches(id string) bool {
	at, ok := m.ringPos(id)
	self, ok2 := m.ringPos(m.cfg.Self)
	if !ok || !ok2 || len(m.ring) == 0 {
		return true
	}
	d := (self - at + len(m.ring)) % len(m.ring)
	return d >= 1 && d <= m.cfg.Monitors
}

// Monitors lists the peers this node beats to, as of the last SetMembers.
func (m *Monitor) Monitors() []string {
	return slices.Clone(m.monitors)
}

// Beat returns the beats of this node's heartbeat hb to its monitors, and
// the Releases to those it no longer beats to.
func (m *Monitor) Beat(hb uint64) []Message {
	m.beatTo(hb)
	return m.take()
}

func (m *Monitor) beatTo(hb uint64) {
	beat := Message{Kind: Beat, Heartbeat: hb}
	for _, id := range m.monitors {
		if p, ok := m.c.Peer(id); ok && p.Addr != "" {
			beat.To = append(beat.To, p.Addr)
		}
	}
	m.send(beat)
	if len(m.released) > 0 {
		rel := Message{Kind: Release, Heartbeat: hb}
		for i := range m.released {
			r := &m.released[i]
			if p, ok := m.c.Peer(r.id); ok && p.Addr != "" {
				rel.To = append(rel.To, p.Addr)
			}
			r.left--
		}
		m.send(rel)
		m.released = slices.DeleteFunc(m.released, func(r release) bool { return r.left <= 0 })
	}
}

// release is a former monitor to be sent a Release, with the sends left.
type release struct {
	id   string
	left int
}

// releaseSends is how many beats carry each Release. A Release is one
// datagram, lost with the loss rate, and a former monitor that misses it,
// never beaten to again, votes against a live node; a few such votes make
// a bare majority (docs/failure-detection.md, "Why the detector is built
// this way"). At 50 % loss five sends leave one in 32 lost, and those are
// caught by watches.
const releaseSends = 5

// Observation is what one message taught about peers' liveness.
type Observation struct {
	// From is the message's source address, Sender the node it says it
	// is from ("" if none).
	From, Sender string
	// Heartbeats lists the peers whose heartbeat rose; Direct the peer
	// whose own Beat this was; Released the peer that released this node
	// from monitoring it.
	Heartbeats, Direct, Released []string
}

// Observe feeds the detector the beats peers sent this node directly,
// and re-votes or gives up on peers voted against whose heartbeat rose
// without a beat here. The caller has fed the detector every heartbeat
// rise (Detector.Heartbeat) first. Re-votes go out with the next Flush.
func (m *Monitor) Observe(o Observation, now time.Time) {
	if m.cfg.Monitors <= 0 {
		return
	}
	for _, id := range o.Released {
		m.det.indirect(id)
		delete(m.silent, id)
	}
	for _, id := range o.Direct {
		m.det.directBeat(id, now)
		m.expectationMet(id, true)
		delete(m.silent, id)
	}
	if id := o.Sender; id != "" && !slices.Contains(o.Heartbeats, id) {
		// The peer's own message, its heartbeat already relayed here.
		if vs := m.votes[id]; vs != nil && m.hbOf(id) > vs.hb && m.det.verdict(id) {
			if p, _ := m.c.Peer(id); p.Addr == o.From {
				delete(m.votes, id)
				m.det.setVerdict(id, false)
			}
		}
	}
	for _, id := range o.Heartbeats {
		direct := slices.Contains(o.Direct, id)
		if vs := m.votes[id]; vs != nil {
			p, ok := m.c.Peer(id)
			switch {
			case !ok || p.Heartbeat <= vs.hb:
			case m.det.verdict(id) && !direct && p.Addr != o.From && p.Heartbeat <= vs.hb+LastBeats:
				// A verdict stands against a heartbeat relayed by others
				// just above its votes: a crashed node's last heartbeats,
				// which its monitors missed, reach some nodes after the
				// verdict, and would undo it there until the monitors
				// voted again, so one crash would flap between suspected
				// and recovered (docs/failure-detection.md, "Why the
				// detector is built this way"). A live node refutes in its
				// own word (its beat, its own message, its refutation:
				// takeVote), or its heartbeat goes on rising past LastBeats.
			default:
				delete(m.votes, id) // refuted
				m.det.setVerdict(id, false)
			}
		}
		if !direct && m.expectationMet(id, false) {
			continue // alive elsewhere: not this node's to judge
		}
		if n, voted := m.silent[id]; voted && !direct {
			// Still silent here, yet alive elsewhere or its last beat
			// reached others: vote again at the newer heartbeat, a few
			// times, then take it that it stopped beating here.
			if n >= maxRevotes {
				m.det.indirect(id)
				delete(m.silent, id)
				continue
			}
			m.silent[id] = n + 1
			m.castVote(id, now)
		}
	}
}

// maxRevotes: a monitor that keeps learning newer heartbeats of a peer
// that no longer beats to it (its Release was lost) stops monitoring it
// after this many.
const maxRevotes = 3

// Check runs the monitor's own checks and then the detector's, and
// reports the detector's: vote sets are judged again, votes not yet made
// a verdict are sent again (with the next Flush), and peers that should
// beat here and never did are judged by their relayed heartbeats. The
// caller passes the report's Silent peers (those it still cares about) to
// Silent.
func (m *Monitor) Check(now time.Time) Report {
	m.recount(now)
	m.checkExpected(now)
	return m.det.Check(now)
}

// Silent takes the peers a Check reported Silent. A peer that beats to
// this node went silent: vote at the next check if it still is, and if
// this node is one of its monitors. Waiting one check lets beats held up
// by a stall of this node (shorter than PauseGuard) arrive first: votes
// reach the other monitors at once, and a stall shared by all of them (an
// overloaded host running many nodes) would make quorums against live
// peers (docs/failure-detection.md, "Why the detector is built this way").
func (m *Monitor) Silent(ids []string) {
	for _, id := range ids {
		if !m.watches(id) {
			m.det.indirect(id)
			continue
		}
		m.silent[id] = 0
	}
}

// Left takes down at once a peer that announced its leave, as a verdict
// does, where only verdicts and long silence would take a peer down
// (monitored mode).
func (m *Monitor) Left(id string) { m.det.setVerdict(id, true) }

// Returned lifts the verdict on a peer that left and is heard from
// again: its leave no longer holds.
func (m *Monitor) Returned(id string) { m.det.setVerdict(id, false) }

// Forget drops what is held about a peer that is gone.
func (m *Monitor) Forget(id string) {
	delete(m.votes, id)
	delete(m.silent, id)
	delete(m.expecting, id)
	delete(m.unexpected, id)
}

// Verdict reports whether a verdict (or a leave) holds the peer down, for
// status pages and tests.
func (m *Monitor) Verdict(id string) bool { return m.det.verdict(id) }

// Direct reports whether the peer beats to this node directly, for status
// pages and tests.
func (m *Monitor) Direct(id string) bool { return m.det.direct(id) }

// ImplausibleVotes counts the votes dropped for a heartbeat beyond what
// the peer's own word allows.
func (m *Monitor) ImplausibleVotes() uint64 { return m.implausibleVotes }

// Refutations counts the times this node found itself suspected and
// refuted it.
func (m *Monitor) Refutations() uint64 { return m.refutations }

// Votes reports the votes held against a peer: the heartbeat they are at
// and the voters (for status pages and tests).
func (m *Monitor) Votes(id string) (hb uint64, by []string) {
	if vs := m.votes[id]; vs != nil {
		return vs.hb, slices.Clone(vs.by)
	}
	return 0, nil
}

func (m *Monitor) hbOf(id string) uint64 {
	p, _ := m.c.Peer(id)
	return p.Heartbeat
}
