package engine

import (
	"sort"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// EventKind says what happened to peers.
type EventKind uint8

// Peer events, as the node publishes them.
const (
	Discover EventKind = iota + 1 // alive for the first time
	Suspend                       // stopped being heard
	Recover                       // alive again after suspicion, death or leave
	Dead                          // suspended for dead_after
	Remove                        // dead for dead_grace: forgotten with its data
	Leave                         // announced it is leaving
)

// Event is a change of some peers' state, ids sorted.
type Event struct {
	Kind  EventKind
	Peers []string
}

// Outgoing is a message to send. Several may share one Msg (a round's
// Syn): encode it once.
type Outgoing struct {
	To  string
	Msg lsync.Message
}

// Ready is what one input asks of the driver, in this order (Apply keeps
// it): make Batch durable (if not empty) and call Commit; then publish
// Events, call ReadDeltas, then NoteSent under the lock, and send Send. Nothing in Send or Events may reach anyone
// before the batch is durable, so that no reader or peer sees what a crash
// could lose. ReadDeltas is the step that reads the storage (the replies'
// deltas): the driver calls it without holding the lock it holds around
// the engine. (A tombstone collection reads in TombstoneScan.Read; see
// PlanCollect.)
type Ready struct {
	Batch  *lsync.Batch
	Send   []Outgoing
	Events []Event
	// BadCluster is set when the message came from another cluster.
	BadCluster bool
	// Rejected lists the node records and claims refused (records.go).
	Rejected []Rejected
	// Removed lists the peers Batch removes (their records go with them).
	Removed []string
	// Collected is the number of local tombstones Batch collects.
	Collected int
	// SilentSeeds lists seed addresses that never answered any of
	// SilentSeedRounds exchanges, each reported once; AnsweredSeed is set
	// when a seed reported silent is first heard from.
	SilentSeeds  []string
	AnsweredSeed string
	// ProbeAt, when set, is when the driver is to call Engine.Probe (see
	// probe.go): the batch was pushed, and a probe finds the nodes every
	// push missed.
	ProbeAt time.Time

	writes bool               // Batch holds local writes
	fills  []*lsync.DeltaFill // replies in Send whose deltas are unread or unnoted

	// Commit pushes the batch's new records with pushHops hops left (0:
	// no push), to peers other than pushFrom, the address it came from;
	// now is the input's time, for the push's token bucket.
	pushHops uint8
	pushFrom string
	now      time.Time
}

// ReadDeltas reads the deltas of the replies in Send from the storage,
// and drops the replies that turn out to carry nothing. It touches no
// engine state, so the driver calls it without its lock (and must call it
// before sending). What the reads sent and found waits in the fills for
// NoteSent.
func (rd *Ready) ReadDeltas() {
	for _, f := range rd.fills {
		if f.Read() {
			continue
		}
		kept := rd.Send[:0]
		for _, o := range rd.Send {
			if o.Msg != f.Reply() {
				kept = append(kept, o)
			}
		}
		rd.Send = kept
	}
}

// unnoted reports whether the Ready holds fills for NoteSent.
func (rd *Ready) unnoted() bool { return len(rd.fills) > 0 }

// NoteSent takes what rd's ReadDeltas sent and found into the core (the
// chunks now in flight to each requester, failed reads): the driver calls
// it under its lock, after ReadDeltas and before sending. Apply does.
func (e *Engine) NoteSent(rd *Ready) {
	for _, f := range rd.fills {
		e.state.NoteSent(f)
	}
	rd.fills = nil
}

// Empty reports whether there is nothing to do.
func (rd *Ready) Empty() bool {
	return rd.Batch.Empty() && len(rd.Send) == 0 && len(rd.Events) == 0
}

// LocalWrite reports whether the batch holds the local node's writes.
func (rd *Ready) LocalWrite() bool { return rd.writes }

func (rd *Ready) event(k EventKind, ids []string) {
	if len(ids) > 0 {
		rd.Events = append(rd.Events, Event{Kind: k, Peers: ids})
	}
}

// hand marks a batch out for persisting; empty ones need no Commit.
func (e *Engine) hand(rd *Ready) {
	if !rd.Batch.Empty() {
		e.busy = true
	}
}

// Commit tells the engine that rd.Batch is durable: the core takes it, the
// peers it removed are forgotten, and its new records are pushed (added to
// rd.Send) if it came from a write or a push.
func (e *Engine) Commit(rd *Ready) {
	if rd.Batch.Empty() {
		return
	}
	for i := range rd.Batch.Changes {
		if _, known := e.state.View(rd.Batch.Changes[i].Meta.ID); !known {
			e.ts.dirty = true // a peer heard of through a delta only
			break
		}
	}
	// The push is built and queued here, after the batch is durable and
	// before Apply sends: no peer hears of records a crash could lose,
	// and its deltas start at the watermarks the batch was made against.
	var push []lsync.NodeDelta
	if rd.pushHops > 0 {
		push = e.state.PushDeltas(rd.Batch)
	}
	if rd.writes {
		e.flow.wrote(e.state.Self().MaxVersion, rd.Batch.Len())
	}
	e.state.Commit(rd.Batch)
	e.busy = false
	e.resignOnChange()
	e.push(rd, push)
	for _, id := range rd.Removed {
		e.det.Remove(id)
		e.mon.Forget(id)
		delete(e.deadSince, id)
		delete(e.left, id)
		e.flow.forget(id)
	}
	if len(rd.Removed) > 0 {
		e.ts.dirty = true
	}
}

// Abort tells the engine that rd.Batch could not be made durable; the
// driver stops (disk and memory may be apart until a restart).
func (e *Engine) Abort(rd *Ready) {
	if !rd.Batch.Empty() {
		e.busy = false
	}
}

func sorted(ids []string) []string {
	sort.Strings(ids)
	return ids
}
