package node

import (
	"context"
	"fmt"
	gosync "sync"
)

// contact marks the node's first contact: the first time it holds a peer
// alive, which is its first EventDiscover. Contact is judged there, and
// not on the first message received, because a message proves little
// until the engine has judged it (it may come from another cluster, or
// name a node from an address not its own): a peer comes alive here once
// its own word reached this node, its heartbeat rose in a third node's
// gossip, or a member's list vouched for it.
type contact struct {
	reached chan struct{} // closed at the first live peer
	left    chan struct{} // closed by Leave: no contact can come after it
	// once closes reached: discoveries are published both by the receive
	// path and by health checks, which run concurrently.
	once gosync.Once
}

func (c *contact) init() {
	c.reached, c.left = make(chan struct{}), make(chan struct{})
}

// noteContact closes n.contact.reached, once.
func (n *Node) noteContact() {
	n.contact.once.Do(func() { close(n.contact.reached) })
}

// Contacted returns a channel closed the first time this node holds a
// peer alive (see WaitContact), for a select alongside other work. It is
// never closed if the node closes, or leaves, before that.
func (n *Node) Contacted() <-chan struct{} { return n.contact.reached }

// WaitContact blocks until this node holds a peer alive, which needs its
// seeds (from the configuration or Join) or some peer to have answered:
// at once if one is. It returns ErrClosed if the node is or gets closed,
// ErrLeft if it left (Leave) before any contact, and ctx's error, wrapped,
// if ctx ends first. A node not started yet is waited for: contact comes
// once it runs.
//
// It is how an application waits to have joined, whether the seeds came
// from the configuration or from Join, which only adds and contacts them.
// On a node that is the first of its cluster it waits until ctx ends:
// pass a deadline, and treat its end as "alone so far", not as a failure.
func (n *Node) WaitContact(ctx context.Context) error {
	select {
	case <-n.stop:
		return ErrClosed
	default:
	}
	select {
	case <-n.contact.reached:
		return nil
	default:
	}
	select {
	case <-n.contact.reached:
		return nil
	case <-n.stop:
		return ErrClosed
	case <-n.contact.left:
		return ErrLeft
	case <-ctx.Done():
		return fmt.Errorf("node: wait for contact: %w", ctx.Err())
	}
}
