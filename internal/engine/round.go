package engine

import (
	"slices"
	"time"

	"github.com/leviathan-gossip/leviathan/health"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// targets caches the addresses a round chooses from. They are rebuilt
// only when membership, health or leaves changed (and every
// rebuildRounds rounds, for addresses that change without either): a
// rebuild walks every peer, and doing that every round was a large part
// of a 1000-node simulation.
type targets struct {
	dirty bool
	age   int
	live  []string // addresses of alive peers, in id order
	unrch []string // addresses of other known peers, in id order
	// joining counts the peers in unrch never seen alive yet.
	joining int
}

const rebuildRounds = 16

func (e *Engine) rebuild() {
	t := &e.ts
	// Sized as last time: grown by append, the lists kept had a third of
	// their room spare on average, at a list of every member per node.
	alive := make([]string, 0, e.ringSize+len(t.unrch)+8)
	t.live, t.unrch, t.joining = t.live[:0], t.unrch[:0], 0
	var down []string
	e.state.EachPeer(func(id, addr string) {
		if _, left := e.left[id]; addr == "" || left {
			// Heard of through a delta only (no address yet), or gone on
			// purpose.
			return
		}
		st, ok := e.det.State(id)
		if ok && st == health.Alive {
			t.live = append(t.live, addr)
		} else {
			t.unrch = append(t.unrch, addr)
			if ok && st == health.Joining {
				t.joining++
			}
		}
		if ok && (st == health.Alive || st == health.Joining) {
			// A joining peer is on the ring too: it is monitored from its
			// first beats, so one that fails right after joining is
			// suspected by its monitors rather than by the last resort.
			alive = append(alive, id)
		} else {
			down = append(down, id)
		}
	})
	t.live, t.unrch = tight(t.live), tight(t.unrch)
	t.dirty, t.age = false, 0
	e.ringSize = len(alive)
	e.mon.SetMembers(alive, down, t.live)
}

// tight returns l without more than a quarter of spare room.
func tight(l []string) []string {
	if cap(l) > len(l)+len(l)/4+16 {
		return slices.Clone(l)
	}
	return l
}

// Round opens this round's exchanges: one Syn to each target.
func (e *Engine) Round(now time.Time) Ready {
	if e.leaving {
		return Ready{} // a node that left opens no exchange
	}
	e.expire(now)
	e.flow.tick(now, e.state.Self().MaxVersion, e.flowLive)
	if e.ts.age++; e.ts.dirty || e.ts.age >= rebuildRounds {
		e.rebuild()
	}
	var rd Ready
	e.state.SetTime(uint64(now.UnixMilli()))
	// Members joining or coming back are news that is not data: while
	// there is some, digests are full and rounds reach every target. A
	// node still joining is news itself: a summary would not carry its
	// entry, and one whose asks were lost would stay unknown.
	loud := e.joining() || now.Sub(e.news) <= memberNewsRounds*e.cfg.Gossip
	e.state.SetLoud(loud)
	syn := e.state.MakeSyn(e.rng)
	fanout := e.cfg.Fanout
	if e.cfg.QuietFanout > 0 && !loud && e.state.Quiet() && !e.mon.Spreading() {
		// Nothing new to spread: one peer, and a summary in place of the
		// digest, answered only if the two differ (sync's summary.go).
		fanout = min(fanout, e.cfg.QuietFanout)
		if e.cfg.QuietSummary && e.cfg.Monitors > 0 {
			// Without monitors, heartbeats relayed in digests are all
			// the detector has: summaries would starve it.
			syn = e.state.SummarySyn()
		}
	}
	to := lsync.Targets(e.ts.live, e.ts.unrch, e.seeds, e.cfg.Self.Addr, fanout, e.rng)
	if len(to) == 0 {
		return rd
	}
	for _, addr := range to {
		rd.Send = append(rd.Send, Outgoing{To: addr, Msg: syn})
		e.sentToSeed(addr, &rd)
	}
	e.joinAsk(&rd, to, now)
	e.lateAsk(&rd, now)
	e.flushVotes(&rd)
	for _, sm := range e.gossipVotes(len(to)) {
		for _, addr := range to {
			rd.Send = append(rd.Send, Outgoing{To: addr, Msg: sm})
		}
	}
	return rd
}

// memberNewsRounds is how long rounds stay loud after membership news.
const memberNewsRounds = 5

// SilentSeedRounds is how many exchanges a seed that never answered may
// leave unanswered before it is reported (Ready.SilentSeeds): a seed with
// a wrong address or port, or not running, would otherwise go unnoticed
// while the node waits to join through it. A seed that answered once is a
// member like any other, watched by the detector.
const SilentSeedRounds = 5

// sentToSeed counts an exchange opened with addr if it is a seed that
// never answered.
func (e *Engine) sentToSeed(addr string, rd *Ready) {
	if !slices.Contains(e.seeds, addr) || e.seedSilence[addr] < 0 {
		return
	}
	e.seedSilence[addr]++
	if e.seedSilence[addr] == SilentSeedRounds {
		rd.SilentSeeds = append(rd.SilentSeeds, addr)
	}
}

// heardFrom notes a message from addr: a seed that answered is never
// reported silent. It reports whether addr was a seed reported silent.
func (e *Engine) heardFrom(addr string) (wasSilent bool) {
	n, ok := e.seedSilence[addr]
	if !ok && !slices.Contains(e.seeds, addr) || n < 0 {
		return false
	}
	e.seedSilence[addr] = -1 // bounded by the seed list
	return n >= SilentSeedRounds
}

// Live is the number of peers the detector holds alive, as of the last
// round or health check.
func (e *Engine) Live() int {
	if e.ts.dirty {
		e.rebuild()
	}
	return len(e.ts.live)
}

// Leave announces that the node is leaving on purpose: one Syn saying so
// to every known peer (gossip carries it to any missed). Best effort: a
// peer that does not hear suspects the node instead. From then on the
// engine opens no round, beats no more and takes no write.
//
// With signing, the node first signs its record again with its leave
// (seq one above the last) and sends it ahead of the Syn: peers take a
// leave only from the node's own record.
func (e *Engine) Leave() Ready {
	e.leaving = true
	e.state.Leave()
	var carry *lsync.Members
	if e.recs != nil && e.recs.own.rec != nil {
		if _, err := e.signOwn(e.ownSeq() + 1); err == nil {
			carry = e.withOwnRecord(&lsync.Members{Cluster: e.cfg.Cluster, From: e.cfg.Self.ID})
		}
	}
	syn := e.state.MakeSyn(e.rng)
	var rd Ready
	for _, p := range e.state.Peers() {
		if _, left := e.left[p.ID]; p.Addr != "" && !left {
			if carry != nil {
				rd.Send = append(rd.Send, Outgoing{To: p.Addr, Msg: carry})
			}
			rd.Send = append(rd.Send, Outgoing{To: p.Addr, Msg: syn})
		}
	}
	return rd
}
