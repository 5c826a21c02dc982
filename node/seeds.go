package node

import (
	"path/filepath"

	"github.com/leviathan-gossip/leviathan/sync/transport"
)

// resolveSeed turns a configured seed into the address its packets come
// from; a variable so that tests can script DNS failures.
var resolveSeed = transport.CanonicalAddr

// seedRetryMaxTicks caps the backoff between attempts to resolve a seed,
// in gossip intervals.
const seedRetryMaxTicks = 32

// resolveSeeds resolves the configured seeds once, so that a seed is
// recognised by the address its packets come from. A seed that does not
// resolve (DNS down or not yet updated) must not stop the node: it is
// logged, left out, and retried by retrySeeds. With a custom transport
// seeds are used as given.
func (n *Node) resolveSeeds(seeds []string, resolve bool) (ok, pending []string) {
	n.resolveNames = resolve
	for _, s := range seeds {
		if !resolve {
			ok = append(ok, s)
			continue
		}
		addr, err := resolveSeed(s)
		if err != nil {
			n.log.Warn().Err(err).Str("seed", s).Msg("seed does not resolve; starting without it and retrying")
			pending = append(pending, s)
			continue
		}
		ok = append(ok, addr)
	}
	return ok, pending
}

// retrySeeds keeps resolving the seeds that did not resolve at start-up,
// backing off from one gossip interval to seedRetryMaxTicks of them, and
// adds each to the gossip targets once it resolves. It runs until every
// seed resolved or the node closes. Lookups happen outside mu.
func (n *Node) retrySeeds(pending []string) {
	if len(pending) == 0 {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		tick := n.clock.NewTicker(n.cfg.GossipVal)
		defer tick.Stop()
		wait, waited := 1, 0
		for len(pending) > 0 {
			select {
			case <-n.stop:
				return
			case <-tick.C():
			}
			if waited++; waited < wait {
				continue
			}
			waited, wait = 0, min(2*wait, seedRetryMaxTicks)
			pending = n.resolvePending(pending)
		}
	}()
}

// resolvePending tries each pending seed once and returns those still
// unresolved.
func (n *Node) resolvePending(pending []string) []string {
	var still []string
	for _, s := range pending {
		addr, err := resolveSeed(s)
		if err != nil {
			n.log.Debug().Err(err).Str("seed", s).Msg("seed still does not resolve")
			still = append(still, s)
			continue
		}
		n.mu.Lock()
		n.seeds = append(n.seeds, addr)
		n.eng.AddSeeds(addr)
		n.mu.Unlock()
		n.log.Info().Str("seed", s).Str("addr", addr).Msg("seed resolved")
	}
	return still
}

// logDataDir says where the node keeps its data, with a warning when
// data_dir was left unset and the default directory in the working
// directory is used: a zero Config should not write there silently.
func (n *Node) logDataDir() {
	switch {
	case n.cfg.InMemory:
		return
	case n.cfg.dataDirDefaulted:
		abs, _ := filepath.Abs(n.cfg.DataDir)
		n.log.Warn().Str("data_dir", abs).Msg("data_dir not set: keeping data in the working directory; set data_dir, or in_memory = true")
	default:
		n.log.Info().Str("data_dir", n.cfg.DataDir).Msg("data directory")
	}
}
