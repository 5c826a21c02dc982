package sync

import (
	"errors"
	"sort"
)

// ErrRecovering is returned by Writable while the local node may still be
// missing the tail of its own writes: a restart after a power loss with
// unsynced writes can lose the newest records locally while peers hold
// them. Writing then would either reuse versions peers already hold (they
// would ignore the new writes for ever) or advertise a watermark above
// records the node does not serve (peers that lack them would skip them
// for ever). The condition clears within a gossip round or two; retry.
var ErrRecovering = errors.New("sync: recovering the tail of this node's own writes from peers")

// maxClaimAhead bounds how far above the local watermark a peer's word
// about the local node's own data is believed: a lost tail is what Badger
// had not synced, seconds of writes, while a forged claim near 2^64 would
// exhaust the version space.
const maxClaimAhead = 1 << 40

// ownTail tracks the recovery of the local node's own records after a
// restart that may have lost some (see ExpectLostTail; after any other
// start none of this applies and own records from peers are rejected).
// The rule:
//
//   - Until this run's first local write, a peer's delta of the local node
//     at its generation, gap-free from the local watermark, is taken back
//     like any peer's delta: the store lost it, the peer kept it. Only
//     records above the local watermark are taken, so only missing ones.
//     After the first write the local watermark is authoritative again and
//     such deltas are rejected (OwnIDDeltas).
//   - A peer's digest entry or delta showing the local node's watermark
//     above the local one (same generation, at most maxClaimAhead above) is
//     a claim. VersionFloor stays at or above every claim, so a version a
//     peer holds is never issued again.
//   - Writable refuses local writes while a claim is unmet, and after a
//     possibly lossy boot until a peer has answered an exchange with
//     nothing more to send, each for at most the wait given to
//     ExpectLostTail: the advertised watermark thus stays a gap-free prefix
//     of what the node serves. Past the wait (no peer reachable, or a claim
//     nobody backs with records) writes resume above the floor; a claimed
//     tail not taken back by then is lost.
type ownTail struct {
	expected bool   // ExpectLostTail was called: nothing of this applies otherwise
	wrote    bool   // this run has issued a local write
	claim    uint64 // highest own watermark a peer showed
	claimAt  uint64 // ms (SetTime) when claim was last raised, or records last came back
	awaiting bool   // after a possibly lossy boot, no peer has answered yet
	since    uint64 // ms when awaiting began, or records last came back
	waitMs   uint64 // how long either condition may hold writes back
	// wiped is set by ExpectWipedData: the whole of the node's data is
	// the tail (see there).
	wiped   bool
	startMs uint64 // ms of ExpectWipedData
	capMs   uint64 // how long, from startMs, records coming back extend the wait
}

// ExpectLostTail tells the core that the store may have lost the newest of
// the node's own writes (it was not synced on every write, the node has
// peers that may hold them). Local writes wait, for at most waitMs from
// nowMs, until a peer has answered an exchange; see ownTail.
func (s *State) ExpectLostTail(nowMs, waitMs uint64) {
	s.tail.expected, s.tail.awaiting, s.tail.since, s.tail.waitMs = true, true, nowMs, waitMs
	if s.now < nowMs {
		s.now = nowMs
	}
}

// ExpectWipedData tells the core that the store holds none of the node's
// data at its generation, or only what came back before a restart: its
// data directory was wiped and it came back under its identity (with
// signed records, the key that proves them).
// Everything peers hold of it is then a lost tail, taken back as
// ExpectLostTail says, with three differences that a whole data set
// needs: a peer's refill from its current state (a reset delta, sent when
// the peer collected tombstones above the local watermark) is taken; the
// wait after boot ends only at a complete answer once some peer has shown
// that it holds the node's data, so a peer that never knew it cannot end
// it; and each delta taken back restarts the wait, for at most capMs from
// nowMs, so a large data set is not cut off by a wait sized for a tail.
func (s *State) ExpectWipedData(nowMs, waitMs, capMs uint64) {
	s.ExpectLostTail(nowMs, waitMs)
	s.tail.wiped, s.tail.startMs, s.tail.capMs = true, nowMs, capMs
}

// tookBack notes own records taken back: progress that, for a wiped
// store, holds writes back a while longer.
func (t *ownTail) tookBack(now uint64) {
	if t.wiped && now-t.startMs <= t.capMs {
		t.since, t.claimAt = max(t.since, now), max(t.claimAt, now)
	}
}

// VersionFloor is the version local writes must be issued above: the
// local watermark, or a higher one a peer showed for this node (a lost
// tail, or a forged watermark the next write must pass: claims.go).
func (s *State) VersionFloor() uint64 {
	// The horizon too: a wiped store refilled from a peer's current state
	// may hold its collected versions only as that horizon.
	return max(s.self.meta.MaxVersion, s.self.meta.GCVersion, s.tail.claim, s.claimFloor)
}

// Writable reports whether local writes may be issued now (ErrRecovering
// if not; see ownTail). Call SetTime first.
func (s *State) Writable() error {
	t := &s.tail
	if t.wrote {
		return nil
	}
	if t.awaiting && s.now-t.since > t.waitMs {
		t.awaiting = false
	}
	if t.awaiting {
		return ErrRecovering
	}
	if t.claim > s.self.meta.MaxVersion && s.now-t.claimAt <= t.waitMs {
		return ErrRecovering
	}
	return nil
}

