package node

import (
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/leviathan-gossip/leviathan/health"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// counters are the node's own measurements, read by Stats.
type counters struct {
	rounds        atomic.Uint64
	msgsIn        atomic.Uint64
	msgsOut       atomic.Uint64
	bytesIn       atomic.Uint64
	bytesOut      atomic.Uint64
	decodeErrors  atomic.Uint64
	sendErrors    atomic.Uint64
	storeErrors   atomic.Uint64
	deltasApplied atomic.Uint64
	batches       atomic.Uint64
}

// receiveLoop handles messages until the transport closes.
func (n *Node) receiveLoop() {
	defer n.wg.Done()
	for pkt := range n.transport.Recv() {
		n.handle(pkt)
	}
}

// tickLoop drives gossip rounds, heartbeats and health checks.
func (n *Node) tickLoop() {
	defer n.wg.Done()
	gossip := n.clock.NewTicker(n.cfg.GossipVal.D())
	beat := n.clock.NewTicker(n.cfg.HeartbeatVal.D())
	check := n.clock.NewTicker(n.cfg.HealthCheckVal.D())
	reduce := n.clock.NewTicker(n.cfg.ReduceVal.D())
	defer gossip.Stop()
	defer beat.Stop()
	defer check.Stop()
	defer reduce.Stop()
	n.round() // join at once rather than one interval late
	for {
		select {
		case <-n.stop:
			return
		case <-gossip.C():
			n.round()
		case <-beat.C():
			n.mu.Lock()
			if !n.leaving { // after Leave the heartbeat stays put (membership.go)
				n.state.Beat()
			}
			n.mu.Unlock()
		case <-check.C():
			n.checkHealth()
		case <-reduce.C():
			n.reduce()
		}
	}
}

// handle runs one received message through the core. Whatever the core
// accepted is made durable before it is committed, announced or answered.
func (n *Node) handle(pkt lsync.Packet) {
	n.counters.msgsIn.Add(1)
	n.counters.bytesIn.Add(uint64(len(pkt.Data)))
	start := time.Now()
	msg, err := lsync.DecodeWith(pkt.Data, n.limits)
	if err == nil && len(pkt.Data) > 64<<10 {
		typ := msg.Type().String()
		defer func() {
			n.log.Debug().Int("bytes", len(pkt.Data)).Str("type", typ).Str("from", pkt.From).
				Dur("took", time.Since(start)).Msg("large message handled")
		}()
	}
	if err != nil {
		n.counters.decodeErrors.Add(1)
		n.metrics.received("invalid", len(pkt.Data))
		n.log.Debug().Err(err).Str("from", pkt.From).Msg("dropped undecodable message")
		return
	}
	n.metrics.received(msg.Type().String(), len(pkt.Data))
	msg = n.screen(msg)
	n.mu.Lock()
	if n.closed || n.failed != nil {
		n.mu.Unlock()
		return
	}
	now := n.clock.Now()
	n.state.SetGenerationCeiling(uint64(now.Add(maxGenerationSkew).UnixMilli()))
	n.state.SetTime(uint64(now.UnixMilli()))
	st := n.state.HandleFrom(msg, pkt.From, n.rng) // issue 14: the source proves generation changes
	if err := n.persist(st.Batch); err != nil {
		n.mu.Unlock()
		return
	}
	back := n.noteLiveness(&st.Observed, now)
	n.publishBatch(st.Batch)
	var pull *lsync.Syn
	if _, isReply := msg.(*lsync.SynAck); isReply {
		delete(n.pulls, pkt.From) // the exchange we opened is answered
	}
	if st.PullAgain && n.pullDue(pkt.From, now) {
		pull = n.state.MakeSyn(n.rng)
		n.pulls[pkt.From] = now
	}
	n.mu.Unlock()

	n.announce(EventLeave, st.Left)
	n.announce(EventRecover, back)
	if st.BadCluster {
		if ok, suppressed := n.badClusterLog.allow(pkt.From, now); ok {
			n.log.Warn().Str("from", pkt.From).Str("type", msg.Type().String()).Uint64("suppressed", suppressed).
				Msg("message from another cluster ignored (logged at most once a minute per sender)")
		}
	}
	if st.Reply != nil {
		n.send(pkt.From, st.Reply)
	}
	if pull != nil {
		// The sender had more than one message could carry: keep pulling
		// now, so catch-up runs at the speed of the disk, not of rounds.
		n.send(pkt.From, pull)
	}
}

// noteLiveness feeds what a message taught about peers to the detector
// and returns the peers back after a leave that no health check will
// report. The caller holds mu.
func (n *Node) noteLiveness(obs *lsync.Observed, now time.Time) (back []string) {
	for _, id := range obs.New {
		n.detector.Heartbeat(id, now) // tracked from first word of it
	}
	for _, id := range obs.Heartbeats {
		n.detector.Heartbeat(id, now)
		if n.left[id] {
			// Back after a leave. If the detector never suspected it, no
			// recovery would be reported: report it here. Otherwise the
			// next health check reports the recovery.
			if s, _ := n.detector.State(id); s == health.Alive {
				delete(n.left, id)
				back = append(back, id)
			}
		}
	}
	for _, id := range obs.Forgotten {
		// Issue 14: a ghost (only ever listed, never alive) is dropped.
		n.detector.Remove(id)
		delete(n.deadSince, id)
		delete(n.left, id)
	}
	for _, id := range obs.Left {
		// Gone on purpose: its suspicion and death are not announced (it
		// is still removed after dead_grace), and its return is a recovery.
		n.left[id] = true
	}
	return back
}

// maxGenerationSkew bounds how far in the future a generation (a node's
// data-directory creation time) may plausibly be, as in Cassandra.
const maxGenerationSkew = 365 * 24 * time.Hour

// persist makes a batch durable, then commits it to the core. A store
// error leaves disk and memory possibly apart (a large batch may be half
// written): the node stops taking writes and gossip until restarted, when
// Load rebuilds a consistent state. The caller holds mu.
func (n *Node) persist(b *lsync.Batch) error {
	if b.Empty() {
		return nil
	}
	start := time.Now()
	if err := n.store.Apply(b); err != nil {
		n.counters.storeErrors.Add(1)
		n.failed = fmt.Errorf("%w: %w", ErrStoreFailed, err)
		n.log.Error().Err(err).Msg("store write failed: node stopped; restart it to recover")
		return n.failed
	}
	n.state.Commit(b)
	if b.Changes[0].Meta.ID == n.id {
		n.metrics.localWrite(time.Since(start))
	} else {
		n.metrics.remoteBatch(b.Len(), time.Since(start))
	}
	n.counters.batches.Add(1)
	n.counters.deltasApplied.Add(uint64(b.Len()))
	n.log.Debug().Int("records", b.Len()).Dur("took", time.Since(start)).Msg("batch persisted")
	return nil
}

// publishBatch announces the peers' records of a durable batch.
func (n *Node) publishBatch(b *lsync.Batch) {
	if b.Empty() {
		return
	}
	var updates, deletes []Delta
	for _, c := range b.Changes {
		if c.Meta.ID == n.id {
			continue
		}
		for _, r := range c.Records {
			d := Delta{Peer: c.Meta.ID, Key: r.Key, Value: r.Value, Version: r.Version, Deleted: r.Tombstone}
			if r.Tombstone {
				d.Value = nil // a tombstone's value is its deletion time, not data
				deletes = append(deletes, d)
			} else {
				updates = append(updates, d)
			}
		}
	}
	if len(updates) > 0 {
		n.hub.publish(Event{Type: EventUpdates, Deltas: updates})
	}
	if len(deletes) > 0 {
		n.hub.publish(Event{Type: EventDelete, Deltas: deletes})
	}
}

func (n *Node) send(addr string, m lsync.Message) {
	b, err := lsync.Encode(m)
	if err != nil {
		n.counters.sendErrors.Add(1)
		n.log.Error().Err(err).Msg("encode failed")
		return
	}
	n.sendRaw(addr, b, m.Type())
}

func (n *Node) sendRaw(addr string, b []byte, t lsync.MsgType) {
	if err := n.transport.Send(addr, b); err != nil {
		n.counters.sendErrors.Add(1)
		n.log.Debug().Err(err).Str("to", addr).Str("type", t.String()).Msg("send failed")
		return
	}
	n.counters.msgsOut.Add(1)
	n.counters.bytesOut.Add(uint64(len(b)))
	n.metrics.sent(t, len(b))
}

// round opens exchanges with this round's targets.
func (n *Node) round() {
	n.mu.Lock()
	if n.closed || n.leaving { // a node that left opens no exchange (membership.go)
		n.mu.Unlock()
		return
	}
	syn := n.state.MakeSyn(n.rng)
	var live, unreachable []string
	for _, p := range n.state.Peers() {
		if p.Addr == "" || n.left[p.ID] {
			continue
		}
		if st, ok := n.detector.State(p.ID); ok && st == health.Alive {
			live = append(live, p.Addr)
		} else {
			unreachable = append(unreachable, p.Addr)
		}
	}
	targets := lsync.Targets(live, unreachable, n.seeds, n.transport.Addr(), n.cfg.Fanout, n.rng)
	n.mu.Unlock()

	n.counters.rounds.Add(1)
	if len(targets) == 0 {
		return
	}
	b, err := lsync.Encode(syn)
	if err != nil {
		n.log.Error().Err(err).Msg("encode syn failed")
		return
	}
	for _, t := range targets {
		// Each send gets its own copy: a transport owns what it is given.
		n.sendRaw(t, append([]byte(nil), b...), lsync.MsgSyn)
	}
}

// checkHealth re-evaluates every peer, removes those dead for longer than
// dead_grace, and announces the changes.
func (n *Node) checkHealth() {
	n.mu.Lock()
	now := n.clock.Now()
	rep := n.detector.Check(now)
	for _, id := range rep.Dead {
		n.deadSince[id] = now
	}
	rep.Suspended, rep.Dead = n.notLeft(rep.Suspended), n.notLeft(rep.Dead)
	for _, id := range rep.Recovered {
		delete(n.deadSince, id)
		delete(n.left, id)
	}
	removed := n.removeDead(now)
	n.mu.Unlock()
	for _, ev := range []struct {
		t   EventType
		ids []string
	}{
		{EventDiscover, rep.Discovered},
		{EventSuspend, rep.Suspended},
		{EventRecover, rep.Recovered},
		{EventDead, rep.Dead},
		{EventRemove, removed},
	} {
		n.announce(ev.t, ev.ids)
	}
}

// announce logs and publishes a peer event, if there are peers.
func (n *Node) announce(t EventType, ids []string) {
	if len(ids) == 0 {
		return
	}
	n.logPeerEvent(t, ids)
	n.hub.publish(Event{Type: t, Peers: ids})
}

// removeDead forgets peers dead for longer than dead_grace, data included,
// unless keep_dead_peers. The caller holds mu.
func (n *Node) removeDead(now time.Time) []string {
	if n.cfg.KeepDeadPeers {
		return nil
	}
	var removed []string
	for id, since := range n.deadSince {
		if now.Sub(since) < n.cfg.DeadGrace.D() {
			continue
		}
		if err := n.persist(n.state.Remove(id)); err != nil {
			break
		}
		n.detector.Remove(id)
		delete(n.deadSince, id)
		removed = append(removed, id)
	}
	sort.Strings(removed)
	return removed
}

// reduce collects the local node's tombstones older than tombstone_grace;
// peers drop their copies when they see the new horizon.
func (n *Node) reduce() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || n.failed != nil {
		return
	}
	b := n.state.CollectTombstones(uint64(n.clock.Now().UnixMilli()), uint64(n.cfg.TombstoneGrace.D().Milliseconds()))
	if err := n.persist(b); err == nil && !b.Empty() {
		n.log.Debug().Int("tombstones", len(b.Changes[0].Drop)).Uint64("gc_version", b.Changes[0].Meta.GCVersion).Msg("tombstones collected")
	}
	if gc, ok := n.store.(interface{ GC() error }); ok {
		if err := gc.GC(); err != nil {
			n.log.Warn().Err(err).Msg("value log collection failed")
		}
	}
}

// notLeft filters out peers that announced their leave. The caller holds mu.
func (n *Node) notLeft(ids []string) []string {
	out := ids[:0]
	for _, id := range ids {
		if !n.left[id] {
			out = append(out, id)
		}
	}
	return out
}

// pullDue reports whether a catch-up exchange may be opened with addr: one
// at a time per peer. Without this, every round's reply that says More
// would start another chain of pulls, each fetching the same deltas, and
// a node far behind would drown in duplicates. A pull unanswered for two
// rounds is given up. The caller holds mu.
func (n *Node) pullDue(addr string, now time.Time) bool {
	sent, ok := n.pulls[addr]
	return !ok || now.Sub(sent) > 2*n.cfg.GossipVal.D()
}
