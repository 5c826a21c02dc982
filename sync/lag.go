package sync

// Replication lag: how far this node's copy of a peer's data trails what
// digests say the peer has written. A digest entry with a watermark above
// the one held means records are on their way (or lost, for anti-entropy
// to repair); the lag is that gap, in versions (writes, with the default
// counter versioner), and how long the copy has been behind.
//
// A watermark claimed by a relay is bounded like any claim (the version
// ceiling), and the peer's own word overrules relays: a node knows its own
// watermark, so a relayed one above it was false, and a lag it made up
// ends when the peer next speaks for itself.

// lag is what a node knows of one peer's watermark beyond its own copy.
type lag struct {
	seen  uint64 // the highest watermark claimed for the peer's generation
	since uint64 // ms of SetTime when the copy fell behind seen; 0 in step
}

// noteWatermark takes the watermark of p in a digest entry of p's current
// generation; own says the entry is p's own word.
func (s *State) noteWatermark(p *peer, e *DigestEntry, own bool) {
	if p == s.self || e.Generation != p.meta.Generation {
		return
	}
	switch {
	case own:
		p.lag.seen = e.MaxVersion
	case s.signedMarks():
		// A relay's word on its own copy (watermarks.go): no lag of p.
	case e.MaxVersion > p.lag.seen && s.plausibleVersion(e.MaxVersion):
		p.lag.seen = e.MaxVersion
	}
	s.checkLag(p)
}

// checkLag starts or ends p's lag against the watermark held.
func (s *State) checkLag(p *peer) {
	switch {
	case p.lag.seen <= p.meta.MaxVersion:
		p.lag.since = 0
	case p.lag.since == 0:
		p.lag.since = max(s.now, 1)
	}
}

// committedLag follows a committed change of p: a reset starts the count
// over, new records may close the gap.
func (s *State) committedLag(p *peer, c *PeerChange) {
	if c.Reset {
		p.lag = lag{}
		return
	}
	s.checkLag(p)
}

// Lag reports how far the copy of node id trails: versions behind the
// highest watermark claimed for it, and since when (ms of SetTime; 0 when
// in step).
func (s *State) Lag(id string) (behind, sinceMs uint64) {
	p := s.peers[id]
	if p == nil || p.lag.seen <= p.meta.MaxVersion {
		return 0, 0
	}
	return p.lag.seen - p.meta.MaxVersion, p.lag.since
}
