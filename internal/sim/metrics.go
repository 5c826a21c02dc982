package sim

import (
	"math"
	"slices"
	"time"
)

// Traffic sums the nodes' counters.
func (c *Cluster) Traffic() Stats {
	var t Stats
	for _, n := range c.nodes {
		t.MsgsOut += n.Stats.MsgsOut
		t.BytesOut += n.Stats.BytesOut
		t.MsgsIn += n.Stats.MsgsIn
		t.BytesIn += n.Stats.BytesIn
		t.Streams += n.Stats.Streams
		t.Lost += n.Stats.Lost
		t.Rounds += n.Stats.Rounds
		t.Pushes += n.Stats.Pushes
		t.PushBytes += n.Stats.PushBytes
		for i, b := range n.Stats.ByType {
			t.ByType[i] += b
		}
	}
	return t
}

// SynStats describe the Syns sent: how big the digests got and how many
// entries they carried, to show that a digest stays within the MTU and
// how much of the cluster one covers.
type SynStats struct {
	Count      uint64
	MaxBytes   int
	Entries    uint64 // summed over Syns
	Incomplete uint64 // Syns whose digest left some node out
}

// Syns returns the Syn statistics so far.
func (c *Cluster) Syns() SynStats { return c.syns }

// percentile returns the q-quantile (0<q≤1) of sorted values, nearest rank.
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sortedSeconds(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	slices.Sort(out)
	return out
}

// round2 keeps two decimals, so that tables and JSON stay readable.
func round2(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return -1
	}
	return math.Round(v*100) / 100
}

// hist is a histogram of non-negative values in fixed-width buckets, so
// that a 1000-node run's million samples a second cost no memory.
type hist struct {
	width  float64
	counts []uint64
	n      uint64
	max    float64
}

func (h *hist) add(v float64) {
	v = max(v, 0)
	b := int(v / h.width)
	if b >= len(h.counts) {
		h.counts = append(h.counts, make([]uint64, b+1-len(h.counts))...)
	}
	h.counts[b]++
	h.n++
	h.max = max(h.max, v)
}

// quantile is the upper edge of the bucket holding the q-quantile, capped
// at the largest value seen.
func (h *hist) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	need := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for b, k := range h.counts {
		if seen += k; seen >= max(need, 1) {
			return min(float64(b+1)*h.width, h.max)
		}
	}
	return h.max
}
