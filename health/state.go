package health

import "strconv"

// State is what the detector currently believes about a peer.
type State uint8

const (
	// Joining: heard of, but not yet seen heartbeating steadily enough to
	// be called alive. Nothing should be routed to a Joining peer.
	Joining State = iota
	// Alive: phi is at or below the threshold.
	Alive
	// Suspended: phi went above the threshold. The peer is probably down
	// but may come back; callers typically stop gossiping to it directly
	// and keep its data.
	Suspended
	// Dead: suspended for Config.DeadAfter. It can still recover if its
	// heartbeats resume.
	Dead
)

// String returns "joining", "alive", "suspended" or "dead".
func (s State) String() string {
	switch s {
	case Joining:
		return "joining"
	case Alive:
		return "alive"
	case Suspended:
		return "suspended"
	case Dead:
		return "dead"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}
