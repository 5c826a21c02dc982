package sync

import "math/rand"

// handleMembers takes a member list (or a joiner's request, which carries
// its own entry) like a digest: peers heard of, heartbeats, addresses and,
// for the sender's own entry, its word for a new generation. Deltas are
// not asked for: the exchanges that follow fetch the data.
func (s *State) handleMembers(m *Members) Step {
	var st Step
	if m.Cluster != s.cfg.Cluster {
		s.stats.BadCluster++
		st.BadCluster = true
		return st
	}
	var pb pending
	s.upTo = m.Up
	s.observe(m.From, m.Members, &pb, &st.Observed)
	s.upTo = 0
	st.Batch = pb.batch()
	return st
}

// vouch notes that entry i of a digest or member list vouches for its node
// being alive: it is the node's own entry in a message from it, from its
// address, or one its sender holds alive in a member list (see upTo). A
// ghost that spoke for itself becomes a member, persisted so that a
// restart remembers where it is; one only listed stays a ghost until its
// heartbeat rises.
func (s *State) vouch(from string, i int, e *DigestEntry, p *peer, pb *pending, obs *Observed) {
	own := s.ownEntry(from, e)
	if !own && i >= s.upTo {
		return
	}
	obs.Vouched = append(obs.Vouched, e.ID)
	if own && p.ghost {
		pb.meta(p.meta) // a member once committed (State.Commit confirms it)
	}
}

// OwnEntry is the local node's digest entry: what it says of itself.
func (s *State) OwnEntry() DigestEntry { return s.entryOf(s.self) }

// MemberList lists the local node and then the peers rank admits (never a
// leaving node or one without an address; ghosts only if rank admits them:
// a joiner that spoke to this node is one until its heartbeat rises), as
// many as fit budget bytes and max entries: first those ranked Alive, then
// those ranked Listed. Within each, a random subset when not all fit, so
// that joiners asking the same seed learn different parts of a cluster
// too large for one message. up counts the leading entries ranked Alive,
// the local node included.
func (s *State) MemberList(rank func(id string) Rank, budget, max int, rng *rand.Rand) (list []DigestEntry, up int) {
	self := s.entryOf(s.self)
	list = []DigestEntry{self}
	budget -= entrySize(&self)
	peers := s.sortedPeers()
	order := rng.Perm(len(peers))
	// One pass ranks every peer (rank is a lookup in the detector, and a
	// seed answers every joiner of a large cluster): those ranked Alive go
	// in at once, those Listed wait for the second.
	var listed []*peer
	add := func(p *peer) {
		e := s.entryOf(p)
		if sz := entrySize(&e); sz <= budget {
			list = append(list, e)
			budget -= sz
		}
	}
	for _, i := range order {
		p := peers[i]
		if p == s.self || p.leaving || p.meta.Addr == "" {
			continue
		}
		switch rank(p.meta.ID) {
		case Alive:
			if len(list) < max {
				add(p)
			}
		case Listed:
			listed = append(listed, p)
		}
	}
	up = len(list)
	for _, p := range listed {
		if len(list) >= max {
			break
		}
		add(p)
	}
	return list, up
}

// Rank is how a member list treats a peer.
type Rank uint8

// Ranks of MemberList.
const (
	Unlisted Rank = iota // left out
	Listed               // heard of, not known to be down
	Alive                // held alive
)

// Addresses returns the address of every known node but the local one,
// ghosts included (a node that just joined knows most members as ghosts
// until their heartbeats rise), in id order.
func (s *State) Addresses() []string {
	var out []string
	for _, p := range s.sortedPeers() {
		if p != s.self && p.meta.Addr != "" && !p.leaving {
			out = append(out, p.meta.Addr)
		}
	}
	return out
}

// ProvingAddresses lists the addresses that known nodes speak from while
// they prove a new generation (a wiped node back on another port): not
// theirs here yet, but where their catch-up goes.
func (s *State) ProvingAddresses() []string {
	var out []string
	for _, ev := range s.genProof {
		if ev.addr != "" {
			out = append(out, ev.addr)
		}
	}
	return out
}

// EachPeer calls fn with the id and address of every known node but the
// local one, ghosts included, in id order: a pass over every node without
// the copy Peers makes of each.
func (s *State) EachPeer(fn func(id, addr string)) {
	for _, p := range s.sortedPeers() {
		if p != s.self {
			fn(p.meta.ID, p.meta.Addr)
		}
	}
}
