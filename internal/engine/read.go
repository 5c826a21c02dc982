package engine

import (
	"time"

	"github.com/leviathan-gossip/leviathan/health"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// The reads below are what a driver may ask of the engine, under the lock
// it holds around every engine call. They keep the core and the detector
// the engine's own: nothing outside can change them behind its back.

// Self is the local node's metadata.
func (e *Engine) Self() lsync.PeerMeta { return e.state.Self() }

// Peer describes a known node, the local one included.
func (e *Engine) Peer(id string) (lsync.PeerInfo, bool) { return e.state.Peer(id) }

// Peers describes every other known node.
func (e *Engine) Peers() []lsync.PeerInfo { return e.state.Peers() }

// View is what the engine holds of a node's metadata, to read its records
// from Storage with.
func (e *Engine) View(id string) (lsync.PeerMeta, bool) { return e.state.View(id) }

// Get reads a record from the engine's memory; with a Config.Storage the
// records are there instead.
func (e *Engine) Get(id, key string) (lsync.Record, bool) { return e.state.Get(id, key) }

// Storage is where committed records are read from: Config.Storage,
// which may be read without the lock, or the engine's memory, which only
// under it (it is written under it, and has no lock of its own).
func (e *Engine) Storage() lsync.Storage { return e.state.Storage() }

// Stats are the core's counters.
func (e *Engine) Stats() lsync.Stats { return e.state.Stats() }

// Addresses lists the addresses of the known nodes, and of those still
// proving a new address: who may open a stream.
func (e *Engine) Addresses() []string {
	return append(e.state.Addresses(), e.state.ProvingAddresses()...)
}

// Liveness is what the engine believes of a peer's health.
type Liveness struct {
	// State is the detector's; Tracked is false for a peer never seen
	// alive (joining), whose State means nothing.
	State   health.State
	Tracked bool
	// Left: the peer announced its leave and has not come back.
	Left bool
	Phi  float64
	// LastHeard is when its heartbeat was last seen to rise; Heard is
	// false if it never was.
	LastHeard time.Time
	Heard     bool
}

// Liveness reports a peer's health at now.
func (e *Engine) Liveness(id string, now time.Time) Liveness {
	var l Liveness
	l.State, l.Tracked = e.det.State(id)
	_, l.Left = e.left[id]
	l.Phi = e.det.Phi(id, now)
	l.LastHeard, l.Heard = e.det.LastHeard(id)
	return l
}

// Lag is how far this node's copy of id's data trails the watermark
// digests claim for it: versions behind, and since when (0 in step).
func (e *Engine) Lag(id string) (behind uint64, since time.Time) {
	n, ms := e.state.Lag(id)
	if n == 0 {
		return 0, time.Time{}
	}
	return n, time.UnixMilli(int64(ms))
}
