package node

import (
	"errors"
	gosync "sync"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// groupCommit batches concurrent local writes without a goroutine of its
// own: the first writer to arrive leads, committing everything queued
// while the previous commit ran, so N concurrent Sets cost about one
// Badger transaction instead of N. After a few rounds the leader hands the
// lead to the oldest waiter rather than work for others for ever.
type groupCommit struct {
	mu      gosync.Mutex
	pending []*writeReq
	leading bool
}

type writeReq struct {
	recs []lsync.Record
	done chan error
}

// errPromoted tells a waiting writer that it leads now.
var errPromoted = errors.New("node: promoted to lead the group commit")

const (
	leadRounds  = 4    // commits one leader runs before handing over
	groupRecord = 8192 // records per group at most: one Badger transaction
)

// submit queues recs and returns once commit has made them durable.
func (g *groupCommit) submit(recs []lsync.Record, commit func([]*writeReq)) error {
	req := &writeReq{recs: recs, done: make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, req)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	for {
		if lead {
			g.lead(commit)
		}
		err := <-req.done
		if !errors.Is(err, errPromoted) {
			return err
		}
		lead = true
	}
}

func (g *groupCommit) lead(commit func([]*writeReq)) {
	for round := 0; ; round++ {
		g.mu.Lock()
		if len(g.pending) == 0 {
			g.leading = false
			g.mu.Unlock()
			return
		}
		if round == leadRounds {
			// Still busy: the oldest waiter leads on; its request stays
			// queued and is committed by itself.
			g.pending[0].done <- errPromoted
			g.mu.Unlock()
			return
		}
		group := g.take()
		g.mu.Unlock()
		commit(group)
	}
}

// take dequeues up to groupRecord records' worth of requests (at least
// one). The caller holds mu.
func (g *groupCommit) take() []*writeReq {
	n, size := 0, 0
	for n < len(g.pending) && (n == 0 || size+len(g.pending[n].recs) <= groupRecord) {
		size += len(g.pending[n].recs)
		n++
	}
	group := g.pending[:n:n]
	g.pending = append([]*writeReq(nil), g.pending[n:]...)
	return group
}
