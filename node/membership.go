package node

import (
	"context"
	"errors"
	"fmt"
	"slices"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/wire"
)

// ErrLeft is returned by writes and Join after Leave: a node that left
// stays quiet until it is closed and started again.
var ErrLeft = errors.New("node: left the cluster")

// Join adds seeds (host:port) at run time, as if they had been in the
// configuration, and contacts each of them at once rather than at the next
// round. A seed that is malformed or does not resolve is reported in the
// error; the others are added all the same. Joining a seed already known
// only contacts it again. ctx bounds the lookups of seeds given as names
// (as does Close); Join returns ctx's error, wrapped, without adding any
// seed, if ctx has ended when it is called.
//
// Join does not wait for an answer: WaitContact does, and serves seeds
// from the configuration as well. A seed that does not answer yet is not
// an error either way: it stays a seed, contacted every round until it
// answers, as a configured one is. So joining is
//
//	err := n.Join(ctx, "10.0.0.7:7946")
//	err = n.WaitContact(ctx) // nil once a peer is alive here
//
// and a node whose seeds are all configured skips the Join.
func (n *Node) Join(ctx context.Context, seeds ...string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("node: join: %w", err)
	}
	// Close ends the lookups too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(n.ctx, cancel)()
	var errs []error
	var addrs []string
	for _, s := range seeds {
		as, err := n.seedAddrs(ctx, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		addrs = append(addrs, as...)
	}
	n.mu.Lock()
	switch {
	case n.closed:
		n.mu.Unlock()
		return ErrClosed
	case n.leaving:
		n.mu.Unlock()
		return ErrLeft
	}
	for _, a := range addrs {
		if !slices.Contains(n.seeds, a) {
			n.seeds = append(n.seeds, a)
		}
		// Joined by hand: no DNS answer withdraws it.
		if !slices.Contains(n.fixedSeeds, a) {
			n.fixedSeeds = append(n.fixedSeeds, a)
		}
	}
	n.eng.AddSeeds(addrs...)
	var syn *lsync.Syn
	if n.running {
		syn = n.eng.Syn()
	}
	n.mu.Unlock()
	if syn != nil && len(addrs) > 0 {
		n.sendSynTo(syn, addrs)
	}
	if len(errs) > 0 {
		return fmt.Errorf("node: join: %w", errors.Join(errs...))
	}
	return nil
}

// Leave announces that this node is leaving, as Close does, but keeps it
// open: peers mark it left (not failed) at once, it stops gossiping and
// heartbeating, and reads (Get, Keys, Peers, the admin API) still work on
// what it holds. Writes and Join return ErrLeft afterwards, and so does
// WaitContact if no peer was alive yet; Close it when done. Leave before
// Start, or a second Leave, does nothing.
//
// Leave takes no context because it waits for nothing: the announcement
// is one datagram to each peer, queued to the transport and not
// acknowledged; peers that miss it find the node silent and, seeing its
// leave in others' gossip, mark it left.
func (n *Node) Leave() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	if !n.running || n.leaving {
		n.mu.Unlock()
		return nil
	}
	n.leaving = true
	close(n.contact.left)
	rd := n.eng.Leave()
	n.mu.Unlock()
	n.sendAll(rd.Send)
	n.log.Info().Int("peers", len(rd.Send)).Msg("left the cluster; node still open for reads")
	return nil
}

// sendSynTo sends one Syn to each address, each with its own copy of the
// encoded bytes (a transport owns what it is given).
func (n *Node) sendSynTo(syn *lsync.Syn, addrs []string) {
	b, err := wire.Encode(syn)
	if err != nil {
		n.log.Error().Err(err).Msg("encode syn failed")
		return
	}
	for _, a := range addrs {
		n.sendRaw(a, append([]byte(nil), b...), lsync.MsgSyn)
	}
}
