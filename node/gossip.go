package node

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/leviathan-gossip/leviathan/internal/engine"
	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/transport"
	"github.com/leviathan-gossip/leviathan/sync/wire"
)

// counters are the node's own measurements. Each is kept once, here:
// Status and the metrics' collector both read them.
type counters struct {
	rounds        atomic.Uint64
	in, out       traffic
	sendErrors    atomic.Uint64
	storeErrors   atomic.Uint64
	dataDropped   atomic.Uint64 // data messages dropped on a full data lane
	dataStale     atomic.Uint64 // data messages dropped after waiting too long in the lane
	deltasApplied atomic.Uint64
	batches       atomic.Uint64
}

// traffic counts messages and their bytes by type (received ones that did
// not decode under undecodable). Status sums it; the metrics list it by
// type.
type traffic struct {
	msgs, bytes [256]atomic.Uint64 // by lsync.MsgType, which a uint8 index cannot overflow
}

// undecodable is where traffic counts messages that did not decode: no
// message type is 0.
const undecodable lsync.MsgType = 0

func (t *traffic) add(typ lsync.MsgType, size int) {
	t.msgs[typ].Add(1)
	t.bytes[typ].Add(uint64(size))
}

// total sums the counts over every type.
func (t *traffic) total() (msgs, bytes uint64) {
	for i := range t.msgs {
		msgs += t.msgs[i].Load()
		bytes += t.bytes[i].Load()
	}
	return msgs, bytes
}

// The node drives its engine (internal/engine) from four goroutines:
//
//   - receiveLoop steps every received message;
//   - tickLoop runs rounds, heartbeats and health checks;
//   - maintLoop removes dead peers, collects tombstones and runs the
//     store's garbage collection;
//   - writers (Set and friends) commit local writes as a group.
//
// n.mu guards the engine and is held only while it computes: never across
// a store write, a send or a GC. Paths that produce a batch (receive,
// writes, removal, collection) also hold n.seq from computing the batch
// until it is committed, so that no two batches are out at once (both
// could hold the same records); heartbeats, rounds, health checks and
// reads never take n.seq, so a node busy with its disk keeps beating and
// is not suspected by its peers.

// receiveLoop sorts received messages into two lanes until the transport
// closes. Beats and votes are liveness: handled here at once, and never
// waiting for the store. Everything else carries data, persisted and read
// from the store: it goes to dataLoop through a bounded queue, so that a
// flood of exchanges, or one slow to persist, delays no heartbeat, vote
// or refutation. A full queue (dataQueue messages of the largest size, in
// bytes) drops the message, as a full socket buffer would; its sender
// asks again next round.
func (n *Node) receiveLoop() {
	defer n.wg.Done()
	defer close(n.dataIn)
	for pkt := range n.transport.Recv() {
		if typ, err := wire.PeekType(pkt.Data); err == nil && (typ == lsync.MsgBeat || typ == lsync.MsgSuspect) {
			n.handleWith(pkt, n.lockForLiveness)
			continue
		}
		size := int64(len(pkt.Data))
		if n.dataBytes.Add(size) > int64(dataQueue*n.cfg.MaxMessageSize) {
			n.dataBytes.Add(-size)
			n.counters.dataDropped.Add(1)
			continue
		}
		select {
		case n.dataIn <- queued{pkt, n.clock.Now()}:
		default:
			n.dataBytes.Add(-size)
			n.counters.dataDropped.Add(1)
		}
	}
}

// dataQueue bounds the data messages waiting for dataLoop: at most this
// many times max_message_size in memory, beyond the transport's own queue.
// The bound is in bytes, not messages: a cold start sends every member a
// burst of small datagrams (asks, hellos) at once, and a bound of
// dataQueue messages dropped most of them. dataQueueMessages bounds their
// count: a few seconds of steady writers' pushes, so that a node whose
// store stalls for a moment (a compaction, a sweep) drops none of them —
// each push continues the last one from its writer, and one dropped
// leaves a gap until an exchange. Exchanges that wait are shed by age
// (stale), not by the bound.
const (
	dataQueue         = 16
	dataQueueMessages = 4096
)

