package node

import (
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
	defer gossip.Stop()
	defer beat.Stop()
	defer check.Stop()
	n.round() // join at once rather than one interval late
	for {
		select {
		case <-n.stop:
			return
		case <-gossip.C():
			n.round()
		case <-beat.C():
			n.mu.Lock()
			n.state.Beat()
			n.mu.Unlock()
		case <-check.C():
			n.checkHealth()
		}
	}
}

// handle runs one received message through the core. Whatever the core
// accepted is made durable before it is committed, announced or answered.
func (n *Node) handle(pkt lsync.Packet) {
	n.counters.msgsIn.Add(1)
	n.counters.bytesIn.Add(uint64(len(pkt.Data)))
	msg, err := lsync.DecodeWith(pkt.Data, n.limits)
	if err != nil {
		n.counters.decodeErrors.Add(1)
		n.log.Debug().Err(err).Str("from", pkt.From).Msg("dropped undecodable message")
		return
	}
	msg = n.screen(msg)
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	st := n.state.Handle(msg, n.rng)
	if st.Batch != nil {
		start := time.Now()
		if err := n.store.Apply(st.Batch); err != nil {
			n.mu.Unlock()
			n.counters.storeErrors.Add(1)
			n.log.Error().Err(err).Str("from", pkt.From).Msg("could not persist deltas; dropped them")
			return
		}
		n.state.Commit(st.Batch)
		n.counters.batches.Add(1)
		n.counters.deltasApplied.Add(uint64(st.Batch.Len()))
		n.log.Trace().Int("records", st.Batch.Len()).Dur("took", time.Since(start)).Msg("batch persisted")
	}
	now := n.clock.Now()
	for _, id := range st.New {
		n.detector.Heartbeat(id, now) // tracked from first word of it
	}
	for _, id := range st.Heartbeats {
		n.detector.Heartbeat(id, now)
	}
	n.publishBatch(st.Batch)
	n.mu.Unlock()

	if st.BadCluster {
		if ok, suppressed := n.badClusterLog.allow(pkt.From, now); ok {
			n.log.Warn().Str("from", pkt.From).Str("type", msg.Type().String()).Uint64("suppressed", suppressed).
				Msg("message from another cluster ignored (logged at most once a minute per sender)")
		}
	}
	if st.Reply != nil {
		n.send(pkt.From, st.Reply)
	}
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
}

// round opens exchanges with this round's targets.
func (n *Node) round() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	syn := n.state.MakeSyn(n.rng)
	var live, unreachable []string
	for _, p := range n.state.Peers() {
		if p.Addr == "" {
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

// checkHealth re-evaluates every peer and announces the changes.
func (n *Node) checkHealth() {
	n.mu.Lock()
	rep := n.detector.Check(n.clock.Now())
	n.mu.Unlock()
	for _, ev := range []struct {
		t   EventType
		ids []string
	}{
		{EventDiscover, rep.Discovered},
		{EventSuspend, rep.Suspended},
		{EventRecover, rep.Recovered},
		{EventDead, rep.Dead},
	} {
		if len(ev.ids) == 0 {
			continue
		}
		n.log.Info().Strs("peers", ev.ids).Msg(ev.t.String())
		n.hub.publish(Event{Type: ev.t, Peers: ev.ids})
	}
}
