package engine

import (
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Driver is what Apply needs of whoever runs an Engine: node, with its
// locks, store and sockets, or the simulator, with its own.
type Driver interface {
	// Persist makes b durable. Apply calls it without the lock: a slow
	// disk must hold up no heartbeat, health check or read.
	Persist(b *lsync.Batch) error
	// Lock and Unlock are the lock the driver holds around every engine
	// call; Apply holds it only to commit (or abort) the batch.
	Lock()
	Unlock()
	// Committed runs under the lock right after Commit (err nil) or Abort
	// (err from Persist), so that the driver's own record of the batch
	// (counters, a failure that stops it) changes with the engine's.
	Committed(rd *Ready, err error)
	// Settled runs, without the lock, once the batch is committed or
	// aborted, and before anything is published: a driver that keeps
	// batches in sequence lets the next one be produced here, so that
	// slow subscribers or sends hold up no other batch.
	Settled()
	// Publish announces the batch's records and rd.Events, without the
	// lock; they are durable by then.
	Publish(rd *Ready)
	// Send sends the messages, without the lock; their deltas are read
	// by then.
	Send(out []Outgoing)
	// ProbeAt asks the driver to call Engine.Probe at t (rd.ProbeAt); a
	// later call replaces an earlier one.
	ProbeAt(t time.Time)
}

// Apply does what rd asks of the driver, in the one order that lets no
// reader or peer see what a crash could lose:
//
//  1. d.Persist(rd.Batch), unless the batch is empty, without the lock;
//  2. under d.Lock: Commit, or Abort if Persist failed, then d.Committed;
//  3. d.Settled, without the lock, whatever Persist returned;
//  4. if Persist failed, nothing more: Apply returns its error;
//  5. d.Publish, then rd.ReadDeltas (the storage reads, without the
//     lock), then NoteSent under d.Lock (what the reads sent and found
//     goes into the core: it keeps no lock of its own), then d.Send.
//
// The driver must have released its lock before calling Apply: the lock
// is taken for step 2 only. A driver that serialises the paths producing
// batches (node's n.seq) holds that across steps 1 and 2 and releases it
// in Settled.
func (e *Engine) Apply(rd *Ready, d Driver) error {
	err := e.persist(rd, d)
	d.Settled()
	if err != nil {
		return err
	}
	d.Publish(rd)
	rd.ReadDeltas()
	if rd.unnoted() {
		d.Lock()
		e.NoteSent(rd)
		d.Unlock()
	}
	d.Send(rd.Send)
	if !rd.ProbeAt.IsZero() {
		d.ProbeAt(rd.ProbeAt)
	}
	return nil
}

// persist is steps 1 and 2 of Apply.
func (e *Engine) persist(rd *Ready, d Driver) error {
	if rd.Batch.Empty() {
		return nil
	}
	err := d.Persist(rd.Batch)
	d.Lock()
	defer d.Unlock()
	if err != nil {
		e.Abort(rd)
	} else {
		e.Commit(rd)
	}
	d.Committed(rd, err)
	return err
}
