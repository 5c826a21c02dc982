//go:build race

package sim

// raceEnabled trims the randomised runs: the race detector slows the
// simulator about tenfold, and the package must stay fast under -race.
const raceEnabled = true
