package node

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Resolver looks a host name up, as net.Resolver.LookupNetIP does. A seed
// may be a name (a Kubernetes headless service, a DNS round robin), which
// the node resolves with it at start-up and again every seedRefreshTicks
// gossip intervals; each address of the answer is a seed.
type Resolver func(ctx context.Context, host string) ([]netip.Addr, error)

// WithResolver replaces the system resolver for the names among the seeds
// and in Join (tests script DNS with it). It is called without any lock of
// the node held, from New, Join and a goroutine of the node's own.
func WithResolver(r Resolver) Option { return func(o *options) { o.resolver = r } }

// systemResolver is the default Resolver.
func systemResolver(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

const (
	// seedRefreshTicks is how often, in gossip intervals, seed names are
	// resolved again: often enough that a node follows a seed service's
	// pods being replaced within seconds, rare enough to cost DNS nothing.
	// A name that has never resolved is retried sooner, backing off from
	// one interval to this.
	seedRefreshTicks = 10
	// resolveTimeout bounds one lookup, so that a dead resolver delays a
	// refresh (or New) by seconds, not by the system's full retry cycle.
	resolveTimeout = 5 * time.Second
)

// dnsSeed is a configured seed given as a host name. Its addresses are
// seeds while DNS lists them. Owned by New, then by the seed loop.
type dnsSeed struct {
	spec  string   // as configured, host:port
	host  string   // the name looked up
	port  int      // the port of every address
	addrs []string // canonical host:port of the last answer, sorted
	ok    bool     // resolved at least once
}

// resolveSeeds sorts the configured seeds: an IP literal is a seed as it
// is, a name is resolved now (bounded by resolveTimeout) and tracked, so
// that a seed is recognised by the address its packets come from. A name
// that does not resolve (DNS down or not yet updated) must not stop the
// node: it is logged and retried by the seed loop. With a custom transport
// seeds are used as given.
func (n *Node) resolveSeeds(seeds []string, resolve bool) {
	n.resolveNames = resolve
	for _, s := range seeds {
		host, port, err := splitSeed(s)
		switch {
		case err != nil: // Validate refused it already
			continue
		case !resolve:
			n.addFixedSeed(s)
			continue
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			n.addFixedSeed(netip.AddrPortFrom(ip.Unmap(), uint16(port)).String())
			continue
		}
		d := &dnsSeed{spec: s, host: host, port: port}
		n.dnsSeeds = append(n.dnsSeeds, d)
		addrs, err := n.lookupSeed(n.ctx, d)
		if err != nil {
			n.log.Warn().Err(err).Str("seed", s).Msg("seed does not resolve; starting without it and retrying")
			continue
		}
		n.updateSeed(d, addrs)
	}
}

// addFixedSeed adds a seed no DNS answer can withdraw; before Start only.
func (n *Node) addFixedSeed(addr string) {
	if !slices.Contains(n.fixedSeeds, addr) {
		n.fixedSeeds = append(n.fixedSeeds, addr)
	}
	if !slices.Contains(n.seeds, addr) {
		n.seeds = append(n.seeds, addr)
		n.eng.AddSeeds(addr)
	}
}

// lookupSeed resolves a seed name to the canonical addresses of its seeds.
// IPv4 addresses are kept when the answer has any, else the IPv6 ones: a
// dual-stack name would otherwise give an IPv4 node seeds it cannot send
// to (the same preference as transport.CanonicalAddr's).
func (n *Node) lookupSeed(ctx context.Context, d *dnsSeed) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	ips, err := n.resolver(ctx, d.host)
	if err != nil {
		return nil, err
	}
	var v4, v6 []string
	for _, ip := range ips {
		ip = ip.Unmap()
		a := netip.AddrPortFrom(ip, uint16(d.port)).String()
		if ip.Is4() {
			v4 = append(v4, a)
		} else if ip.IsValid() {
			v6 = append(v6, a)
		}
	}
	addrs := v4
	if len(addrs) == 0 {
		addrs = v6
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("no address for host %q", d.host)
	}
	slices.Sort(addrs)
	return slices.Compact(addrs), nil
}

