package node

import (
	"context"
	"fmt"
)

// contact is closed when the node first holds a peer alive: the first
// EventDiscover it publishes. Contact is judged there, and not on the
// first message received, because a message proves little alone (it may
// be from another cluster, or a stale address answering once); a peer
// comes alive only once this node has seen its heartbeat rise, in
// messages it stepped and committed, directly or relayed by a third node,
// or a member list vouched for it.
type contact struct {
	reached chan struct{} // closed at the first live peer
	left    chan struct{} // closed by Leave: no contact can come after it
}

func newContact() contact {
	return contact{reached: make(chan struct{}), left: make(chan struct{})}
}

// noteContact closes n.contact.reached, once: discoveries are published
// both by the receive path and by health checks, which run concurrently.
func (n *Node) noteContact() {
	n.contactOnce.Do(func() { close(n.contact.reached) })
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
