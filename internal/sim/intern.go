package sim

import lsync "github.com/leviathan-gossip/leviathan/sync"

// Interning. Every node keeps the ids and addresses of every other node
// it heard of, each a string its decoder allocated: at N nodes that is N²
// copies of N names. A real node holds its own copies; in the simulator
// one string per name, shared by all nodes, keeps memory for the state
// that differs between them. Only the decoded strings are replaced, by
// equal ones: what the engine sees is unchanged.

// intern replaces the names in a decoded message by the cluster's own
// strings for them.
func (c *Cluster) intern(m lsync.Message) {
	switch v := m.(type) {
	case *lsync.Syn:
		c.internEntries(v.Digest)
	case *lsync.SynAck:
		c.internEntries(v.Digest)
		c.internDeltas(v.Deltas)
	case *lsync.Ack:
		c.internDeltas(v.Deltas)
	case *lsync.Members:
		c.internEntries(v.Members)
	}
}

func (c *Cluster) internEntries(d []lsync.DigestEntry) {
	for i := range d {
		e := &d[i]
		e.ID = c.internID(e.ID)
		e.Alias = c.internID(e.Alias)
		if j, ok := c.byAddr[e.Addr]; ok {
			e.Addr = c.nodes[j].Addr
		}
	}
}

func (c *Cluster) internDeltas(ds []lsync.NodeDelta) {
	for i := range ds {
		ds[i].ID = c.internID(ds[i].ID)
	}
}

// internID is the node's id string if s is one, else s.
func (c *Cluster) internID(s string) string {
	if j, ok := c.byID[s]; ok {
		return c.nodes[j].ID
	}
	return s
}
