package sim

import (
	"fmt"
	"math/rand"
	"time"

	"github.com/leviathan-gossip/leviathan/health"
	"github.com/leviathan-gossip/leviathan/internal/engine"
	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/versioner"
)

// Node is one simulated member: the node's own engine (internal/engine),
// driven as node/gossip.go drives it, around an in-memory store that
// survives crashes.
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
	eng    *engine.Engine
	rng    *rand.Rand
	key    *identity.Key // Config.Signed only
	Stats  Stats
}

// Stats are one node's traffic counters, kept across restarts.
type Stats struct {
	MsgsOut, BytesOut uint64
	MsgsIn, BytesIn   uint64
	Streams           uint64 // messages larger than the MTU sent
	Lost              uint64 // messages sent that never arrived
	Rounds            uint64
	// Pushes and PushBytes count eager pushes sent (one per target).
	Pushes, PushBytes uint64
	// ByType splits BytesOut by message type (the wire header's type
	// byte), to show where a quiet cluster's bytes go.
	ByType [16]uint64
}

// Up reports whether the node is running.
func (n *Node) Up() bool { return n.up }

// Engine is the node's engine; nil while the node has never booted.
func (n *Node) Engine() *engine.Engine { return n.eng }

// State is the node's protocol core; nil while the node has never booted.
func (n *Node) State() *lsync.State {
	if n.eng == nil {
		return nil
	}
	return n.eng.State()
}

// Detector is the node's failure detector.
func (n *Node) Detector() *health.Detector { return n.eng.Detector() }

// boot (re)builds the node's engine from its store, as node.load does: a
// new boot count, heartbeats in a new 2^32 block, every stored peer
// restored and tracked from now.
func (n *Node) boot(c *Cluster) error {
	n.store.boot++
	eng, err := engine.New(engine.Config{
		Cluster:       c.cfg.Cluster,
		Self:          lsync.PeerMeta{ID: n.ID, Alias: n.ID, Addr: n.Addr, Generation: n.gen},
		Boot:          n.store.boot,
		Seeds:         c.seeds,
		Fanout:        c.cfg.Fanout,
		Gossip:        c.cfg.Gossip,
		DeadGrace:     c.cfg.DeadGrace,
		KeepDead:      c.cfg.KeepDead,
		Tombstones:    c.cfg.TombstoneGrace,
		PacketBudget:  c.cfg.MTU,
		MessageBudget: c.cfg.MessageBudget,
		Limits:        c.cfg.Limits,
		// As the node: a peer's new generation is believed from the peer.
		GenerationEvidence: c.cfg.GenerationEvidence,
		Health:             *c.cfg.Health,
		Monitors:           max(0, c.cfg.Monitors),
		Quorum:             c.cfg.Quorum,
		QuietDigest:        max(0, c.cfg.QuietDigest),
		Recent:             max(0, c.cfg.Recent),
		QuietFanout:        max(0, c.cfg.QuietFanout),
		QuietSummary:       c.cfg.QuietSummary >= 0,
		Versioner:          versioner.NewCounter(),
		Rand:               n.rng,
		PushFanout:         max(0, c.cfg.PushFanout),
		PushRate:           c.cfg.PushRate,
		Flow:               c.cfg.Flow,
		Signing:            c.signing(n),
	})
	if err != nil {
		return fmt.Errorf("sim: boot %s: %w", n.ID, err)
	}
	now := c.clock.Time()
	peers := 0
	err = n.store.load(func(meta lsync.PeerMeta, recs []lsync.Record) error {
		if meta.ID != n.ID {
			peers++
		}
		return eng.Restore(meta, recs, now)
	})
	if err != nil {
		return fmt.Errorf("sim: boot %s: %w", n.ID, err)
	}
	if c.cfg.ExpectLostTail && n.store.boot > 1 && peers > 0 {
		// As node.load after an unclean stop without sync_writes.
		eng.ExpectLostTail(now, max(2*time.Second, 5*c.cfg.Gossip))
	}
	eng.Restored()
	if _, err := eng.SignRecord(now); err != nil {
		return fmt.Errorf("sim: boot %s: %w", n.ID, err)
	}
	n.eng = eng
	n.up = true
	return nil
}

// Health returns what this node's detector believes about a peer.
func (n *Node) Health(id string) (health.State, bool) {
	if n.eng == nil {
		return 0, false
	}
	return n.eng.Detector().State(id)
}

// KV is one key/value pair to write.
type KV struct {
	Key   string
	Value []byte
}