// queued is a data message and the time it entered the lane.
type queued struct {
	pkt transport.Packet
	at  time.Time
}

// exchange reports whether typ is a message of an exchange (Syn, SynAck,
// Ack): one that answers, or asks for, a digest of its moment. Only those
// go stale; a push carries what its sender just committed, and a member
// list (a join's, a new generation's word, node records) is sent once.
func exchange(typ lsync.MsgType) bool {
	return typ == lsync.MsgSyn || typ == lsync.MsgSynAck || typ == lsync.MsgAck
}

// stale reports whether a data message waited so long that handling it
// costs more than it brings. An exchange's digest is a snapshot: one that
// waited half a round is answered with records its sender has since had
// from others, and the answer's own digest asks for records sent meanwhile,
// so a node behind would spend its time on duplicates and fall further
// behind. Its sender asks again next round, with its digest as it is then.
// A deep lane is kept for bursts that are handled quickly (a cold start's
// asks and hellos); this bound sheds what waits once the node is behind.
//
// A reply larger than a datagram is never stale: it came on the stream
// path, one of an ordered series of chunks its sender counts as in flight
// and continues after (sync's inflight.go), so dropping it would leave a
// gap that every later chunk repeats until the sender gives the chunk up,
// seconds later. Its records are the ones this node asked for.
func (n *Node) stale(q queued) bool {
	if len(q.pkt.Data) > n.transport.PacketSize() {
		return false
	}
	return n.clock.Now().Sub(q.at) > n.cfg.GossipVal/2
}

// pushesAtOnce bounds the data messages the data loop takes from the lane
// at once, and so the pushes it joins into one step.
const pushesAtOnce = 64

// dataLoop handles the data lane. It takes what waits there together:
// the pushes among it are joined into one step and one batch, as each
// store write has a cost of its own whatever it holds, and a node that
// receives every peer's writes would otherwise spend its time on them.
// The rest is handled in the order it came.
func (n *Node) dataLoop() {
	defer n.wg.Done()
	qs := make([]queued, 0, pushesAtOnce)
	for q := range n.dataIn {
		qs = append(qs[:0], q)
	gather:
		for len(qs) < pushesAtOnce {
			select {
			case q, ok := <-n.dataIn:
				if !ok {
					break gather
				}
				qs = append(qs, q)
			default:
				break gather
			}
		}
		n.handleData(qs)
	}
}

// handleData handles data messages taken from the lane together.
func (n *Node) handleData(qs []queued) {
	var pushes []*lsync.Push
	from := ""
	rest := qs[:0]
	for _, q := range qs {
		n.dataBytes.Add(-int64(len(q.pkt.Data)))
		typ, err := wire.PeekType(q.pkt.Data)
		if err == nil && typ == lsync.MsgPush {
			if p := n.decodePush(q.pkt); p != nil {
				if from == "" {
					from = q.pkt.From
				}
				pushes = append(pushes, p)
			}
			continue
		}
		if err == nil && exchange(typ) && n.stale(q) {
			n.counters.dataStale.Add(1)
			continue
		}
		rest = append(rest, q)
	}
	switch len(pushes) {
	case 0:
	case 1:
		n.step(from, pushes[0], n.dataLock(n.lockForPush))
	default:
		n.step(from, lsync.MergePushes(pushes), n.dataLock(n.lockForPush))
	}
	for _, q := range rest {
		n.handleWith(q.pkt, n.dataLock(n.lockForStep))
	}
}

