package sync

// Claims. Scuttlebutt relays what each node says of itself, so any message
// can carry words about a third node: its heartbeat, whether it leaves,
// where it lives, how far its data goes. Without per-origin signatures a
// relayed word cannot be checked, only bounded. The rules:
//
//   - A heartbeat relayed for node P is taken only up to what P's own word
//     makes plausible: the last heartbeat P said itself (its own entry in a
//     message from its address), or the first one heard of P, plus one beat
//     per claimBeatMs since then and claimBeatSlack. A restart moves P to the
//     next 2^32 boot block, whose count starts over: one block up is
//     plausible within the same allowance, further needs P's own word.
//   - P's own word is believed over relays: a heartbeat from P itself below
//     the one held here means the held one was forged, and it is replaced,
//     with the leave flag P gives.
//   - A watermark or horizon relayed for P is taken only up to
//     versionCeiling: far beyond any version a counter reaches and at most
//     what an HLC stamps ten minutes from now, so no claim can exhaust the
//     version space.
//   - A claim about this node that it did not make is refuted: a heartbeat
//     above its own, a leave, another address. It beats above the claim
//     (within selfClimbCap and the climb budget, which refills with time, so
//     that no stream of claims can use up the heartbeat space) and answers
//     the sender, whose held word it overrides by speaking for itself. A
//     watermark claimed above its own raises the version floor, so its
//     next write lands above what peers hold.
const (
	// claimBeatMs is the fastest a node's heartbeat is believed to rise
	// when relayed: ten times the shortest heartbeat interval the node
	// accepts in its config, so that refutation beats fit as well.
	claimBeatMs = 10
	// claimBeatSlack covers beats the sender heard before this node did.
	claimBeatSlack = 64
	// versionAheadMs is how far ahead of this node's clock an HLC version
	// (unix ms << 16) may lie.
	versionAheadMs = 10 * 60_000
	// selfClimbCap bounds one refutation's climb, and the climb budget:
	// a claim further above the node's own heartbeat was taken by no node
	// that heard the node within the last ten minutes.
	selfClimbCap = 60_000
	// signedClimbCap replaces selfClimbCap when peers take heartbeats
	// only with their proofs (SetBeatProver). A heartbeat of this node
	// above its own is then one no peer took, so climbing above it buys
	// nothing, and every beat climbed would use up one of the heartbeat
	// chain's values: at selfClimbCap a stream of forged claims would
	// burn a chain of 2^20 in hours. One beat still lets a refutation of
	// a vote at the node's own heartbeat go above it.
	signedClimbCap = 1
)

// word is what a node has said of itself, as far as this node heard it.
type word struct {
	hb, at uint64 // heartbeat, and when (ms of SetTime); at 0: none yet
	direct bool   // hb came from the node itself, not from a relay
}

// spoke reports whether e, listed in a message from node from, is the
// node's own word: its own entry, from the address held for it.
func (s *State) spoke(from string, p *peer) bool {
	return from == p.meta.ID && s.src != "" && s.src == p.meta.Addr
}

// ownEntry reports whether e, listed in a message from node from, is that
// node's own entry, from the address it names: a node's word for itself
// before this node holds an address for it (spoke, once it does).
func (s *State) ownEntry(from string, e *DigestEntry) bool {
	return from == e.ID && s.src != "" && s.src == e.Addr
}

// plausibleBeat reports whether heartbeat h, relayed for p, is within what
// p's own word allows. A node never heard before is anchored at its first
// claim.
func (s *State) plausibleBeat(p *peer, h uint64) bool {
	if s.now == 0 {
		return true // no clock given: nothing to bound by
	}
	w := &p.word
	if w.at == 0 {
		w.hb, w.at = h, s.now
		return true
	}
	allow := uint64(claimBeatSlack)
	if s.now > w.at {
		allow += (s.now - w.at) / claimBeatMs
	}
	const block = 32
	ok := false
	switch hb, base := h>>block, w.hb>>block; {
	case hb == base:
		ok = h <= w.hb+allow
	case hb == base+1:
		ok = h&(1<<block-1) <= allow
	case hb < base:
		ok = true // below the anchor: no news, never harmful
	}
	if !ok {
		s.stats.ImplausibleClaims++
	}
	return ok
}

// PlausibleBeat reports whether heartbeat hb, claimed of node id by a
// message that is not id's own (a vote against it), is within what id's
// own word allows; false for an unknown node.
func (s *State) PlausibleBeat(id string, hb uint64) bool {
	p := s.peers[id]
	if p == nil {
		return false
	}
	return hb <= p.heartbeat || s.plausibleBeat(p, hb)
}

