package sync

import "slices"

// Ghosts are nodes known only from digest entries: no data, and no sign of
// life since they were first listed. A forged digest can list thousands of
// made-up ids, so ghosts are bounded in number, not persisted, and
// forgotten ghostTTL after they appeared unless their heartbeat rises
// (then they are peers like any other, and their meta is persisted so that
// a restart can rejoin without seeds) or data of theirs is committed.
// Without keys a second forged entry with a higher heartbeat still makes a
// ghost a peer: the bound is on what one datagram, or a flood of them with
// fresh ids, leaves behind.
const (
	// maxGhosts leaves room for a node joining a large cluster, which
	// hears of every member before any heartbeat of theirs rises.
	maxGhosts = 4096
	ghostTTL  = 10 * 60_000 // ms of SetTime; a live node's heartbeat rises every second or so
	// ghostSweepEvery spaces the sweeps out (ms).
	ghostSweepEvery = 1000
)

// ghostPeer is a ghost on the ghost list, with when it appeared (ms).
type ghostPeer struct {
	p     *peer
	since uint64
}

// newGhost registers a node first heard of in a digest, or returns nil
// when maxGhosts ghosts, or Config.MaxPeers nodes, are held already. It is
// the one way in for an id: deltas of unknown ids are dropped.
func (s *State) newGhost(meta PeerMeta) *peer {
	if s.ghostCount >= maxGhosts {
		s.stats.GhostsRefused++
		return nil
	}
	if s.cfg.MaxPeers > 0 && len(s.peers) >= s.cfg.MaxPeers {
		s.stats.PeersRefused++
		return nil
	}
	p := newPeer(meta)
	p.ghost = true
	s.addPeer(p)
	s.ghosts = append(s.ghosts, ghostPeer{p: p, since: s.now})
	s.ghostCount++
	return p
}

// observeGhost takes a digest entry of a ghost: in memory only, until its
// heartbeat rises.
func (s *State) observeGhost(p *peer, e *DigestEntry, pb *pending, obs *Observed) {
	if e.Generation > p.meta.Generation {
		// Nothing is held for it, so nothing is at stake: no evidence needed.
		p.meta.Generation, p.heartbeat, p.proof = e.Generation, 0, BeatProof{}
	}
	if e.Generation < p.meta.Generation {
		return
	}
	if e.Addr != "" {
		p.meta.Addr = e.Addr
	}
	p.meta.Alias = aliasOf(e)
	if e.Heartbeat > p.heartbeat {
		// Remember where it is, so a restart can rejoin without seeds. It
		// is a member once this is committed (State.Commit confirms it):
		// confirmed here, a batch the driver drops (a busy engine) would
		// leave it a member never persisted.
		pb.meta(p.meta)
	}
	s.takeHeartbeat(p, e, obs)
}

// confirm makes a ghost a peer. It stays in s.ghosts until the next
// sweep drops it: a node joining a cluster of thousands confirms
// thousands of ghosts, and searching the list for each would be
// quadratic.
func (s *State) confirm(p *peer) {
	if !p.ghost {
		return
	}
	p.ghost = false
	s.ghostCount--
	if len(s.ghosts) > 2*maxGhosts {
		s.dropConfirmed()
	}
}

// dropConfirmed removes the confirmed peers from s.ghosts.
func (s *State) dropConfirmed() {
	s.ghosts = slices.DeleteFunc(s.ghosts, func(g ghostPeer) bool { return !g.p.ghost })
}

// sweepGhosts forgets the ghosts older than ghostTTL, at most once every
// ghostSweepEvery; the node drops them from its failure detector.
func (s *State) sweepGhosts(obs *Observed) {
	if len(s.ghosts) == 0 || s.now < s.lastSweep+ghostSweepEvery {
		return
	}
	s.lastSweep = s.now
	kept := s.ghosts[:0]
	for _, g := range s.ghosts {
		p := g.p
		if !p.ghost {
			continue // confirmed since it was listed
		}
		if s.now-g.since <= ghostTTL {
			kept = append(kept, g)
			continue
		}
		p.ghost = false // so that removePeer leaves s.ghosts, rebuilt here, alone
		s.ghostCount--
		s.removePeer(p)
		obs.Forgotten = append(obs.Forgotten, p.meta.ID)
	}
	clear(s.ghosts[len(kept):])
	s.ghosts = kept
}
