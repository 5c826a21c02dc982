package sync

import "math/rand"

// Step is the outcome of handling one message: a batch to make durable and
// then Commit, a reply to send, and what the message taught about liveness.
type Step struct {
	Batch *Batch
	Reply Message
	Observed
	// BadCluster is set when the message came from another cluster and was
	// ignored (or answered with BadCluster).
	BadCluster bool
	// PullAgain is set when the sender had more for us than fit: open
	// another exchange with it now rather than next round.
	PullAgain bool
	// Fill, from HandleDeferred only, reads Reply's deltas; the reply
	// must not be sent before Fill.Read, nor at all if it returns false,
	// and the fill goes to State.NoteSent, under the lock, before it is.
	Fill *DeltaFill
}

// Handle runs the protocol for one received message. It mutates nothing
// that must be durable: data changes wait in Step.Batch for Commit. The
// reply's deltas are read from the storage before it returns; a driver
// that holds a lock around the core uses HandleDeferred instead.
func (s *State) Handle(m Message, rng *rand.Rand) Step {
	st := s.handle(m, rng)
	s.readNow(&st)
	return st
}

func (s *State) handle(m Message, rng *rand.Rand) Step {
	s.unproven = false
	switch v := m.(type) {
	case *Syn:
		return s.handleSyn(v, rng)
	case *SynAck:
		return s.handleSynAck(v, rng)
	case *Ack:
		return s.handleAck(v)
	case *Push:
		return s.handlePush(v)
	case *BadCluster:
		s.stats.BadCluster++
		return Step{BadCluster: true}
	case *Beat:
		return s.handleBeat(v)
	case *Members:
		return s.handleMembers(v)
	}
	return Step{}
}

func (s *State) handleSyn(m *Syn, rng *rand.Rand) Step {
	if m.Cluster != s.cfg.Cluster {
		s.stats.BadCluster++
		return Step{BadCluster: true, Reply: &BadCluster{Cluster: s.cfg.Cluster}}
	}
	var st Step
	var pb pending
	s.observe(m.From, m.Digest, &pb, &st.Observed)
	switch {
	case m.Summary != 0 && m.Summary == s.Summary():
		st.Batch = pb.batch() // in step: nothing to trade
		return st
	case m.Summary != 0 && len(m.Digest) == 0:
		st.Batch = pb.batch()
		st.Reply = s.answerSummary(rng)
		return st
	}
	// An ordinary Syn, or a probe's out of step: its entries are what
	// the sender had news of (ProbeSyn).
	theirs := index(m.Digest)
	total := s.cfg.MessageBudget - synAckHeadSize(s.cfg.Cluster, s.cfg.Self.ID)
	// The digest may take half a datagram, so that a small SynAck still
	// fits one; deltas get the rest of the message.
	digestBudget := min(total, s.cfg.PacketBudget/2)
	digest, left := s.replyDigest(theirs, m.Complete, digestBudget, rng)
	reply := &SynAck{Cluster: s.cfg.Cluster, From: s.cfg.Self.ID, Digest: digest}
	st.Reply = reply
	st.Fill = s.planDeltas(reply, m.From, theirs, m.Complete, total-(digestBudget-left), rng)
	st.Batch = pb.batch()
	return st
}

func (s *State) handleSynAck(m *SynAck, rng *rand.Rand) Step {
	if m.Cluster != s.cfg.Cluster {
		s.stats.BadCluster++
		return Step{BadCluster: true}
	}
	var st Step
	var pb pending
	s.observe(m.From, m.Digest, &pb, &st.Observed)
	s.prepareDeltas(m.Deltas, &pb)
	budget := s.cfg.MessageBudget - ackHeadSize(s.cfg.Cluster, s.cfg.Self.ID)
	reply := &Ack{Cluster: s.cfg.Cluster, From: s.cfg.Self.ID}
	if fill := s.planDeltas(reply, m.From, index(m.Digest), false, budget, rng); fill.worth() {
		st.Reply, st.Fill = reply, fill
	}
	st.Batch = pb.batch()
	// Pulling again for deltas we cannot take yet would loop at full speed.
	st.PullAgain = m.More && !s.unproven
	if !m.More {
		// The responder sent all it had for us, our own records included.
		s.confirmTail()
	}
	return st
}

func (s *State) handleAck(m *Ack) Step {
	if m.Cluster != s.cfg.Cluster {
		s.stats.BadCluster++
		return Step{BadCluster: true}
	}
	var st Step
	var pb pending
	s.prepareDeltas(m.Deltas, &pb)
	st.Batch = pb.batch()
	st.PullAgain = m.More && !s.unproven
	return st
}

// handlePush takes a push's deltas as an Ack's, with nothing to pull
// again: a push carries only what its sender just committed.
func (s *State) handlePush(m *Push) Step {
	if m.Cluster != s.cfg.Cluster {
		s.stats.BadCluster++
		return Step{BadCluster: true}
	}
	var pb pending
	s.prepareDeltas(m.Deltas, &pb)
	return Step{Batch: pb.batch()}
}
