//go:build race

package transport

// raceEnabled: the race detector multiplies what memory costs in RSS.
const raceEnabled = true
