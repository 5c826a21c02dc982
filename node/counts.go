package node

import (
	"time"

	"github.com/leviathan-gossip/leviathan/store"
)

// recount corrects each peer's record counts from the store, outside n.mu:
// a boot after a clean shutdown takes the counts saved at that shutdown
// instead of reading every record (a restart with millions of records would
// take seconds), and the core's counts drift up between recounts (an
// overwritten key counts twice). It runs once, at the start of maintLoop,
// and stops when the node closes.
func (n *Node) recount() {
	cs := n.caps.counts // present only with reads: counts of a disk store
	if cs == nil {
		return
	}
	start := time.Now()
	n.mu.Lock()
	ids := n.nodeIDs()
	n.mu.Unlock()
	counted := 0
	for _, id := range ids {
		n.mu.Lock()
		view, before, ok := n.eng.CountsOf(id)
		n.mu.Unlock()
		if !ok {
			continue
		}
		c, err := cs.Count(n.ctx, view)
		if n.ctx.Err() != nil {
			return
		}
		if err != nil {
			n.log.Warn().Err(err).Str("peer", id).Msg("recounting records failed; its counts stay estimates")
			continue
		}
		n.mu.Lock()
		n.eng.CorrectCounts(view, before, c)
		n.mu.Unlock()
		counted += c.Records
	}
	n.log.Debug().Int("nodes", len(ids)).Int("records", counted).Dur("took", time.Since(start)).Msg("records recounted")
}

// saveCounts hands the peers' counts to the store for the next boot; it
// runs in Close once no goroutine is left. A node that failed saves
// nothing (its store will not be marked clean either).
func (n *Node) saveCounts() {
	cs := n.caps.counts
	if cs == nil || n.failed != nil {
		return
	}
	n.mu.Lock()
	var out []store.PeerCounts
	for _, id := range n.nodeIDs() {
		if view, c, ok := n.eng.CountsOf(id); ok {
			out = append(out, store.PeerCounts{Meta: view, Counts: c})
		}
	}
	n.mu.Unlock()
	if err := cs.SaveCounts(out); err != nil {
		n.log.Warn().Err(err).Msg("saving record counts failed; the next boot counts them")
	}
}

// nodeIDs lists the local node and every peer; the caller holds n.mu.
func (n *Node) nodeIDs() []string {
	peers := n.eng.Peers()
	ids := make([]string, 0, len(peers)+1)
	ids = append(ids, n.id)
	for _, p := range peers {
		ids = append(ids, p.ID)
	}
	return ids
}
