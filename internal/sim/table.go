package sim

// peerTable is what a store holds per node id. The cluster's own nodes
// sit in a slice by index (a pointer each); other ids, which only tests
// make up, in a map. A map of every node in every node's store would add
// a map entry's overhead to each of N² entries, a large part of the store
// (docs/benchmarks.md, "Why the code is built this way").
type peerTable struct {
	index map[string]int // the cluster's ids, shared by every store
	nodes []*storedPeer  // by index; made on the first entry
	other map[string]*storedPeer
	n     int
}

func newPeerTable(index map[string]int) peerTable {
	return peerTable{index: index, other: make(map[string]*storedPeer)}
}

func (t *peerTable) get(id string) *storedPeer {
	if i, ok := t.index[id]; ok {
		if i < len(t.nodes) {
			return t.nodes[i]
		}
		return nil
	}
	return t.other[id]
}

func (t *peerTable) set(id string, p *storedPeer) {
	if t.get(id) == nil {
		t.n++
	}
	i, ok := t.index[id]
	if !ok {
		t.other[id] = p
		return
	}
	if i >= len(t.nodes) {
		// The cluster's nodes are all indexed by the first entry, but
		// grow for any that came after (New builds them one by one).
		grown := make([]*storedPeer, max(len(t.index), i+1))
		copy(grown, t.nodes)
		t.nodes = grown
	}
	t.nodes[i] = p
}

func (t *peerTable) remove(id string) {
	if t.get(id) == nil {
		return
	}
	t.n--
	if i, ok := t.index[id]; ok {
		t.nodes[i] = nil
		return
	}
	delete(t.other, id)
}

func (t *peerTable) len() int { return t.n }

// each calls fn for every entry, in no particular order.
func (t *peerTable) each(fn func(id string, p *storedPeer)) {
	for _, p := range t.nodes {
		if p != nil {
			fn(p.meta.ID, p)
		}
	}
	for id, p := range t.other {
		fn(id, p)
	}
}
