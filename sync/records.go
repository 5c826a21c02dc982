package sync

// Signed node records are checked and kept outside the core (package
// internal/engine): the core only carries the seq of each node's record
// held in its digest entries, so that two nodes see which of them holds
// the newer record, and in its summary, so that a quiet round still
// finds records out of step.

// SetRecordSeq sets the seq of the node record held for id, 0 for none.
// An id not known yet takes it when it becomes known. The caller bounds
// the ids it sets (one per node record it holds).
func (s *State) SetRecordSeq(id string, seq uint64) {
	if seq == 0 {
		delete(s.recordSeqs, id)
	} else {
		if s.recordSeqs == nil {
			s.recordSeqs = make(map[string]uint64)
		}
		s.recordSeqs[id] = seq
	}
	if p := s.peers[id]; p != nil {
		p.recordSeq = seq
	}
}

// SetBeatProver makes the local node's digest entries carry the proof of
// its heartbeat that prove gives (zero when it has none), and tells the
// core that peers take heartbeats only with their proofs: a claim about
// this node above its own heartbeat was then taken by no peer, so the
// node answers it with its own word but does not climb above it (see
// climbAbove).
func (s *State) SetBeatProver(prove func(hb uint64) BeatProof) {
	s.prove, s.signedBeats = prove, prove != nil
}

// HeldBeat returns the heartbeat held for node id, in the generation
// held, and the proof it came with (zero if none). ok is false for a node
// not known, the local one included.
func (s *State) HeldBeat(id string) (gen, hb uint64, proof BeatProof, ok bool) {
	p := s.peers[id]
	if p == nil || p == s.self {
		return 0, 0, BeatProof{}, false
	}
	return p.meta.Generation, p.heartbeat, p.proof, true
}
