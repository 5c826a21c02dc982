package sync

// Signed watermarks. A digest entry or delta says how far a node's data
// goes (MaxVersion, a delta's To) and how far its tombstones are
// collected (GCVersion). Without signatures these are bounded like any
// relayed claim (claims.go). With signed node records (SetSignedHorizons)
// no relay's word moves them:
//
//   - A node's GC horizon is believed up to the one its owner signed in
//     its node record, as the record held here states it: a relay claiming
//     more cannot make this node drop the node's tombstones, nor, with a
//     refill from a horizon the node never reached (a Reset delta), its
//     data. Every node also shows the horizons it holds only up to what
//     their records state, its own included: the owner re-signs its
//     record as its horizon moves, at most so often, and its entries show
//     the signed one meanwhile.
//   - With record proofs, a delta's watermark (To) is believed up to what
//     its proofs bear out: the last version of the last batch its origin
//     signed, or the origin's signed horizon (collected versions carry no
//     record). A delta claiming more is cut to that: it cannot make this
//     node skip versions it never received.
//   - A watermark relayed in a digest entry is the relay's word on its own
//     copy: it moves no lag (lag.go), only a node's own word does. A
//     watermark of this node that it did not state raises its version
//     floor only when records proven under its own key back it (a
//     delta's, as above).

// SetSignedHorizons makes the core take GC horizons and watermarks only
// as their nodes signed them (see above): signed returns the horizon that
// the verified node record held for id states, 0 when none is held.
func (s *State) SetSignedHorizons(signed func(id string) uint64) { s.signedGC = signed }

// signedMarks reports whether watermarks are taken only as signed.
func (s *State) signedMarks() bool { return s.signedGC != nil }

// horizonCap is the highest horizon believed of p.
func (s *State) horizonCap(p *peer) uint64 {
	if s.signedGC == nil {
		return ^uint64(0)
	}
	return s.signedGC(p.meta.ID)
}

// shownGC is the horizon this node shows for p, in its digest entries
// and deltas: the one held, as far as p's record states it. Peers take
// no more; showing more would count as a forgery at every receiver.
func (s *State) shownGC(p *peer) uint64 { return min(p.meta.GCVersion, s.horizonCap(p)) }

// signedHorizon reports whether horizon gc of p is one its record
// states, counting a claim beyond it.
func (s *State) signedHorizon(p *peer, gc uint64) bool {
	if gc <= s.horizonCap(p) {
		return true
	}
	s.stats.UnsignedWatermarks++
	return false
}

// capDeltaTo cuts nd's watermark to what its proofs and its origin's
// signed horizon bear out, when records travel with proofs (the engine
// checked them before the core sees the delta), counting a cut. Its
// records stay within the cut watermark: each is in a batch its proofs
// name.
func (s *State) capDeltaTo(nd *NodeDelta) {
	if !s.signedMarks() || !s.cfg.RecordProofs {
		return
	}
	var bound uint64
	if n := len(nd.Proofs); n > 0 && nd.Proofs[n-1] != nil {
		bound = nd.Proofs[n-1].Last
	}
	bound = max(bound, s.signedGC(nd.ID))
	if nd.To > bound {
		s.stats.UnsignedWatermarks++
		nd.To = bound
	}
}
