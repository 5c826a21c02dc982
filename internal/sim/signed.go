package sim

import (
	"crypto/ed25519"
	"fmt"
	"math/rand"

	"github.com/leviathan-gossip/leviathan/internal/engine"
	"github.com/leviathan-gossip/leviathan/sync/identity"
)

// keyNodes gives every node a key drawn from the seed and pins each key
// for its node on all of them (Config.Signed).
func (c *Cluster) keyNodes() error {
	pins := make(map[string][]ed25519.PublicKey, len(c.nodes))
	for _, n := range c.nodes {
		k, err := identity.Generate(rand.New(rand.NewSource(c.cfg.Seed*7_000_003 + int64(n.Index) + 1)))
		if err != nil {
			return fmt.Errorf("sim: key of %s: %w", n.ID, err)
		}
		n.key = k
		pins[n.ID] = []ed25519.PublicKey{k.Public()}
	}
	trust, err := identity.NewPinnedTrust(pins)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	c.trust = trust
	return nil
}

// signing is a node's engine.Signing, nil unless Config.Signed. Each boot
// starts with an empty trust cache, as a restarted node does.
func (c *Cluster) signing(n *Node) *engine.Signing {
	if c.trust == nil {
		return nil
	}
	chain, err := identity.NewBeatChain(n.key, n.ID, n.gen, n.store.boot<<32, c.beatChain())
	if err != nil {
		chain = nil // the engine asks for one (ChainDue)
	}
	return &engine.Signing{Key: n.key, Trust: identity.NewTrustCache(c.trust, len(c.nodes)), Chain: chain, Reanchor: c.cfg.Reanchor}
}

// defaultSimBeatChain is Config.BeatChain when zero.
const defaultSimBeatChain = 1 << 14

func (c *Cluster) beatChain() uint64 {
	if c.cfg.BeatChain == 0 {
		return defaultSimBeatChain
	}
	return c.cfg.BeatChain
}

// renewChain builds the heartbeat chain n's engine asks for, as the node
// does outside its lock, here at once.
func (c *Cluster) renewChain(n *Node) {
	gen, base, length, due := n.eng.ChainDue()
	if !due {
		return
	}
	chain, err := identity.NewBeatChain(n.key, n.ID, gen, base, max(length, c.beatChain()))
	if err != nil {
		return
	}
	_ = n.eng.SetBeatChain(chain, c.clock.Time()) // stale: it asks again
}