// decodePush decodes a push to be joined with others, counting it; nil if
// it does not decode or is of another cluster (that one is handled alone,
// to be answered BadCluster).
func (n *Node) decodePush(pkt transport.Packet) *lsync.Push {
	msg, err := wire.DecodeWith(pkt.Data, n.limits)
	p, ok := msg.(*lsync.Push)
	if err != nil || !ok || p.Cluster != n.cfg.Cluster {
		n.handleWith(pkt, n.dataLock(n.lockForPush))
		return nil
	}
	n.counters.in.add(lsync.MsgPush, len(pkt.Data))
	return p
}

// dataLock is lock, unless peers' data would fill the disk's reserve:
// then the message is taken for liveness only, and its senders keep its
// data for when space is back.
func (n *Node) dataLock(lock func() (held, ok bool)) func() (held, ok bool) {
	if err := n.reserve.check(); err != nil {
		if !n.lowDiskLog.Swap(true) {
			n.log.Error().Err(err).Msg("disk nearly full: writes and peers' data refused until space is freed")
		}
		return n.lockNoData
	}
	n.lowDiskLog.Store(false)
	return lock
}

// lockNoData takes n.mu alone: the step's batch is dropped.
func (n *Node) lockNoData() (held, ok bool) {
	n.mu.Lock()
	return n.unlessStopped(false)
}

// tickLoop drives gossip rounds, heartbeats and health checks.
func (n *Node) tickLoop() {
	defer n.wg.Done()
	n.round() // join at once rather than one interval late
	if !n.waitPhase() {
		return
	}
	gossip := n.clock.NewTicker(n.cfg.GossipVal)
	var probe <-chan time.Time // armed by probeReq, for one tick
	var probeTicker Ticker
	defer func() {
		if probeTicker != nil {
			probeTicker.Stop()
		}
	}()
	beat := n.clock.NewTicker(n.cfg.HeartbeatVal)
	check := n.clock.NewTicker(n.cfg.HealthCheckVal)
	reduce := n.clock.NewTicker(n.cfg.ReduceVal)
	defer gossip.Stop()
	defer beat.Stop()
	defer check.Stop()
	defer reduce.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-gossip.C():
			n.round()
		case at := <-n.probeReq:
			if probeTicker != nil {
				probeTicker.Stop()
			}
			probeTicker = n.clock.NewTicker(max(time.Millisecond, at.Sub(n.clock.Now())))
			probe = probeTicker.C()
		case <-probe:
			probeTicker.Stop()
			probeTicker, probe = nil, nil
			n.probe()
		case <-beat.C():
			n.mu.Lock()
			if n.failed != nil {
				// A node that takes no data must not look healthy: silent,
				// its peers suspend it instead of sending it writes it drops.
				n.mu.Unlock()
				continue
			}
			rd := n.eng.Beat(n.clock.Now())
			gen, base, length, renew := n.eng.ChainDue()
			n.followChain(n.eng.State().Heartbeat())
			if h, keep := n.eng.HorizonDue(); keep {
				n.keepHorizon(h)
			}
			n.mu.Unlock()
			n.sendAll(rd.Send)
			if renew {
				n.renewChain(gen, base, length)
			}
		case <-check.C():
			n.checkHealth()
		case <-reduce.C():
			n.reduceDue.Store(true)
			n.kickMaint()
		}
	}
}

// waitPhase waits for the node's random phase (drawn at New, within one
// gossip interval) before its timers start: nodes started together, as a
// deploy or a test starts them, would otherwise tick together, and a
// write would wait a whole round at every hop. It reports false if the
// node stopped meanwhile.
func (n *Node) waitPhase() bool {
	if n.phase <= 0 {
		return true
	}
	t := n.clock.NewTicker(n.phase)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-n.stop:
		return false
	}
}

// maintLoop runs the work that writes to or collects in the store outside
// the tick loop, so that a slow disk delays it and not the heartbeats.
func (n *Node) maintLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stop:
			return
		case <-n.maint:
		}
		n.removeDead()
		if n.reduceDue.Swap(false) {
			n.reduce()
		}
	}
}

