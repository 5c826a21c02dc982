package engine

import (
	"time"

	"github.com/leviathan-gossip/leviathan/health"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Monitoring (Config.Monitors > 0) is health.Monitor's: the ring, beats,
// votes, verdicts, refutations and expected beats. The engine feeds it
// what the core observed and routes what it asks to send into the Ready,
// as sync messages; core is the monitor's view of the sync core.

// core is the sync core as the monitor sees it (health.Cluster).
type core struct{ e *Engine }

func (c core) Peer(id string) (health.PeerView, bool) {
	p, ok := c.e.state.Peer(id)
	return health.PeerView{Addr: p.Addr, Generation: p.Generation, Heartbeat: p.Heartbeat}, ok
}

func (c core) Member(id string) bool { return c.e.state.Member(id) }

func (c core) PlausibleBeat(id string, hb uint64) bool {
	return c.e.state.PlausibleBeat(id, hb) && c.e.provenUpTo(id, hb)
}

func (c core) Generation() uint64 { return c.e.state.Self().Generation }

func (c core) BeatAbove(hb uint64) uint64 { return c.e.state.BeatAbove(hb) }

func (c core) Refresh() {
	if c.e.ts.dirty {
		c.e.rebuild()
	}
}

// route adds the monitor's messages to rd, each as one sync message
// shared by its recipients.
func (e *Engine) route(rd *Ready, msgs []health.Message) {
	for _, m := range msgs {
		var msg lsync.Message
		switch m.Kind {
		case health.Suspect:
			for _, sm := range e.suspectMsgs(e.syncVotes(m.Votes)) {
				for _, to := range m.To {
					rd.Send = append(rd.Send, Outgoing{To: to, Msg: sm})
				}
			}
			continue
		case health.Beat, health.Release:
			self := e.state.Self()
			beat := &lsync.Beat{Cluster: e.cfg.Cluster, From: self.ID, Generation: self.Generation,
				Heartbeat: m.Heartbeat, Release: m.Kind == health.Release}
			if e.recs != nil && !beat.Release {
				beat.Proof = e.proveOwn(beat.Heartbeat)
				e.announceRecord(rd, m.To)
			}
			msg = beat
		default:
			continue
		}
		for _, to := range m.To {
			rd.Send = append(rd.Send, Outgoing{To: to, Msg: msg})
		}
	}
}

// syncVotes are votes to send; with signing, signed (sealVotes).
func (e *Engine) syncVotes(vs []health.Vote) []lsync.Vote {
	if e.recs != nil {
		return e.sealVotes(vs)
	}
	out := make([]lsync.Vote, len(vs))
	for i, v := range vs {
		out[i] = lsync.Vote{ID: v.ID, Generation: v.Generation, Heartbeat: v.Heartbeat, By: v.By}
	}
	return out
}

func healthVotes(vs []lsync.Vote) []health.Vote {
	out := make([]health.Vote, len(vs))
	for i, v := range vs {
		out[i] = health.Vote{ID: v.ID, Generation: v.Generation, Heartbeat: v.Heartbeat, By: v.By}
	}
	return out
}

// Monitors lists the peers this node beats to.
func (e *Engine) Monitors() []string {
	if e.ts.dirty {
		e.rebuild()
	}
	return e.mon.Monitors()
}

// Monitor is the monitoring protocol's state, for reads.
func (e *Engine) Monitor() *health.Monitor { return e.mon }

// Beat advances the local heartbeat and, with monitoring, sends it to the
// node's monitors (and a Release to those it no longer beats to). After
// Leave it does nothing.
func (e *Engine) Beat(now time.Time) Ready {
	var rd Ready
	if e.leaving {
		return rd
	}
	e.route(&rd, e.mon.RefuteDue(now))
	hb := e.state.Beat()
	if e.recs != nil {
		e.recs.now = later(e.recs.now, now)
		e.reanchorDue(hb)
		e.horizonDue()
	}
	e.hello(&rd)
	if e.cfg.Monitors <= 0 {
		return rd
	}
	if e.ts.dirty {
		e.rebuild()
	}
	e.route(&rd, e.mon.Beat(hb))
	return rd
}

// noteDirect passes the monitor what a message taught of direct beats,
// releases and heartbeat rises. from is the message's source address,
// sender the node it says it is from.
func (e *Engine) noteDirect(obs *lsync.Observed, from, sender string, now time.Time) {
	e.mon.Observe(health.Observation{From: from, Sender: sender,
		Heartbeats: obs.Heartbeats, Direct: obs.Direct, Released: obs.Released}, now)
}

// stepSuspect takes the votes of a Suspect message.
func (e *Engine) stepSuspect(m *lsync.Suspect, from string, rd *Ready, now time.Time) {
	if m.Cluster != e.cfg.Cluster {
		return
	}
	e.gateVotes(m, from, now, rd)
	if e.cfg.Monitors <= 0 {
		return
	}
	e.route(rd, e.mon.TakeVotes(healthVotes(m.Votes), now))
}

// flushVotes adds to rd the monitor's own votes and verdicts formed since
// the last Ready.
func (e *Engine) flushVotes(rd *Ready) { e.route(rd, e.mon.Flush()) }

// gossipVotes is the votes to gossip to n targets, in Suspect messages,
// or nil.
func (e *Engine) gossipVotes(n int) []lsync.Message {
	votes := e.mon.Gossip(n)
	if votes == nil {
		return nil
	}
	return e.suspectMsgs(e.syncVotes(votes))
}

// ImplausibleVotes counts the votes dropped for a heartbeat beyond what
// the peer's own word allows.
func (e *Engine) ImplausibleVotes() uint64 { return e.mon.ImplausibleVotes() }

// Refutations counts the times this node found itself suspected and
// refuted it.
func (e *Engine) Refutations() uint64 { return e.mon.Refutations() }

// Votes reports the votes held against a peer: the heartbeat they are at
// and the voters (for status pages and tests).
func (e *Engine) Votes(id string) (hb uint64, by []string) { return e.mon.Votes(id) }