// noteOwnClaim records a peer's word that it holds the local node's data
// up to maxVersion at generation gen.
func (s *State) noteOwnClaim(gen, maxVersion uint64) {
	m := s.self.meta
	if !s.tail.expected || s.tail.wrote || gen != m.Generation || maxVersion <= max(m.MaxVersion, s.tail.claim) ||
		maxVersion-m.MaxVersion > maxClaimAhead {
		return
	}
	s.tail.claim, s.tail.claimAt = maxVersion, s.now
}

// confirmTail ends the wait after boot: a peer answered an exchange and
// had nothing more for us, so whatever it held of ours came with it.
// A wiped store waits for an answer from a peer that showed it holds
// the node's data (a claim): any other has nothing of it to send.
func (s *State) confirmTail() {
	if !s.tail.wiped || s.tail.claim > 0 {
		s.tail.awaiting = false
	}
}

// prepareOwnDelta takes back the local node's records from a peer's delta,
// when the rule of ownTail allows it; otherwise it counts the delta as a
// claim to be us.
func (s *State) prepareOwnDelta(nd *NodeDelta, pb *pending) {
	meta := pb.metaOf(s.self)
	if nd.Generation > meta.Generation && !s.implausible(nd.Generation) {
		s.refute(nd.Generation, pb)
		return
	}
	if !s.tail.expected || s.tail.wrote || nd.Generation != meta.Generation || nd.Reset && !s.tail.wiped ||
		nd.To > meta.MaxVersion && nd.To-meta.MaxVersion > maxClaimAhead {
		s.stats.OwnIDDeltas++
		if nd.Generation == meta.Generation && nd.To > s.claimFloor && s.plausibleVersion(nd.To) {
			// A watermark above this node's own, held somewhere: its next
			// write goes above it, or that holder would ignore it.
			s.claimFloor = nd.To
		}
		return
	}
	s.noteOwnClaim(nd.Generation, nd.To)
	if nd.Reset && nd.GCVersion > max(meta.MaxVersion, meta.GCVersion) && nd.GCVersion-meta.MaxVersion <= maxClaimAhead &&
		s.plausibleVersion(nd.GCVersion) {
		// A peer collected tombstones above the local watermark: its
		// current state from version 0, as prepareDelta takes it of a
		// peer, replaces what came back so far. A refill that shows no
		// horizon above ours (a signed one is shown only as far as this
		// node's record states it) is a delta from version 0.
		pb.reset(s.self, meta.Generation, nd.GCVersion)
		meta = pb.metaOf(s.self)
	}
	switch {
	case nd.From > meta.MaxVersion:
		s.stats.GapDeltas++
		return
	case nd.To <= meta.MaxVersion:
		return // nothing missing
	case nd.Clean < meta.GCVersion:
		s.stats.UncleanDeltas++
		return
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
	s.stats.OwnRecovered += uint64(len(nd.Records) - first)
	s.tail.tookBack(s.now)
	s.learnHorizon(s.self, nd.GCVersion, pb)
}

// refuteWindowMs is the least time, on the core's clock, between two
// generation refutations. Each one makes every peer drop and refill the
// node's data, so a peer repeating ever newer claims (a forger, or two
// nodes sharing an id) must not turn this node into a refill storm.
const refuteWindowMs = 1000

// refuteLimit holds the last refutation's time and the claim held back
// since, if any: a claim inside the window is refuted once it has passed,
// at the next message, never dropped (the claim stays true of the peer
// that made it, which ignores this node until it is refuted).
type refuteLimit struct {
	done bool   // a refutation was issued
	at   uint64 // ms (SetTime) of the last one
	held uint64 // highest generation claimed since, to refute after the window; 0: none
}

// open reports whether a refutation may be issued at now. A clock that
// went back opens the window: waiting for it to catch up could hold a
// refutation for as long as the jump.
func (l *refuteLimit) open(now uint64) bool {
	return !l.done || now < l.at || now-l.at >= refuteWindowMs
}

// refute answers a peer's word that the local node runs at generation
// seen, newer than its own: a node wiped while its clock was behind its
// old creation time would otherwise come back older than what peers hold
// and be ignored for ever. As SWIM does with incarnations, it takes a
// generation above: max(now, seen+1), so peers drop what they hold and
// refill from it. Its data was not wiped, so the change relabels it
// (PeerChange.Relabel): the stored records count as the new generation's,
// nothing is read or rewritten here. At most one refutation is issued per
// refuteWindowMs; a claim inside the window waits (refuteHeld).
func (s *State) refute(seen uint64, pb *pending) {
	m := pb.metaOf(s.self)
	gen := max(s.now, seen+1)
	if seen < m.Generation || gen <= m.Generation {
		return
	}
	if !s.refutes.open(s.now) {
		s.refutes.held = max(s.refutes.held, seen)
		return
	}
	s.refutes.done, s.refutes.at, s.refutes.held = true, s.now, 0
	m.Generation = gen
	c := pb.add(m)
	// The stored records are those the core committed; records this step
	// added above them (a recovered tail) are written at gen.
	c.Relabel = s.self.meta.Generation
	s.stats.Refutations++
}

// refuteHeld refutes the claim held back by the window once the window
// has passed; every handler that can refute calls it first, so the claim
// is answered by the first message after the window.
func (s *State) refuteHeld(pb *pending) {
	if s.refutes.held == 0 || !s.refutes.open(s.now) {
		return
	}
	seen := s.refutes.held
	s.refutes.held = 0
	s.refute(seen, pb)
}
