// Package sim runs many Leviathan nodes in one process, on a simulated
// clock and an in-memory network that drops, delays, duplicates, reorders
// and partitions messages. Each node is the node's own engine
// (internal/engine: the scuttlebutt core, the failure detector, the
// versioner and the bookkeeping around them — catch-up pulls, leaves,
// dead-peer removal, tombstone collection, in-flight deltas, the
// generation ceiling), driven as package node drives it: the simulator
// replaces only the goroutines, sockets, wall clock and Badger. It is a
// single-threaded discrete-event loop: no goroutines, no wall clock, all
// randomness from one seed, so the same seed replays the same run byte for
// byte and a failing scenario can be debugged.
//
// Clusters start cold by default: every node knows only the seeds and
// joins through them, as real nodes do (Prejoin skips that). Scenarios
// cover writes, deletes and tombstone collection, crashes and restarts,
// leaves, dead-peer removal and catch-up pulls.
//
// What it does not model: the Badger store (an in-memory store of committed
// batches stands in for it, with the same durable-before-commit order, and
// checks every batch against the protocol's invariants), CPU and disk time
// (handling a message and persisting a batch take no simulated time), the
// node's goroutine interleaving, encryption, and bandwidth limits of links
// (only latency and loss).
package sim