// kickMaint wakes maintLoop unless it has a wake-up pending.
func (n *Node) kickMaint() {
	select {
	case n.maint <- struct{}{}:
	default:
	}
}

// handleWith runs one received message through the engine, under the
// locks lock takes. Whatever it accepted is made durable before it is
// committed, announced or answered.
func (n *Node) handleWith(pkt transport.Packet, lock func() (held, ok bool)) {
	start := time.Now()
	msg, err := wire.DecodeWith(pkt.Data, n.limits)
	if err == nil && len(pkt.Data) > 64<<10 {
		typ := msg.Type().String()
		defer func() {
			n.log.Debug().Int("bytes", len(pkt.Data)).Str("type", typ).Str("from", pkt.From).
				Dur("took", time.Since(start)).Msg("large message handled")
		}()
	}
	if err != nil {
		n.counters.in.add(undecodable, len(pkt.Data))
		n.log.Debug().Err(err).Str("from", pkt.From).Msg("dropped undecodable message")
		return
	}
	n.counters.in.add(msg.Type(), len(pkt.Data))
	n.step(pkt.From, msg, lock)
}

// step runs a decoded message from the address from through the engine,
// under the locks lock takes.
func (n *Node) step(from string, msg lsync.Message, lock func() (held, ok bool)) {
	pv := n.checkProofs(msg)
	held, ok := lock()
	if !ok {
		return
	}
	now := n.clock.Now()
	rd := n.eng.StepProven(now, from, msg, pv)
	n.guard.meet(rd.Send)
	if !held {
		// Without n.seq no batch may go out: its data is dropped, its
		// liveness kept (a ghost's meta waits for its next message).
		n.eng.Abort(&rd)
		rd.Batch = nil
	}
	n.mu.Unlock()
	if n.eng.Apply(&rd, &driver{n: n, seq: held}) != nil {
		return
	}
	if rd.AnsweredSeed != "" {
		n.log.Info().Str("seed", rd.AnsweredSeed).Msg("seed answered at last")
	}
	n.logRejected(rd.Rejected, now)
	if rd.BadCluster {
		if ok, suppressed := n.badClusterLog.allow(from, now); ok {
			n.log.Warn().Str("from", from).Str("type", msg.Type().String()).Uint64("suppressed", suppressed).
				Msg("message from another cluster ignored (logged at most once a minute per sender)")
		}
	}
}

// checkProofs checks the record proofs of a message's deltas before the
// message is stepped: hashing the records of a catch-up message of
// megabytes takes tens of milliseconds, which would keep n.mu, and with it
// beats and rounds, waiting. Only the keys to check against are read
// under n.mu.
func (n *Node) checkProofs(msg lsync.Message) *engine.Proven {
	if n.signer == nil || !carriesRecords(msg) {
		return nil
	}
	n.mu.Lock()
	if n.eng == nil {
		n.mu.Unlock()
		return nil
	}
	pv := n.eng.ProofKeys(msg)
	n.mu.Unlock()
	pv.Check(msg)
	return pv
}

// carriesRecords reports whether a message holds records of some node.
func carriesRecords(msg lsync.Message) bool {
	var ds []lsync.NodeDelta
	switch m := msg.(type) {
	case *lsync.Push:
		ds = m.Deltas
	case *lsync.SynAck:
		ds = m.Deltas
	case *lsync.Ack:
		ds = m.Deltas
	}
	for i := range ds {
		if len(ds[i].Records) > 0 {
			return true
		}
	}
	return false
}

// lockForStep takes n.mu, and n.seq if it can, to step a received
// message; ok is false if the node is closed or failed. While another
// path's batch is being persisted, it waits for n.seq a little, then steps
// without it: the engine, busy, then takes only the message's liveness and
// answers it, dropping its data for the sender to resend. Otherwise a
// store stalled for seconds would stall receiving, and the node would
// suspect every peer.
func (n *Node) lockForStep() (held, ok bool) {
	return n.lockWaiting(min(n.cfg.HeartbeatVal/4, 50*time.Millisecond))
}

