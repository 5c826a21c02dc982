package sync

import "math/rand"

// genEvidence is what a node has seen of peer P itself at a generation
// newer than the one it holds for P.
type genEvidence struct {
	gen       uint64
	heartbeat uint64 // highest seen with gen
	seen      int    // messages with a rising heartbeat
	addr      string // where the node speaks from
}

// HandleFrom is Handle for a message that arrived from network address src
// (the packet's source: authenticated with keys, unauthenticated without).
// The source is what lets the core require evidence from a peer itself
// before believing its generation changed (Config.GenerationEvidence).
func (s *State) HandleFrom(m Message, src string, rng *rand.Rand) Step {
	st := s.HandleDeferred(m, src, rng)
	s.readNow(&st)
	return st
}

// HandleDeferred is HandleFrom that leaves the reply's deltas unread:
// Step.Fill reads them, outside whatever lock the caller holds around the
// core, and NoteSent takes what was sent back under it (see DeltaFill).
func (s *State) HandleDeferred(m Message, src string, rng *rand.Rand) Step {
	s.src = src
	defer func() { s.src = "" }()
	return s.handle(m, rng)
}

// proven reports whether entry e, a generation newer than the one held for
// p, may take effect: a generation change drops everything held for p, so
// with Config.GenerationEvidence = n it must come from p itself — its own
// entry in a message from p, from p's advertised address — with a rising
// heartbeat in n messages. Relayed news of a new generation is not enough;
// each node hears p directly within a few rounds. Without evidence
// required (n = 0), any entry is believed.
func (s *State) proven(p *peer, e *DigestEntry, from string) bool {
	need := s.cfg.GenerationEvidence
	if need <= 0 {
		return true
	}
	if from != e.ID || s.src == "" || s.src != e.Addr {
		s.stats.UnprovenGen++
		return false
	}
	ev := s.genProof[p.meta.ID]
	switch {
	case ev == nil || ev.gen != e.Generation:
		if s.genProof == nil {
			s.genProof = make(map[string]*genEvidence)
		}
		ev = &genEvidence{gen: e.Generation, heartbeat: e.Heartbeat, seen: 1, addr: e.Addr}
		s.genProof[p.meta.ID] = ev // at most one per known peer
	case e.Heartbeat > ev.heartbeat:
		ev.heartbeat = e.Heartbeat
		ev.seen++
	}
	if ev.seen < need {
		s.stats.UnprovenGen++
		return false
	}
	delete(s.genProof, p.meta.ID)
	return true
}
