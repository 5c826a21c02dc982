package sim

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"sort"
)

// Converged reports nil when every running node holds, for every node of
// the cluster, exactly the records that node's own store holds — the state
// gossip must reach once faults stop.
func (c *Cluster) Converged() error {
	for _, n := range c.nodes {
		if !n.up {
			continue
		}
		for _, o := range c.nodes {
			if err := c.holdsAll(n, o); err != nil {
				return err
			}
		}
	}
	return nil
}

// holdsAll checks that n holds o's data as o stored it.
func (c *Cluster) holdsAll(n, o *Node) error {
	if n == o {
		return nil
	}
	own := o.store.peers.get(o.ID)
	if own == nil {
		return nil // o never booted
	}
	info, ok := n.State().Peer(o.ID)
	if !ok {
		return fmt.Errorf("%s does not know %s", n.ID, o.ID)
	}
	if info.Generation != own.meta.Generation || info.MaxVersion != own.meta.MaxVersion {
		return fmt.Errorf("%s holds %s at gen %d v%d, owner at gen %d v%d", n.ID, o.ID,
			info.Generation, info.MaxVersion, own.meta.Generation, own.meta.MaxVersion)
	}
	for k, r := range own.recs {
		got, ok := n.State().Get(o.ID, k)
		if !ok || got.Version != r.Version || !bytes.Equal(got.Value, r.Value) {
			return fmt.Errorf("%s holds %s/%s as %+v, owner has v%d", n.ID, o.ID, k, got, r.Version)
		}
	}
	if info.Keys != len(own.recs) {
		return fmt.Errorf("%s holds %d keys of %s, owner %d", n.ID, info.Keys, o.ID, len(own.recs))
	}
	return nil
}

// CheckPrefixes checks, on every running node and for every peer it holds,
// that the watermark tells the truth: every record of the peer at or below
// it is held at the owner's version, and nothing above it is held. It holds
// at every instant, not only after convergence.
func (c *Cluster) CheckPrefixes() error {
	for _, n := range c.nodes {
		if !n.up {
			continue
		}
		for _, o := range c.nodes {
			if n == o {
				continue
			}
			if err := c.prefix(n, o); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Cluster) prefix(n, o *Node) error {
	info, ok := n.State().Peer(o.ID)
	own := o.store.peers.get(o.ID)
	if !ok || own == nil || info.Generation != own.meta.Generation {
		return nil
	}
	wm := info.MaxVersion
	if wm > own.meta.MaxVersion {
		return fmt.Errorf("%s: watermark of %s is %d, owner stored only %d", n.ID, o.ID, wm, own.meta.MaxVersion)
	}
	for k, r := range own.recs {
		got, held := n.State().Get(o.ID, k)
		switch {
		case r.Version <= wm && (!held || got.Version != r.Version):
			return fmt.Errorf("%s: %s/%s v%d is below watermark %d but held as %+v", n.ID, o.ID, k, r.Version, wm, got)
		case held && got.Version > wm:
			return fmt.Errorf("%s: %s/%s v%d held above watermark %d", n.ID, o.ID, k, got.Version, wm)
		}
	}
	return nil
}

// Fingerprint hashes everything observable about the run — time, every
// node's state and traffic — so that two runs of one seed can be compared.
func (c *Cluster) Fingerprint() string {
	h := fnv.New64a()
	fmt.Fprintf(h, "t=%d;", c.clock.Now())
	for _, n := range c.nodes {
		fmt.Fprintf(h, "%s up=%v %+v;", n.ID, n.up, n.Stats)
		if n.eng == nil {
			continue
		}
		fmt.Fprintf(h, "hb=%d;", n.State().Heartbeat())
		for _, p := range n.State().Peers() {
			st, _ := n.Health(p.ID)
			fmt.Fprintf(h, "%s:%d:%d:%d:%d:%v;", p.ID, p.Generation, p.MaxVersion, p.Heartbeat, p.Keys, st)
			keys := n.State().Keys(p.ID)
			sort.Strings(keys)
			for _, k := range keys {
				r, _ := n.State().Get(p.ID, k)
				fmt.Fprintf(h, "%s=%x@%d,", k, r.Value, r.Version)
			}
		}
	}
	return fmt.Sprintf("%016x", h.Sum64())
}
