// Package sim runs many Leviathan nodes — the real sync.State,
// health.Detector and versioner.Counter — in one process, on a simulated
// clock and an in-memory network that drops, delays, duplicates, reorders
// and partitions messages. It is a single-threaded discrete-event loop: no
// goroutines, no wall clock, all randomness from one seed, so the same seed
// replays the same run byte for byte and a failing scenario can be debugged.
//
// What it does not model: the Badger store (an in-memory store of committed
// batches stands in for it, with the same durable-before-commit order),
// CPU time (handling a message takes no simulated time) and bandwidth limits
// of links (only latency and loss).
package sim
