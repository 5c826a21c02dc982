package sim

import "time"

// Epoch is the wall-clock time simulated time 0 maps to. It is fixed, not
// time.Now, so that generations (milliseconds since the Unix epoch, as the
// node derives them) and so message sizes are the same on every run.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Clock is the simulated time: a duration since Epoch that only the event
// loop advances.
type Clock struct {
	now time.Duration
}

// Now is the current simulated time since Epoch.
func (c *Clock) Now() time.Duration { return c.now }

// Time is the current simulated time as a time.Time, for the detector.
func (c *Clock) Time() time.Time { return Epoch.Add(c.now) }
