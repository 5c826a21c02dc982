package sync

// handleBeat takes a heartbeat sent straight by its node: as that node's
// own digest entry, so its heartbeat rises here (and rides on in this
// node's digests) and it counts as the node's own word for a new
// generation. Only known members' beats count, and only from the address
// they gossip on; a ghost's beat from its own address is its own word that
// it lives, as its Syn would be, and makes it a peer (a joiner hears of
// most members as ghosts, and monitors that dropped their beats would wait
// through the cold start for each beating node's heartbeat to be relayed:
// docs/failure-detection.md, "Why the detector is built this way"). Direct
// lists the node if the beat is of the generation held for it (or just
// proven) and newer than its last beat here; Released if it stopped
// beating here.
func (s *State) handleBeat(m *Beat) Step {
	var st Step
	if m.Cluster != s.cfg.Cluster {
		s.stats.BadCluster++
		st.BadCluster = true
		return st
	}
	p := s.peers[m.From]
	if p == nil || p == s.self || s.src == "" || s.src != p.meta.Addr {
		s.stats.StrayBeats++
		return st
	}
	if m.Release {
		if !p.ghost {
			st.Released = append(st.Released, m.From)
		}
		return st
	}
	e := DigestEntry{ID: m.From, Alias: p.meta.Alias, Addr: p.meta.Addr, Generation: m.Generation,
		Heartbeat: m.Heartbeat, MaxVersion: p.meta.MaxVersion, GCVersion: p.meta.GCVersion, BeatProof: m.Proof}
	if e.Alias == e.ID {
		e.Alias = ""
	}
	var pb pending
	s.observe(m.From, []DigestEntry{e}, &pb, &st.Observed)
	st.Batch = pb.batch()
	// A beat counts once, even if the same heartbeat reached this node
	// first in the sender's own Syn (rounds and beats share a phase).
	if (m.Generation == p.meta.Generation || m.Generation == p.reborn) && m.Heartbeat > p.directHB && m.Heartbeat <= p.heartbeat {
		p.directHB = m.Heartbeat
		st.Direct = append(st.Direct, m.From)
	}
	return st
}
