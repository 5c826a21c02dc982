// Package versioner issues the versions a node stamps on its own writes.
//
// Scuttlebutt replication relies on one rule: the versions a node issues
// strictly increase across all of its keys, for ever. Peers keep, per node,
// the highest version they hold and ask only for what lies above it, so a
// version that goes backwards is a write nobody will ever fetch. The
// libraries Leviathan replaces broke this on restart, when a counter kept
// only in memory started from zero again and the node's new writes were
// ignored by every peer until it caught up with its old self.
//
// A Versioner therefore has to be told, through Restore, the highest version
// the node ever issued (the store knows) before it hands out the first new
// one. Two implementations are provided:
//
//   - Counter: last+1. Dense and simple; the default.
//   - HLC: a hybrid logical clock, unix milliseconds << 16 | a 16-bit
//     logical counter. Versions stay strictly increasing even if the wall
//     clock steps back, and also say roughly when a write was made, which
//     helps operators and lets versions of different nodes be compared in
//     time order after Witness.
//
// Neither reads the clock by itself: HLC takes the clock as a function, so
// tests and simulations drive it. Both are safe for concurrent use and
// lock-free. Both panic rather than wrap around when the 64-bit space is
// exhausted, because a wrapped version would be silently ignored by peers;
// that takes a Restore or Witness of a corrupt, near-maximal value.
package versioner
