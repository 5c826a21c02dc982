//go:build race

package sync

// raceEnabled: the race detector multiplies what memory costs in RSS.
const raceEnabled = true
