package engine

import (
	"time"

	"github.com/leviathan-gossip/leviathan/health"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Step runs one message received from the address from at now through
// the core. What it learnt about liveness is fed to the detector at once
// (that needs no durability); data changes wait in the Ready's batch.
//
// Called while Busy, the message counts for liveness and is answered, but
// its data is dropped (the sender resends it): two batches out at once
// could both hold the same records.
func (e *Engine) Step(now time.Time, from string, msg lsync.Message) Ready {
	return e.step(now, from, msg, nil)
}

func (e *Engine) step(now time.Time, from string, msg lsync.Message, pv *Proven) Ready {
	if m, ok := msg.(*lsync.Suspect); ok {
		var rd Ready
		e.stepSuspect(m, from, &rd, now)
		e.flushVotes(&rd)
		return rd
	}
	var c carrier
	var rejected []Rejected
	vouched := ""
	if e.recs != nil {
		e.recs.now = later(e.recs.now, now)
		if e.recordProofs() {
			vouched = e.unheldSender(msg)
		}
		var pre Ready
		msg = e.gate(msg, from, &c, now, &pre)
		rejected = pre.Rejected
		if msg == nil {
			rd := Ready{Rejected: rejected}
			e.sendCarrier(&c, from, &rd)
			return rd
		}
	}
	rejected = e.gateProofs(msg, from, pv, rejected)
	msg = e.screen(msg, now)
	e.observeFlow(msg, now)
	e.state.SetGenerationCeiling(uint64(now.Add(MaxGenerationAhead).UnixMilli()))
	e.state.SetTime(uint64(now.UnixMilli()))
	// The source proves generation changes; the reply's deltas are read by
	// the driver outside its lock (Ready.ReadDeltas).
	st := e.state.HandleDeferred(msg, from, e.rng)
	rd := Ready{Rejected: rejected}
	rd.BadCluster = st.BadCluster
	if !st.BadCluster && e.heardFrom(from) {
		rd.AnsweredSeed = from
	}
	if !e.busy {
		rd.Batch = st.Batch
	}
	if m, ok := msg.(*lsync.Push); ok && m.Hops > 1 {
		// Passed on only if it was news here: a node that held the
		// records already has an empty batch and stops the push.
		e.notePush(&rd, m.Hops-1, from, now)
	}
	back, found := e.noteLiveness(&st.Observed, now)
	e.noteDirect(&st.Observed, from, senderOf(msg), now)
	e.noteClaims(&st.Observed, from, &rd, now)
	if m, ok := msg.(*lsync.Members); ok {
		e.stepMembers(m, from, &st, &rd, now)
	}
	e.noteOutdated(&st, &rd)
	rd.event(Leave, st.Left)
	if _, isReply := msg.(*lsync.SynAck); isReply {
		delete(e.pulls, from) // the exchange we opened is answered
	}
	if st.Reply != nil {
		rd.Send = append(rd.Send, Outgoing{To: from, Msg: st.Reply})
		if st.Fill != nil {
			rd.fills = append(rd.fills, st.Fill)
		}
		if _, isSyn := msg.(*lsync.Syn); isSyn {
			// Votes go both ways of an exchange, as the digest does.
			for _, sm := range e.gossipVotes(1) {
				rd.Send = append(rd.Send, Outgoing{To: from, Msg: sm})
			}
		}
	}
	if st.PullAgain && !e.busy && e.pullDue(from, now) {
		// The sender had more than one message could carry: keep pulling
		// now, so catch-up runs at the speed of the disk, not of rounds.
		rd.Send = append(rd.Send, Outgoing{To: from, Msg: e.state.MakeSyn(e.rng)})
		e.pulls[from] = now
	}
	if vouched != "" && e.originKeys(vouched).pub != nil {
		e.pullVouched(from, &rd, now)
	}
	e.greet(st.New, from, &rd)
	rd.event(Discover, found)
	rd.event(Recover, back)
	e.flushVotes(&rd) // re-votes of noteDirect
	if e.recs != nil && !st.BadCluster {
		e.sendCarrier(&c, from, &rd)
	}
	e.hand(&rd)
	return rd
}

// noteLiveness feeds what a message taught about peers to the detector
// and returns the peers back after a leave that no health check will
// report.
func (e *Engine) noteLiveness(obs *lsync.Observed, now time.Time) (back, found []string) {
	for _, id := range obs.New {
		e.det.Heartbeat(id, now) // tracked from first word of it
		e.ts.dirty = true
		e.news, e.heardNew = now, now
	}
	for _, id := range obs.Vouched {
		e.det.Vouch(id)
	}
	if len(obs.Reborn) > 0 {
		e.news = now
	}
	for _, id := range obs.Reborn {
		// A wiped peer back with a new generation: its old rhythm is
		// dropped and the proof counts as a sign of life, so it is alive
		// again on the next health check instead of waiting out its old
		// incarnation's heartbeats.
		e.det.Reset(id, now)
		e.mon.Forget(id)
		e.ts.dirty = true
		rep := e.det.Revive(id, now)
		back = append(back, rep.Recovered...)
		found = append(found, rep.Discovered...)
	}
	for _, id := range obs.Heartbeats {
		e.det.Heartbeat(id, now)
		if _, left := e.left[id]; left {
			e.mon.Returned(id) // its leave no longer holds
			// Back after a leave. If the detector never suspected it, no
			// recovery would be reported: report it here. Otherwise the
			// next health check reports the recovery.
			if s, _ := e.det.State(id); s == health.Alive {
				delete(e.left, id)
				e.ts.dirty = true
				back = append(back, id)
			}
		}
	}
	// A peer whose evidence to come up arrived (a risen heartbeat, its own
	// word, a member's list) comes up now: the next health check would
	// judge it on nothing more, and a cold start waited for one at every
	// step (a seed holding a joiner alive, then listing it to the next).
	if rep := e.det.Admit(now, obs.Vouched, obs.Heartbeats); len(rep.Discovered) > 0 {
		e.ts.dirty = true
		e.news = now
		found = append(found, rep.Discovered...)
	}
	for _, id := range obs.Forgotten {
		// A ghost (only ever listed, never alive) is dropped.
		e.det.Remove(id)
		e.mon.Forget(id)
		delete(e.deadSince, id)
		delete(e.left, id)
		e.ts.dirty = true
	}
	for _, id := range obs.Left {
		// Gone on purpose: its suspicion and death are not announced (it
		// is still removed after dead_grace), and its return is a recovery.
		e.left[id] = now
		// Down at once where only verdicts and long silence would take
		// a peer down (monitoring).
		e.mon.Left(id)
		e.ts.dirty = true
	}
	return back, found
}

// pullDue reports whether a catch-up exchange may be opened with addr: one
// at a time per peer. Without this, every round's reply that says More
// would start another chain of pulls, each fetching the same deltas, and
// a node far behind would drown in duplicates. A pull unanswered for two
// rounds is given up.
func (e *Engine) pullDue(addr string, now time.Time) bool {
	sent, ok := e.pulls[addr]
	return !ok || now.Sub(sent) > 2*e.cfg.Gossip
}

// expire forgets pulls given up and leaves too old to matter, so that
// neither map grows with peers that never answer or never return.
func (e *Engine) expire(now time.Time) {
	for addr, sent := range e.pulls {
		if now.Sub(sent) > 2*e.cfg.Gossip {
			delete(e.pulls, addr)
		}
	}
	for id, since := range e.left {
		_, known := e.state.Peer(id)
		if !known || now.Sub(since) > e.cfg.LeftTTL {
			delete(e.left, id)
			e.ts.dirty = true
		}
	}
}

// screen removes from a received message the digest entries and node
// deltas whose generation lies more than MaxGenerationAhead in the future,
// and counts them. The core judges generations against the ceiling too;
// screening here keeps such entries from costing anything further.
// Entries about the local node are left to the core, which ignores them.
func (e *Engine) screen(m lsync.Message, now time.Time) lsync.Message {
	limit := uint64(now.Add(MaxGenerationAhead).UnixMilli())
	self := e.cfg.Self.ID
	entries := func(d []lsync.DigestEntry) []lsync.DigestEntry {
		out := d[:0]
		for _, en := range d {
			if en.Generation > limit && en.ID != self {
				e.futureGenerations++
				continue
			}
			out = append(out, en)
		}
		return out
	}
	deltas := func(ds []lsync.NodeDelta) []lsync.NodeDelta {
		out := ds[:0]
		for _, d := range ds {
			if d.Generation > limit && d.ID != self {
				e.futureGenerations++
				continue
			}
			out = append(out, d)
		}
		return out
	}
	switch v := m.(type) {
	case *lsync.Syn:
		v.Digest = entries(v.Digest)
	case *lsync.SynAck:
		v.Digest = entries(v.Digest)
		v.Deltas = deltas(v.Deltas)
	case *lsync.Ack:
		v.Deltas = deltas(v.Deltas)
	case *lsync.Push:
		v.Deltas = deltas(v.Deltas)
	case *lsync.Members:
		v.Members = entries(v.Members)
	}
	return m
}

// senderOf is the node a message says it is from.
func senderOf(m lsync.Message) string {
	switch v := m.(type) {
	case *lsync.Syn:
		return v.From
	case *lsync.SynAck:
		return v.From
	case *lsync.Ack:
		return v.From
	case *lsync.Push:
		return v.From
	case *lsync.Members:
		return v.From
	case *lsync.Beat:
		return v.From
	}
	return ""
}

// noteClaims acts on what the core found of claims (sync's claims.go):
// votes at a heartbeat that a peer's own word overruled are void; a
// sender that holds a false word of this node hears the node's own, in a
// Syn, at most once per health.RefuteGap (the Syn is larger than what
// provoked it); and a watermark claimed above this node's own raises the
// floor its next version is issued above.
func (e *Engine) noteClaims(obs *lsync.Observed, from string, rd *Ready, now time.Time) {
	for _, id := range obs.Overruled {
		e.mon.Overruled(id)
	}
	if obs.Contradicted && from != "" && !e.leaving && now.Sub(e.contradictedAt) >= health.RefuteGap {
		e.contradictedAt = now
		rd.Send = append(rd.Send, Outgoing{To: from, Msg: e.state.MakeSyn(e.rng)})
	}
	if f := e.state.VersionFloor(); f > e.versionFloor {
		e.versionFloor = f
		e.ver.Restore(f)
	}
}

// unheldSender is the id of a member list's sender when this node holds
// no record of it yet: "" otherwise.
func (e *Engine) unheldSender(msg lsync.Message) string {
	m, ok := msg.(*lsync.Members)
	if !ok || m.From == e.cfg.Self.ID {
		return ""
	}
	if _, held := e.recs.held[m.From]; held {
		return ""
	}
	return m.From
}

// pullVouched opens an exchange with a sender whose record this step
// took, when records travel with their proofs. Until then its digest
// entries and deltas were refused, and the transport refuses a stream to
// it, so whatever a join's first exchange carried from it was lost:
// pulling now, rather than at the next round, starts a catch-up at once.
func (e *Engine) pullVouched(from string, rd *Ready, now time.Time) {
	if e.busy || e.leaving || !e.pullDue(from, now) {
		return
	}
	rd.Send = append(rd.Send, Outgoing{To: from, Msg: e.state.MakeSyn(e.rng)})
	e.pulls[from] = now
}
