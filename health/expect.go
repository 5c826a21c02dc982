package health

import "time"

// Expected beats (monitoring). A monitor judges a peer by the beats the
// peer sends it, and only once one has arrived: views of the ring differ
// for a while, and a node must not vote against a peer that beats to
// others. That alone leaves a peer that joined and stopped before its
// first beat reached any monitor (a crash right after start, a crash loop)
// with no judge at all: it would stay alive everywhere until the last
// resort, 10 x dead_after later (docs/failure-detection.md, "Why the
// detector is built this way").
//
// So a node that, by its own ring, is one of a peer's monitors and has
// had no beat from it judges the peer by its relayed heartbeats, against
// the direct threshold, and votes as a silent monitor does. Its vote still
// needs the quorum, so one node whose ring is wrong convicts no one; and a
// newer heartbeat (the peer is alive, beating to others) refutes it and
// ends this node's expectation of that peer, which then waits for a beat
// of its own before judging it again.

// checkExpected votes against the peers that should beat to this node,
// never did, and whose relayed heartbeat has gone silent.
func (m *Monitor) checkExpected(now time.Time) {
	k := m.cfg.Monitors
	if k <= 0 || len(m.ring) < 2 {
		return
	}
	threshold := m.det.cfg.DirectThreshold
	if threshold <= 0 {
		threshold = m.det.cfg.Threshold
	}
	for _, id := range m.watched() {
		if _, voted := m.silent[id]; voted || m.unexpected[id] {
			continue
		}
		if st, ok := m.det.State(id); !ok || st != Alive || m.det.direct(id) {
			continue
		}
		if m.det.Phi(id, now) <= threshold {
			continue
		}
		m.silent[id] = 0
		m.expecting[id] = true
		m.castVote(id, now)
	}
}

// expectationMet ends the expectation of a peer that beat to this node
// (direct) or that is alive elsewhere (a newer heartbeat, not direct),
// and reports whether there was one. Only the latter is remembered: such
// a peer is not expected again until it beats here.
func (m *Monitor) expectationMet(id string, direct bool) bool {
	if direct {
		delete(m.unexpected, id)
	}
	if !m.expecting[id] {
		return false
	}
	delete(m.expecting, id)
	delete(m.silent, id)
	if !direct {
		m.unexpected[id] = true
	}
	return true
}
