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
