package health

import "time"

// window holds the latest inter-arrival samples, oldest first, with a
// running sum, so reading the mean is O(1). Samples are integer
// nanoseconds and the sum is exact: a float running sum would drift over
// millions of heartbeats.
type window struct {
	samples []time.Duration
	sum     time.Duration
}

// add records one sample, evicting the oldest once size samples are held.
// The slice grows as samples arrive, never beyond size: a simulation holds
// a detector per node with a window per peer, and most of those windows
// never fill. A full window shifts its samples down rather than keeping a
// ring position: a position per peer would cost more memory, at N²
// windows, than the copy of a full window costs time.
func (w *window) add(d time.Duration, size int) {
	if len(w.samples) < size {
		if len(w.samples) == cap(w.samples) {
			grown := make([]time.Duration, len(w.samples), min(size, max(1, 2*cap(w.samples))))
			copy(grown, w.samples)
			w.samples = grown
		}
		w.samples = append(w.samples, d)
		w.sum += d
		return
	}
	w.sum += d - w.samples[0]
	copy(w.samples, w.samples[1:])
	w.samples[len(w.samples)-1] = d
}

func (w *window) len() int { return len(w.samples) }

// mean is the mean sample, or fallback when there is none.
func (w *window) mean(fallback time.Duration) time.Duration {
	if len(w.samples) == 0 {
		return fallback
	}
	return w.sum / time.Duration(len(w.samples))
}

// youngWindow is how many samples a window needs before its mean is
// trusted below InitialInterval.
const youngWindow = 4

// trustedMean is the window's mean, but never below initial while the
// window is young: two beats of one burst, a millisecond apart, would
// otherwise make the mean a millisecond and get a peer that was just
// discovered suspected on its next ordinary silence (phi in the hundreds).
// A young window may still say the peer is slower than initial.
func (w *window) trustedMean(initial time.Duration) time.Duration {
	m := w.mean(initial)
	if len(w.samples) < youngWindow && m < initial {
		return initial
	}
	return m
}

// reset drops every sample but keeps the backing array for reuse.
func (w *window) reset() {
	w.samples = w.samples[:0]
	w.sum = 0
}

// phi is -ln P(no heartbeat for elapsed) for exponentially distributed
// inter-arrival times of the given mean. Negative elapsed times (a clock
// that stepped back, heartbeats observed out of order) count as no silence
// at all, which keeps the result non-negative. A non-positive mean cannot
// come from the window (samples are > 0, InitialInterval > 0) but is mapped
// to 1ns so the result stays finite whatever happens.
func phi(elapsed, pause, mean time.Duration) float64 {
	if elapsed <= pause { // also rules out elapsed < 0, before it could overflow
		return 0
	}
	silence := elapsed - pause
	if mean <= 0 {
		mean = 1
	}
	return float64(silence) / float64(mean)
}
