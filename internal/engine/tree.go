package engine

import (
	"slices"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// The push tree, after Plumtree (Leitão, Pereira, Rodrigues, 2007): a
// node pushes to its eager peers, not to peers drawn afresh for every
// batch. Random targets fail a node writing steadily: each receiver gets
// about PushFanout/N of its batches, nearly every one of them starts
// beyond the receiver's watermark (a gap, which scuttlebutt cannot
// apply), so the pushes die at the first hop and the writes wait for the
// rounds. Along stable links every node gets each of the writer's batches
// in order, from the same neighbour.
//
// Links are symmetric. A node starts with PushFanout eager peers drawn at
// random; one that pushes to it becomes eager too, up to treeMax. A push
// that brings nothing new is a second path: its receiver prunes the link
// (both ends drop it), so the eager links thin out to about a spanning
// tree, and a batch crosses each link once. A node that gets news from
// an exchange instead was missed by the tree: it grafts the peer that
// had it. Anti-entropy and probes stay the repair for whatever a lost
// push or a broken link misses.

// treeSlack is how many eager peers a node keeps beyond PushFanout: the
// links that others opened to it.
const treeSlack = 3

func (e *Engine) treeMax() int { return e.cfg.PushFanout + treeSlack }

// drawEager adds PushFanout live peers drawn at random to the eager ones:
// at the node's first push or first link, and whenever it has none left.
func (e *Engine) drawEager() {
	if e.treeDrawn && len(e.eager) > 0 {
		return
	}
	for _, a := range e.pickLive(e.cfg.PushFanout, func(a string) bool { return a == e.cfg.Self.Addr || slices.Contains(e.eager, a) }) {
		if len(e.eager) < e.treeMax() {
			e.eager = append(e.eager, a)
		}
	}
	e.treeDrawn = len(e.eager) > 0
}

// pushTargets returns the eager peers not skipped.
func (e *Engine) pushTargets(skip func(string) bool) []string {
	e.drawEager()
	var to []string
	for _, a := range e.eager {
		if !skip(a) {
			to = append(to, a)
		}
	}
	return to
}

// addEager makes addr an eager peer if there is room, and reports
// whether it is one.
func (e *Engine) addEager(addr string) bool {
	if addr == "" || addr == e.cfg.Self.Addr {
		return false
	}
	e.drawEager()
	if slices.Contains(e.eager, addr) {
		return true
	}
	if len(e.eager) >= e.treeMax() {
		return false
	}
	e.eager = append(e.eager, addr)
	e.pushStats.Grafts++
	return true
}

func (e *Engine) dropEager(addr string) {
	if i := slices.Index(e.eager, addr); i >= 0 {
		e.eager = slices.Delete(e.eager, i, i+1)
		e.pushStats.Prunes++
	}
}

// keepLiveEager drops the eager peers that are no longer live (a push to
// a dead one is lost, and a dead link is no part of the tree) and the
// prunes older than pruneMemory. Once a round.
func (e *Engine) keepLiveEager(now time.Time) {
	e.eager = slices.DeleteFunc(e.eager, func(a string) bool { return !slices.Contains(e.ts.live, a) })
	for a, at := range e.prunedAt {
		if now.Sub(at) >= pruneMemory*e.cfg.Gossip {
			delete(e.prunedAt, a)
		}
	}
	for id, at := range e.pushedAt {
		if now.Sub(at) >= pruneMemory*e.cfg.Gossip {
			delete(e.pushedAt, id)
		}
	}
}

// link asks addr to prune or graft the link between the two.
func (e *Engine) link(rd *Ready, addr string, l lsync.Link) {
	rd.Send = append(rd.Send, Outgoing{To: addr, Msg: &lsync.Push{Cluster: e.cfg.Cluster, From: e.cfg.Self.ID, Link: l}})
}

// stepTree shapes the tree after a push from addr: a request from it is
// followed; a push that was news keeps (or makes) the link; one that
// brought nothing new, and was not held for later, prunes it. A link
// pruned either way stays down for pruneMemory rounds unless grafted:
// pushes already on their way when it was pruned must not make it again.
func (e *Engine) stepTree(m *lsync.Push, addr string, news, held bool, now time.Time, rd *Ready) {
	if e.cfg.PushFanout <= 0 {
		return
	}
	switch m.Link {
	case lsync.LinkPrune:
		e.unlink(addr, now)
		return
	case lsync.LinkGraft:
		delete(e.prunedAt, addr)
		if !e.addEager(addr) {
			e.prune(rd, addr, now) // full: it must not count on us
		}
		return
	}
	if len(m.Deltas) == 0 || e.recentlyPruned(addr, now) {
		return
	}
	switch {
	case news || held:
		if !e.addEager(addr) {
			e.prune(rd, addr, now)
		}
	default:
		e.prune(rd, addr, now)
	}
}

// prune drops the link to addr at this end and asks addr to drop it.
func (e *Engine) prune(rd *Ready, addr string, now time.Time) {
	e.unlink(addr, now)
	e.link(rd, addr, lsync.LinkPrune)
}

// unlink drops the link to addr, and what waits to be pushed to it.
func (e *Engine) unlink(addr string, now time.Time) {
	e.dropEager(addr)
	e.notePruned(addr, now)
	if _, ok := e.out.by[addr]; ok {
		delete(e.out.by, addr)
		e.out.order = slices.DeleteFunc(e.out.order, func(a string) bool { return a == addr })
	}
}

func (e *Engine) recentlyPruned(addr string, now time.Time) bool {
	at, ok := e.prunedAt[addr]
	return ok && now.Sub(at) < pruneMemory*e.cfg.Gossip
}

// graftIfMissed grafts addr when an exchange with it brought records of
// a node whose records no push has brought here for missedAfter rounds:
// the tree does not reach this node from that writer (a link died, or
// prunes raced), and the writer is still writing. Records that an
// exchange carries while their push is on its way do not count, nor do
// those of a writer that pushes reach. A peer that pruned the link lately
// is left alone, or a full peer and a node missing pushes would graft and
// prune at every exchange.
func (e *Engine) graftIfMissed(addr string, b *lsync.Batch, now time.Time, rd *Ready) {
	if e.cfg.PushFanout <= 0 || b.Empty() || slices.Contains(e.eager, addr) {
		return
	}
	if e.recentlyPruned(addr, now) {
		return
	}
	missed := false
	for i := range b.Changes {
		c := &b.Changes[i]
		if len(c.Records) > 0 && now.Sub(e.pushedAt[c.Meta.ID]) > missedAfter*e.cfg.Gossip {
			missed = true
			break
		}
	}
	if !missed || !slices.Contains(e.ts.live, addr) {
		return
	}
	if e.addEager(addr) {
		e.link(rd, addr, lsync.LinkGraft)
	}
}

// missedAfter is how many rounds without a push from a writer make its
// records, brought by an exchange, a sign that the tree misses this node.
const missedAfter = 2

// notePushed records that a push brought records of the nodes of b, for
// graftIfMissed. Entries are of members, and dropped after pruneMemory
// rounds (keepLiveEager).
func (e *Engine) notePushed(b *lsync.Batch, now time.Time) {
	if b.Empty() {
		return
	}
	if e.pushedAt == nil {
		e.pushedAt = make(map[string]time.Time)
	}
	for i := range b.Changes {
		if len(b.Changes[i].Records) > 0 {
			e.pushedAt[b.Changes[i].Meta.ID] = now
		}
	}
}

// pruneMemory is how long, in gossip intervals, a node does not graft a
// peer that pruned its link.
const pruneMemory = 10

// notePruned remembers that the link to addr was pruned, at either end,
// for pruneMemory intervals (keepLiveEager forgets), and for at most
// maxPruned peers: the senders of prunes are whoever sends them.
func (e *Engine) notePruned(addr string, now time.Time) {
	if e.prunedAt == nil {
		e.prunedAt = make(map[string]time.Time)
	}
	if _, ok := e.prunedAt[addr]; ok || len(e.prunedAt) < maxPruned {
		e.prunedAt[addr] = now
	}
}

const maxPruned = 256

func hasRecords(b *lsync.Batch) bool {
	if b.Empty() {
		return false
	}
	for i := range b.Changes {
		if len(b.Changes[i].Records) > 0 {
			return true
		}
	}
	return false
}