// lockForPush is lockForStep for a push, which waits up to a gossip
// interval for the batch being persisted: a push's data dropped while busy
// is never sent again (a push has no answer to ask for it), so its records
// would wait for the rounds, while an exchange's sender pulls again. Only
// the data lane waits: beats and votes have their own.
func (n *Node) lockForPush() (held, ok bool) { return n.lockWaiting(n.cfg.GossipVal) }

func (n *Node) lockWaiting(wait time.Duration) (held, ok bool) {
	held = n.seq.lockWithin(wait)
	n.mu.Lock()
	if !held && !n.eng.Busy() {
		// The holder has no batch out: it is about to compute one, or
		// finishing an empty one. Either is quick.
		n.mu.Unlock()
		n.seq.Lock()
		held = true
		n.mu.Lock()
	}
	return n.unlessStopped(held)
}

// lockForLiveness takes n.mu, and n.seq only if it is free: a beat or a
// vote never waits for a batch being persisted. ok is false if the node is
// closed or failed.
func (n *Node) lockForLiveness() (held, ok bool) {
	held = n.seq.TryLock()
	n.mu.Lock()
	return n.unlessStopped(held)
}

// unlessStopped ends a lock*: with n.mu held (and n.seq if held), it lets
// go of both and reports !ok if the node is closed or failed.
func (n *Node) unlessStopped(held bool) (bool, bool) {
	if n.closed || n.failed != nil {
		n.mu.Unlock()
		if held {
			n.seq.Unlock()
		}
		return false, false
	}
	return held, true
}

// driver is the node's engine.Driver: engine.Apply keeps the order of a
// Ready's effects, the driver the node's locks. The store write runs
// without n.mu, the commit under it; n.seq, when the caller holds it
// (seq), stays held until the batch is committed or aborted, so that no
// two batches are out at once, and no longer, so that publishing and
// sending hold up no other batch.
type driver struct {
	n     *Node
	seq   bool
	start time.Time
	// ordered is set for a local write's Ready: its pushes go out in the
	// order the writes were committed (see Settled).
	ordered bool
}

func (d *driver) Lock()   { d.n.mu.Lock() }
func (d *driver) Unlock() { d.n.mu.Unlock() }

// Settled lets the next batch be made. A local write's pushes must reach
// each peer in the order of the writes: a steady writer's push to a peer
// starts where its last push there ended, and one overtaken by the next
// would leave the peer a gap that every later push repeats. So, still
// holding n.seq, it takes n.sendOrder, which Send releases: the next
// write's sends wait for this one's.
func (d *driver) Settled() {
	if d.ordered {
		d.n.sendOrder.Lock()
	}
	if d.seq {
		d.n.seq.Unlock()
	}
}

// Persist writes a batch to the store. A store error leaves disk and
// memory possibly apart (a large batch may be half written): the node
// stops taking writes and gossip until restarted, when Load rebuilds a
// consistent state.
func (d *driver) Persist(b *lsync.Batch) error {
	d.start = time.Now()
	if err := d.n.store.Apply(b); err != nil {
		d.n.log.Error().Err(err).Msg("store write failed: node stopped; restart it to recover")
		return fmt.Errorf("%w: %w", ErrStoreFailed, err)
	}
	return nil
}

func (d *driver) Committed(rd *engine.Ready, err error) {
	n, b := d.n, rd.Batch
	if err != nil {
		n.counters.storeErrors.Add(1)
		n.failed = err
		return
	}
	took := time.Since(d.start)
	if rd.LocalWrite() && n.signer != nil {
		n.signer.committed(b)
	}
	if rd.LocalWrite() {
		n.wroteOnce()
	}
	if rd.LocalWrite() {
		d.ordered = d.seq
		n.metrics.localWrite(took)
	} else {
		n.metrics.remoteBatch(b.Len(), took)
	}
	n.counters.batches.Add(1)
	n.counters.deltasApplied.Add(uint64(b.Len()))
	n.log.Debug().Int("records", b.Len()).Dur("took", took).Msg("batch persisted")
}

