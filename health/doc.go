// Package health is all of Leviathan's failure detection: it decides which
// peers are alive, suspended, recovered or dead.
//
// Two types share the work. A Detector keeps phi accrual over each peer's
// heartbeats and the peers' states; a Monitor places the live members on a
// ring, has each node beat straight to the next few (its monitors), and
// turns their votes into verdicts that every node takes (see Monitoring).
// Both are pure: the engine feeds them observations and the time, and
// routes the beats and votes they return; Check, on a timer, reports the
// peers discovered, suspended, recovered or declared dead since the last.
//
// Every node bumps a heartbeat counter and gossips it in its digests. The
// node calls Detector.Heartbeat whenever it sees a peer's counter increase,
// from whoever relayed it; with monitoring, the beats a peer sends straight
// to this node weigh most.
//
// # Phi
//
// The detector is a phi-accrual failure detector (Hayashibara et al.) on the
// scale used by chitchat:
//
//	phi = max(0, elapsed - AcceptablePause) / mean
//
// where elapsed is the time since the peer's last heartbeat and mean is the
// mean inter-arrival time over a sliding window of samples. If heartbeats
// arrive as a Poisson process, the probability of hearing nothing for t is
// P_later(t) = exp(-t/mean), so phi = -ln P_later: at the default Threshold
// of 8, only about one gap in e^8 ≈ 3000 between a live peer's heartbeats is
// long enough to get it suspected.
//
// The exponential model is chosen over the normal one of the original paper
// (and of Akka) on purpose. Heartbeats that travel through gossip do not come
// at a steady pace: several rounds' worth arrive together when a digest from
// a well-informed peer lands, then nothing for a while. That makes the
// observed variance large and erratic; a normal model either learns a tiny
// variance from a steady spell and then convicts on the first burst gap, or
// has to be padded with a minimum standard deviation. The exponential model
// has a single parameter, the mean, which bursts barely move.
//
// The mean is a plain mean, so in steady state it is the true observation
// rate however bursty the arrivals. While a window holds fewer than four
// samples, though, one burst (two beats a millisecond apart) would make it
// tiny and a just-discovered peer would be suspected on its next ordinary
// silence; so a young window's mean is never taken below InitialInterval
// (it may be above). Calling Heartbeat only when the counter increases, as
// intended, keeps duplicate copies of one beat out.
//
// Before a peer has any inter-arrival sample the mean is
// Config.InitialInterval, and elapsed is measured from its first heartbeat.
// A peer that was heard of once and never again is therefore suspected in
// due course, instead of sitting at phi 0 (or NaN) for ever as it does in
// detectors that need two heartbeats before they compute anything.
//
// # States
//
//	Joining   --sample and phi <= Threshold-->  Alive       (Discovered)
//	Joining   --phi > Threshold------------->  Suspended   (not reported)
//	Alive     --phi > Threshold------------->  Suspended   (Suspended)
//	Suspended --phi <= Threshold, heard------>  Alive       (Recovered, or Discovered if never alive)
//	Suspended --DeadAfter, phi > Threshold--->  Dead        (Dead)
//	Dead      --phi <= Threshold, heard------>  Alive       (Recovered, or Discovered if never alive)
//
// Check makes the transitions, but for two that gain nothing by waiting
// for it, as it would look at nothing more: Admit brings up a Joining peer
// as soon as it has its sample or was vouched for instead (Vouch), and
// Revive a peer proven reborn.
//
// A peer never seen alive (just heard of, or loaded from disk at start-up)
// that goes silent is routed around like any suspended peer but not
// reported: a node that is joining pages no one. If it stays silent for
// DeadAfter it is reported Dead, so a peer that never answers still fails.
//
// "Heard" means a heartbeat (or Reset) arrived after the peer went down:
// dropping a dead peer's samples changes its mean, and a peer must not come
// back to life through arithmetic alone. A peer that has never been alive
// also needs at least one inter-arrival sample, so a single heartbeat, which
// may be a stale one relayed long after the fact, never makes a peer live.
//
// # Monitoring
//
// In a large cluster relayed heartbeats are too sparse and irregular to
// judge peers by. Monitor places members on a ring; each node beats
// straight to the next few after it, and those monitors vote when its
// beats stop; a quorum of votes is a verdict that takes the peer down, and
// the peer's own word refutes it. Monitor runs that protocol and drives
// its Detector in monitored mode (Config.Monitored); the caller routes the
// Messages it returns and tells it what arrived (Observe, TakeVotes).
// The package knows nothing of the wire: what it needs of the replication
// core comes through Cluster.
//
// # Pauses
//
// If the local process stalls (GC, a frozen VM, a laptop lid), every peer
// looks silent when it wakes up. As in Cassandra, a Check that comes
// PauseGuard or more after the previous one makes no new suspicions, which
// gives the caller one tick to feed in the heartbeats that queued up during
// the stall.
//
// # Purity
//
// The package starts no goroutines and never reads the clock: time comes in
// as arguments, so a simulation of many nodes can drive it with a scripted
// clock and get the same result every run. Reports are sorted, so map order
// never leaks into them.
package health
