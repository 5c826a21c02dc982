package sim

import (
	"fmt"
	"math/rand"
	"sort"

	"github.com/leviathan-gossip/leviathan/health"
	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/versioner"
)

// Node is one simulated member: the real protocol core, detector and
// versioner, glued as node/gossip.go glues them, around an in-memory store
// that survives crashes.
type Node struct {
	Index int
	ID    string
	Addr  string

	gen uint64
	up  bool
	inc uint32 // bumped by every crash, so timers of an earlier life are ignored
	// issued is the last version this node issued in any life; it is the
	// simulator's memory, not the node's.
	issued uint64
	store  *store
	state  *lsync.State
	det    *health.Detector
	ver    *versioner.Counter
	rng    *rand.Rand

	alive map[string]bool   // peers the detector last reported alive
	known []string          // ids of known peers, sorted; kept incrementally
	addrs map[string]string // peer addresses seen; simulated addresses never change
	dirty bool              // live/unreach need rebuilding
	live  []string          // addresses of alive peers, in id order
	unrch []string          // addresses of other known peers, in id order
	Stats Stats
}

// Stats are one node's traffic counters, kept across restarts.
type Stats struct {
	MsgsOut, BytesOut uint64
	MsgsIn, BytesIn   uint64
	Streams           uint64 // messages larger than the MTU sent
	Lost              uint64 // messages sent that never arrived
	Rounds            uint64
}

// Up reports whether the node is running.
func (n *Node) Up() bool { return n.up }

// State is the node's protocol core; nil while the node has never booted.
func (n *Node) State() *lsync.State { return n.state }

// Detector is the node's failure detector.
func (n *Node) Detector() *health.Detector { return n.det }

// boot (re)builds the node from its store, as node.load does: a new boot
// count, heartbeats in a new 2^32 block, every stored peer restored and
// tracked from now.
func (n *Node) boot(c *Cluster) error {
	n.store.boot++
	st, err := lsync.NewState(lsync.Config{
		Cluster:       c.cfg.Cluster,
		Self:          lsync.PeerMeta{ID: n.ID, Alias: n.ID, Addr: n.Addr, Generation: n.gen},
		Heartbeat:     n.store.boot << 32,
		PacketBudget:  c.cfg.MTU,
		MessageBudget: c.cfg.MessageBudget,
		Limits:        c.cfg.Limits,
	})
	if err != nil {
		return fmt.Errorf("sim: boot %s: %w", n.ID, err)
	}
	det, err := health.NewDetector(*c.cfg.Health)
	if err != nil {
		return fmt.Errorf("sim: boot %s: %w", n.ID, err)
	}
	now := c.clock.Time()
	err = n.store.load(func(meta lsync.PeerMeta, recs []lsync.Record) error {
		if err := st.Restore(meta, recs); err != nil {
			return err
		}
		if meta.ID != n.ID {
			det.Heartbeat(meta.ID, now)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sim: boot %s: %w", n.ID, err)
	}
	n.state, n.det = st, det
	n.ver = versioner.NewCounter()
	n.ver.Restore(st.Self().MaxVersion)
	n.alive = make(map[string]bool)
	n.known = knownSorted(st)
	n.addrs = make(map[string]string, len(n.known))
	n.dirty = true
	n.up = true
	return nil
}

// targets lists this round's partners, as node.round does.
func (n *Node) targets(c *Cluster) []string {
	if n.dirty {
		n.rebuild()
	}
	return lsync.Targets(n.live, n.unrch, c.seeds, n.Addr, c.cfg.Fanout, n.rng)
}

// rebuild recomputes the live and unreachable address lists; it runs only
// when membership or health changed, not every round.
func (n *Node) rebuild() {
	n.live, n.unrch = n.live[:0], n.unrch[:0]
	for _, id := range n.known {
		addr, ok := n.addrs[id]
		if !ok {
			// Heard of through a delta only: no address until a digest
			// entry brings one, and no gossip to it until then.
			if p, _ := n.state.Peer(id); p.Addr != "" {
				addr = p.Addr
				n.addrs[id] = addr
			} else {
				continue
			}
		}
		if n.alive[id] {
			n.live = append(n.live, addr)
		} else {
			n.unrch = append(n.unrch, addr)
		}
	}
	n.dirty = false
}

// noteHealth applies a detector report to the live set.
func (n *Node) noteHealth(r health.Report) {
	for _, ids := range [][]string{r.Discovered, r.Recovered} {
		for _, id := range ids {
			n.alive[id] = true
			n.dirty = true
		}
	}
	for _, ids := range [][]string{r.Suspended, r.Dead} {
		for _, id := range ids {
			delete(n.alive, id)
			n.dirty = true
		}
	}
}

// Health returns what this node's detector believes about a peer.
func (n *Node) Health(id string) (health.State, bool) {
	if n.det == nil {
		return 0, false
	}
	return n.det.State(id)
}

// write issues versions for the given key/value pairs and commits them.
func (n *Node) write(c *Cluster, kv []KV) (uint64, error) {
	recs := make([]lsync.Record, len(kv))
	for i, p := range kv {
		v := n.ver.Next()
		// Versions of one node strictly increase across its whole life,
		// restarts included: the simulator remembers what it saw issued.
		if v <= n.issued {
			c.violate("%s issued version %d after %d", n.ID, v, n.issued)
		}
		n.issued = v
		recs[i] = lsync.Record{Key: p.Key, Value: p.Value, Version: v}
	}
	b, err := n.state.LocalWrite(recs)
	if err != nil {
		return 0, fmt.Errorf("sim: write on %s: %w", n.ID, err)
	}
	c.commit(n, b)
	return recs[len(recs)-1].Version, nil
}

// KV is one key/value pair to write.
type KV struct {
	Key   string
	Value []byte
}

// learn adds newly heard-of peers to the sorted known list.
func (n *Node) learn(ids []string) {
	for _, id := range ids {
		i := sort.SearchStrings(n.known, id)
		if i < len(n.known) && n.known[i] == id {
			continue
		}
		n.known = append(n.known, "")
		copy(n.known[i+1:], n.known[i:])
		n.known[i] = id
		n.dirty = true
	}
}

// knownSorted returns the ids of peers known to the node, sorted.
func knownSorted(s *lsync.State) []string {
	ps := s.Peers()
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	sort.Strings(out)
	return out
}