func (d *driver) Publish(rd *engine.Ready) { d.n.publish(rd) }
func (d *driver) Send(out []engine.Outgoing) {
	if d.n.signer != nil {
		d.n.signer.send(out)
	} else {
		d.n.sendAll(out)
	}
	if d.ordered {
		d.ordered = false
		d.n.sendOrder.Unlock()
	}
}

// ProbeAt hands the probe's time to tickLoop, which runs it (probe).
func (d *driver) ProbeAt(t time.Time) {
	select {
	case d.n.probeReq <- t:
	default: // one pending already: the engine keeps one at a time
	}
}

// publish announces a committed Ready: the peers' records of its batch,
// then its peer events. The first discovery is the node's first contact.
func (n *Node) publish(rd *engine.Ready) {
	n.publishBatch(rd.Batch)
	for _, ev := range rd.Events {
		if ev.Kind == engine.Discover {
			n.noteContact()
		}
		n.announce(eventType(ev.Kind), ev.Peers)
	}
}

func eventType(k engine.EventKind) EventType {
	switch k {
	case engine.Discover:
		return EventDiscover
	case engine.Suspend:
		return EventSuspend
	case engine.Recover:
		return EventRecover
	case engine.Dead:
		return EventDead
	case engine.Remove:
		return EventRemove
	}
	return EventLeave
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
		n.hub.publish(Event{Type: EventUpdates, Time: n.clock.Now(), Deltas: updates})
	}
	if len(deletes) > 0 {
		n.hub.publish(Event{Type: EventDelete, Time: n.clock.Now(), Deltas: deletes})
	}
}

// sendAll encodes and sends; messages shared by several targets (a
// round's Syn) are encoded once.
func (n *Node) sendAll(out []engine.Outgoing) {
	var last lsync.Message
	var enc []byte
	for _, o := range out {
		if o.Msg != last {
			b, err := wire.Encode(o.Msg)
			if err != nil {
				n.counters.sendErrors.Add(1)
				n.log.Error().Err(err).Str("type", o.Msg.Type().String()).Msg("encode failed")
				last, enc = nil, nil
				continue
			}
			last, enc = o.Msg, b
		}
		// Each send gets its own copy: a transport owns what it is given.
		n.sendRaw(o.To, append([]byte(nil), enc...), o.Msg.Type())
	}
}

func (n *Node) sendRaw(addr string, b []byte, t lsync.MsgType) {
	if err := n.transport.Send(addr, b); err != nil {
		n.counters.sendErrors.Add(1)
		n.log.Debug().Err(err).Str("to", addr).Str("type", t.String()).Msg("send failed")
		return
	}
	n.counters.out.add(t, len(b))
}

// round opens exchanges with this round's targets.
func (n *Node) round() {
	n.mu.Lock()
	// A node that left opens no exchange (membership.go), nor does one
	// whose store failed: it would be taken for healthy.
	if n.closed || n.leaving || n.failed != nil {
		n.mu.Unlock()
		return
	}
	rd := n.eng.Round(n.clock.Now())
	refused := n.eng.Stats().PeersRefused
	n.mu.Unlock()
	n.counters.rounds.Add(1)
	if last := n.peersRefused.Swap(refused); refused > last && last == 0 {
		n.log.Warn().Int("max_peers", n.cfg.MaxPeers).
			Msg("max_peers nodes known: ids heard of since are ignored (see leviathan_rejected_total{reason=\"peer_limit\"})")
	}
	for _, s := range rd.SilentSeeds {
		n.log.Warn().Str("seed", s).Int("exchanges", engine.SilentSeedRounds).
			Msg("seed has not answered: check its address and port, and that it runs in this cluster with the same keys")
	}
	n.sendAll(rd.Send)
}

