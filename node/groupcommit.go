package node

import (
	"context"
	"errors"
	"slices"
	gosync "sync"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// groupCommit batches concurrent local writes without a goroutine of its
// own: the first writer to arrive leads, committing everything queued
// while the previous commit ran, so N concurrent Sets cost about one
// Badger transaction instead of N. After a few rounds, or as soon as its
// own context ends, the leader hands the lead to the oldest waiter rather
// than work for others for ever.
//
// A writer's context counts until its request is taken into a group: a
// request withdrawn (or found ended when taken) is never committed, and
// its writer gets the context's error. Once taken, the request is in a
// batch on its way to the store, which cannot be called back: its writer
// waits for that batch and gets its true outcome.
type groupCommit struct {
	mu      gosync.Mutex
	pending []*writeReq
	leading bool
}

type writeReq struct {
	ctx  context.Context
	recs []lsync.Record
	done chan error
}

// errPromoted tells a waiting writer that it leads now.
var errPromoted = errors.New("node: promoted to lead the group commit")

const (
	leadRounds  = 4    // commits one leader runs before handing over
	groupRecord = 8192 // records per group at most: one Badger transaction
)

// submit queues recs and returns once commit has made them durable, or
// with ctx's error if ctx ends before they are taken into a group.
func (g *groupCommit) submit(ctx context.Context, recs []lsync.Record, commit func([]*writeReq)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &writeReq{ctx: ctx, recs: recs, done: make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, req)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	for {
		if lead {
			g.lead(ctx, commit)
		}
		select {
		case err := <-req.done:
			if !errors.Is(err, errPromoted) {
				return err
			}
			lead = true
			continue
		case <-ctx.Done():
		}
		if g.withdraw(req) {
			return ctx.Err()
		}
		// Taken: a leader is committing it, and answers.
		return <-req.done
	}
}

// withdraw takes req out of the queue and reports whether it was still
// there. A lead it was promoted to meanwhile is passed on.
func (g *groupCommit) withdraw(req *writeReq) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	i := slices.Index(g.pending, req)
	if i < 0 {
		return false
	}
	g.pending = slices.Delete(g.pending, i, i+1)
	select {
	case <-req.done: // only a promotion can be waiting for a queued request
		g.handOver()
	default:
	}
	return true
}

// lead commits queued groups until none is left, or hands the lead over
// after leadRounds commits, or after its first if ctx (the leader's own)
// has ended.
func (g *groupCommit) lead(ctx context.Context, commit func([]*writeReq)) {
	for round := 0; ; round++ {
		g.mu.Lock()
		if len(g.pending) == 0 {
			g.leading = false
			g.mu.Unlock()
			return
		}
		if round == leadRounds || round > 0 && ctx.Err() != nil {
			g.handOver()
			g.mu.Unlock()
			return
		}
		group := g.take()
		g.mu.Unlock()
		if len(group) > 0 {
			commit(group)
		}
	}
}

// handOver makes the oldest waiter the leader (its request stays queued
// and is committed by itself), or ends the lead if none waits. The caller
// holds mu.
func (g *groupCommit) handOver() {
	if len(g.pending) == 0 {
		g.leading = false
		return
	}
	g.pending[0].done <- errPromoted
}

// take dequeues up to groupRecord records' worth of requests (at least
// one), answering those whose context has ended instead of returning
// them. The caller holds mu.
func (g *groupCommit) take() []*writeReq {
	n, size := 0, 0
	var group []*writeReq
	for n < len(g.pending) && (len(group) == 0 || size+len(g.pending[n].recs) <= groupRecord) {
		r := g.pending[n]
		n++
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		size += len(r.recs)
		group = append(group, r)
	}
	g.pending = append([]*writeReq(nil), g.pending[n:]...)
	return group
}
