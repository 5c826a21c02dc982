package engine

import "time"

// Probes find the nodes that every push of a write missed. A push reaches
// each node with probability 1 - e^-fanout, so a write to a hundred nodes
// often leaves one without it, and that node would wait for its next
// exchange: up to a round, which is most of the write's time to reach
// all. So a node that pushed news sends, a little later (probeDelay of
// a gossip interval, when the push has run its course), a summary of its
// digest (sync's summary.go) to as many live peers as it pushes to. A peer in step
// stays silent; a peer that lacks the write finds its summary different
// and answers with its digest, and the exchange that follows brings it
// the write. With every informed node probing, a missed node is asked by
// about PushFanout of them, and missed by all with probability
// e^-PushFanout, as for the push.
//
// One probe at a time, and at most probesPerRound a round: a probe covers
// every push before it, so a steady stream of writes adds a few summaries
// a round, not one per write, and a push is still followed by a probe
// within a third of a round.

// probeDelay is how long after its push a node probes, in gossip
// intervals: long enough for the push to have reached whom it will
// (milliseconds on a LAN), short against the round it saves.
const probeDelay = 10 // 1/10 of the interval

// probeDigest bounds the entries a probe lists (the nodes with news),
// in bytes: about 8 of them.
const probeDigest = 400

// probesPerRound bounds the probes of one node per gossip interval.
const probesPerRound = 4

// armProbe schedules a probe after a push of rd, unless one is pending
// (it will cover this push too): probeDelay after the push, and no sooner
// than a 1/probesPerRound of an interval after the last probe.
func (e *Engine) armProbe(rd *Ready) {
	if rd.pushFrom == "" && rd.pushHops == 1 {
		// A steady writer's next pushes carry what this one missed, to
		// every live peer in turn: its probe waits for the writes to
		// pause. Probing meanwhile would open exchanges that carry the
		// records in flight a second time.
		e.probeAt = later(e.probeAt, rd.now.Add(e.cfg.Gossip/probeDelay))
		rd.ProbeAt = e.wakeAt()
		return
	}
	if !e.probeAt.IsZero() {
		return
	}
	at := rd.now.Add(e.cfg.Gossip / probeDelay)
	if !e.probedAt.IsZero() {
		at = later(at, e.probedAt.Add(e.cfg.Gossip/probesPerRound))
	}
	e.probeAt = at
	rd.ProbeAt = e.wakeAt()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Probe sends the pending probe, if it is due: a summary Syn to
// PushFanout live peers; and asks for a member list again if a joiner's
// retry is due (join.go). Called early, it sends nothing and gives the due
// time again in ProbeAt, so that a driver's timer that fired before the
// engine's clock reached it does not lose the probe (and every later one,
// as one is pending at a time).
func (e *Engine) Probe(now time.Time) Ready {
	var rd Ready
	e.retryJoin(&rd, now)
	if e.probeAt.IsZero() || e.leaving || now.Before(e.probeAt) {
		rd.ProbeAt = e.wakeAt()
		return rd
	}
	e.probeAt, e.probedAt = time.Time{}, now
	e.state.SetTime(uint64(now.UnixMilli()))
	syn := e.state.ProbeSyn(probeDigest)
	for _, addr := range e.pickLive(e.cfg.PushFanout, func(a string) bool { return a == e.cfg.Self.Addr }) {
		rd.Send = append(rd.Send, Outgoing{To: addr, Msg: syn})
	}
	e.pushStats.Probes++
	rd.ProbeAt = e.wakeAt()
	return rd
}