// updateSeed makes addrs the addresses of d: new ones become seeds (and,
// once the node runs, are sent a Syn at once, as Join does, instead of
// waiting for a round to pick them), those gone from the answer stop being
// seeds unless another seed still names them. Membership is untouched: a
// peer at a withdrawn address stays until failure detection says otherwise.
func (n *Node) updateSeed(d *dnsSeed, addrs []string) {
	var added, gone []string
	for _, a := range addrs {
		if !slices.Contains(d.addrs, a) {
			added = append(added, a)
		}
	}
	for _, a := range d.addrs {
		if !slices.Contains(addrs, a) {
			gone = append(gone, a)
		}
	}
	d.addrs, d.ok = addrs, true
	if len(added) == 0 && len(gone) == 0 {
		return
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	var dropped []string
	for _, a := range gone {
		if !n.seedNamed(a) {
			dropped = append(dropped, a)
		}
	}
	n.seeds = slices.DeleteFunc(n.seeds, func(a string) bool { return slices.Contains(dropped, a) })
	n.eng.RemoveSeeds(dropped...)
	for _, a := range added {
		if !slices.Contains(n.seeds, a) {
			n.seeds = append(n.seeds, a)
		}
	}
	n.eng.AddSeeds(added...)
	var syn *lsync.Syn
	if n.running && !n.leaving && len(added) > 0 {
		syn = n.eng.Syn()
	}
	n.mu.Unlock()
	for _, a := range added {
		n.log.Info().Str("seed", d.spec).Str("addr", a).Msg("seed resolved")
	}
	for _, a := range dropped {
		n.log.Info().Str("seed", d.spec).Str("addr", a).Msg("seed address no longer in DNS; dropped from the seeds")
	}
	if syn != nil {
		n.sendSynTo(syn, added)
	}
}

// seedNamed reports whether a seed other than a name's withdrawn address
// still names addr; under mu.
func (n *Node) seedNamed(addr string) bool {
	if slices.Contains(n.fixedSeeds, addr) {
		return true
	}
	for _, d := range n.dnsSeeds {
		if slices.Contains(d.addrs, addr) {
			return true
		}
	}
	return false
}

// startSeedLoop starts the goroutine that resolves the seed names again,
// every seedRefreshTicks gossip intervals, and sooner while one has never
// resolved. It runs until Close; lookups happen outside mu, so neither a
// slow resolver nor a dead one holds up the engine or the tick loop.
func (n *Node) startSeedLoop() {
	if len(n.dnsSeeds) == 0 {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		tick := n.clock.NewTicker(n.cfg.GossipVal)
		defer tick.Stop()
		wait, waited := 1, 0
		if n.seedsResolved() {
			wait = seedRefreshTicks
		}
		for {
			select {
			case <-n.stop:
				return
			case <-tick.C():
			}
			if waited++; waited < wait {
				continue
			}
			waited = 0
			if n.refreshSeeds() {
				wait = seedRefreshTicks
			} else {
				wait = min(2*wait, seedRefreshTicks)
			}
		}
	}()
}

// seedsResolved reports whether every seed name has resolved once.
func (n *Node) seedsResolved() bool {
	for _, d := range n.dnsSeeds {
		if !d.ok {
			return false
		}
	}
	return true
}

// refreshSeeds resolves every seed name once and reports whether all have
// resolved at least once. A failed lookup keeps the name's addresses: DNS
// being down says nothing about the seeds.
func (n *Node) refreshSeeds() bool {
	for _, d := range n.dnsSeeds {
		select {
		case <-n.stop:
			return true
		default:
		}
		addrs, err := n.lookupSeed(n.ctx, d)
		if err != nil {
			n.log.Debug().Err(err).Str("seed", d.spec).Msg("seed does not resolve")
			continue
		}
		n.updateSeed(d, addrs)
	}
	return n.seedsResolved()
}

// seedAddrs checks and resolves one seed of Join, within ctx.
func (n *Node) seedAddrs(ctx context.Context, s string) ([]string, error) {
	host, port, err := splitSeed(s)
	if err != nil {
		return nil, err
	}
	if !n.resolveNames {
		return []string{s}, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []string{netip.AddrPortFrom(ip.Unmap(), uint16(port)).String()}, nil
	}
	addrs, err := n.lookupSeed(ctx, &dnsSeed{host: host, port: port})
	if err != nil {
		return nil, fmt.Errorf("seed %q: %w", s, err)
	}
	return addrs, nil
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
