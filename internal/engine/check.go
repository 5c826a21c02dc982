package engine

import (
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Check re-evaluates every peer and reports the changes. Peers that
// announced their leave are not reported suspended or dead.
func (e *Engine) Check(now time.Time) Ready {
	rep := e.mon.Check(now)
	var rd Ready
	if rep.Empty() {
		e.flushVotes(&rd)
		return rd
	}
	e.ts.dirty = true
	e.mon.Silent(e.notLeft(rep.Silent))
	for _, id := range rep.Dead {
		e.deadSince[id] = now
	}
	for _, id := range rep.Recovered {
		delete(e.deadSince, id)
		delete(e.left, id)
	}
	if len(rep.Discovered) > 0 || len(rep.Recovered) > 0 {
		e.news = now
	}
	rd.event(Discover, rep.Discovered)
	rd.event(Suspend, e.notLeft(rep.Suspended))
	rd.event(Recover, rep.Recovered)
	rd.event(Dead, e.notLeft(rep.Dead))
	e.flushVotes(&rd)
	return rd
}

// RemovalDue reports whether Reap has work: some peer dead for longer
// than dead_grace.
func (e *Engine) RemovalDue(now time.Time) bool {
	if e.cfg.KeepDead {
		return false
	}
	for _, since := range e.deadSince {
		if now.Sub(since) >= e.cfg.DeadGrace {
			return true
		}
	}
	return false
}

// Reap prepares the removal of the peers dead for longer than dead_grace,
// data included (unless KeepDead): one batch, and a Remove event once it
// is committed and durable. Removing a peer deletes its records from the
// store, which may take long: drivers run it beside, not inside, the
// critical section that rounds and health checks need.
func (e *Engine) Reap(now time.Time) Ready {
	var rd Ready
	if e.busy || !e.RemovalDue(now) {
		return rd
	}
	var b lsync.Batch
	for id, since := range e.deadSince {
		if now.Sub(since) < e.cfg.DeadGrace {
			continue
		}
		rb := e.state.Remove(id)
		if rb.Empty() {
			// Already gone from the core: only the bookkeeping is left.
			e.det.Remove(id)
			delete(e.deadSince, id)
			delete(e.left, id)
			continue
		}
		b.Changes = append(b.Changes, rb.Changes...)
		rd.Removed = append(rd.Removed, id)
	}
	if len(b.Changes) > 0 {
		rd.Batch = &b
	}
	rd.event(Remove, sorted(rd.Removed))
	e.hand(&rd)
	return rd
}

// PlanCollect plans the collection of the local node's tombstones older
// than the tombstone grace, or returns nil for nothing to do. The driver
// reads the scan (TombstoneScan.Read) outside its lock, with no batch of
// its own persisted meanwhile, and hands it to Collect.
func (e *Engine) PlanCollect(now time.Time) *lsync.TombstoneScan {
	if e.busy {
		return nil
	}
	return e.state.PlanCollect(uint64(now.UnixMilli()), uint64(e.cfg.Tombstones.Milliseconds()))
}

// Collect turns a scan that was read into the batch that collects what it
// found; peers drop their copies when they see the new horizon.
func (e *Engine) Collect(scan *lsync.TombstoneScan) Ready {
	var rd Ready
	if e.busy {
		return rd
	}
	rd.Batch = e.state.FinishCollect(scan)
	if !rd.Batch.Empty() {
		rd.Collected = len(rd.Batch.Changes[0].Drop)
	}
	e.hand(&rd)
	return rd
}

// notLeft filters out peers that announced their leave.
func (e *Engine) notLeft(ids []string) []string {
	out := ids[:0]
	for _, id := range ids {
		if _, left := e.left[id]; !left {
			out = append(out, id)
		}
	}
	return out
}

// Write versions local records (setting each Version) and prepares the
// batch that writes them. After a lossy boot it refuses writes while the
// node's own lost tail may still come back from peers, and never issues a
// version a peer holds (sync.State.Writable, VersionFloor).
func (e *Engine) Write(now time.Time, recs []lsync.Record) (Ready, error) {
	switch {
	case e.busy:
		return Ready{}, ErrBusy
	case e.leaving:
		return Ready{}, ErrLeft
	}
	e.state.SetTime(uint64(now.UnixMilli()))
	if err := e.state.Writable(); err != nil {
		return Ready{}, err
	}
	e.ver.Restore(e.state.VersionFloor())
	for i := range recs {
		recs[i].Version = e.ver.Next()
	}
	b, err := e.state.LocalWrite(recs)
	if err != nil {
		return Ready{}, err
	}
	rd := Ready{Batch: b, writes: true}
	hops := e.hopLimit()
	if e.streaming(now) {
		hops = 1
	}
	e.notePush(&rd, hops, "", now)
	e.hand(&rd)
	return rd, nil
}