// probe runs the engine's pending probe (engine's probe.go).
func (n *Node) probe() {
	n.mu.Lock()
	if n.failed != nil {
		n.mu.Unlock()
		return
	}
	rd := n.eng.Probe(n.clock.Now())
	n.mu.Unlock()
	n.sendAll(rd.Send)
	if !rd.ProbeAt.IsZero() { // woken early: wait again
		(&driver{n: n}).ProbeAt(rd.ProbeAt)
	}
}

// checkHealth re-evaluates every peer and announces the changes; removal
// of the long dead is left to maintLoop.
func (n *Node) checkHealth() {
	n.mu.Lock()
	now := n.clock.Now()
	rd := n.eng.Check(now)
	due := n.eng.RemovalDue(now)
	n.mu.Unlock()
	n.sendAll(rd.Send) // votes of monitors that found a peer silent, verdicts to broadcast
	n.publish(&rd)
	if due {
		n.kickMaint()
	}
}

// announce logs and publishes a peer event, if there are peers.
func (n *Node) announce(t EventType, ids []string) {
	if len(ids) == 0 {
		return
	}
	n.logPeerEvent(t, ids)
	n.hub.publish(Event{Type: t, Time: n.clock.Now(), Peers: ids})
}

// removeDead forgets peers dead for longer than dead_grace, data included,
// unless keep_dead_peers.
func (n *Node) removeDead() { n.maintain(n.eng.Reap) }

// reduce collects the local node's tombstones older than tombstone_grace,
// then lets the store collect its garbage, outside every lock.
func (n *Node) reduce() {
	rd, ok := n.collect()
	if !ok {
		return
	}
	if rd.Collected > 0 {
		c := rd.Batch.Changes[0]
		n.log.Debug().Int("tombstones", len(c.Drop)).Uint64("gc_version", c.Meta.GCVersion).Msg("tombstones collected")
	}
	if gc := n.caps.gc; gc != nil {
		if err := gc.GC(); err != nil {
			n.log.Warn().Err(err).Msg("value log collection failed")
		}
	}
}

// maintain runs one maintenance step of the engine and applies what it
// produced, in sequence with every other batch and with the engine's lock
// held only while it computes; nothing, if the node is closed or failed.
func (n *Node) maintain(step func(time.Time) engine.Ready) {
	n.seq.Lock()
	var rd engine.Ready
	if !n.locked(func() { rd = step(n.clock.Now()) }) {
		n.seq.Unlock()
		return
	}
	_ = n.eng.Apply(&rd, &driver{n: n, seq: true}) // a failure stops the node (driver.Committed)
}

// collect is maintain for the collection of the local node's tombstones,
// whose read of the store runs outside n.mu: n.seq, held throughout, keeps
// every batch, hence every change to the node's own records, out until
// the engine has turned the scan into its batch. It reports false if the
// node is closed or failed, or the batch could not be stored.
func (n *Node) collect() (engine.Ready, bool) {
	n.seq.Lock()
	var scan *lsync.TombstoneScan
	if !n.locked(func() { scan = n.eng.PlanCollect(n.clock.Now()) }) {
		n.seq.Unlock()
		return engine.Ready{}, false
	}
	if scan == nil {
		n.seq.Unlock()
		return engine.Ready{}, true
	}
	scan.Read()
	var rd engine.Ready
	if !n.locked(func() { rd = n.eng.Collect(scan) }) {
		n.seq.Unlock()
		return rd, false
	}
	return rd, n.eng.Apply(&rd, &driver{n: n, seq: true}) == nil
}

// locked runs f under n.mu, unless the node is closed or failed.
func (n *Node) locked(f func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || n.failed != nil {
		return false
	}
	f()
	return true
}