// anchor records p's own word, or a first claim heard of p.
func (p *peer) anchor(hb, now uint64, direct bool) {
	p.word = word{hb: hb, at: now, direct: direct}
}

// versionCeiling is the highest watermark or horizon believed of any node
// (0: no bound, without a clock).
func (s *State) versionCeiling() uint64 {
	if s.now == 0 {
		return 0
	}
	return (s.now + versionAheadMs) << 16
}

// plausibleVersion reports whether a relayed watermark or horizon v is
// below versionCeiling.
func (s *State) plausibleVersion(v uint64) bool {
	if c := s.versionCeiling(); c != 0 && v > c {
		s.stats.ImplausibleClaims++
		return false
	}
	return true
}

// takeOwnWord takes p's own digest entry, in a message from p: believed
// over whatever relays said, within its generation.
func (s *State) takeOwnWord(p *peer, e *DigestEntry, obs *Observed) {
	if p.word.direct && e.Heartbeat < p.word.hb {
		return // older than its last own word: a reordered message
	}
	p.anchor(e.Heartbeat, s.now, true)
	if e.Heartbeat > p.heartbeat {
		s.raiseHeartbeat(p, e, obs)
		return
	}
	if e.Heartbeat < p.heartbeat || e.Leaving != p.leaving {
		// What is held came from a relay, above what the node says of
		// itself: a forgery. Its word replaces it.
		s.stats.Overruled++
		p.heartbeat, p.leaving, p.proof = e.Heartbeat, e.Leaving, e.BeatProof
		obs.Overruled = append(obs.Overruled, e.ID)
		if !e.Leaving {
			obs.Heartbeats = append(obs.Heartbeats, e.ID)
		}
	}
}

// refuteClaim answers an entry about this node at its own generation that
// says something it did not: a heartbeat above its own, a leave, another
// address, a watermark above its own.
func (s *State) refuteClaim(e *DigestEntry, obs *Observed) {
	self := s.self
	switch {
	case e.MaxVersion <= self.meta.MaxVersion && e.GCVersion <= self.meta.MaxVersion:
	case s.signedMarks():
		// Not backed by records proven under this node's key, which
		// only a delta carries (watermarks.go): no floor of it. After a
		// lossy boot it may be a true word on a lost tail, not counted.
		if !s.tail.expected || s.tail.wrote {
			s.stats.UnsignedWatermarks++
		}
	default:
		v := max(e.MaxVersion, e.GCVersion)
		if v-self.meta.MaxVersion <= maxClaimAhead && s.plausibleVersion(v) && v > s.claimFloor {
			s.claimFloor = v
		}
	}
	contradicts := e.Heartbeat > self.heartbeat ||
		e.Leaving && !self.leaving && e.Heartbeat >= self.heartbeat ||
		e.Addr != "" && e.Addr != self.meta.Addr && e.Heartbeat >= self.heartbeat
	if !contradicts {
		return
	}
	s.stats.ClaimsRefuted++
	obs.Contradicted = true
	if self.leaving {
		return // leaving for real: the claim is not false there
	}
	s.climbAbove(e.Heartbeat)
}

// climbAbove raises the local heartbeat above h, as far as the climb
// budget allows: it refills at one beat per claimBeatMs, the rate peers
// believe relayed heartbeats rise at.
func (s *State) climbAbove(h uint64) {
	hb := s.self.heartbeat
	if h < hb {
		return
	}
	limit := uint64(selfClimbCap)
	if s.signedBeats {
		limit = signedClimbCap
	}
	if s.now > s.climbAt {
		s.climbBudget = min(limit, s.climbBudget+(s.now-s.climbAt)/claimBeatMs)
		s.climbAt = s.now
	}
	s.climbBudget = min(s.climbBudget, limit)
	need := h + 1 - hb
	if need > s.climbBudget {
		s.stats.ClaimsBeyondReach++
		return // the sender's answer (Observed.Contradicted) overrules it
	}
	s.climbBudget -= need
	s.self.heartbeat = h + 1
}

// BeatAbove advances the local heartbeat above h where the climb budget
// allows (a vote or claim at h), else by one; it returns the heartbeat.
func (s *State) BeatAbove(h uint64) uint64 {
	before := s.self.heartbeat
	s.climbAbove(h)
	if s.self.heartbeat == before {
		s.self.heartbeat++
	}
	return s.self.heartbeat
}
