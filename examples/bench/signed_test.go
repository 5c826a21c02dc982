package main

import (
	"testing"
	"time"
)

// TestSignedRow: a row's ratio is signed over unsigned, judged against
// its target's bound in the target's direction; no target, or nothing
// to divide by, judges nothing.
func TestSignedRow(t *testing.T) {
	tests := []struct {
		unsigned, signed float64
		target           string
		ratio            float64
		met              string
	}{
		{1000, 600, "≥0.5", 0.6, "yes"},
		{1000, 400, "≥0.5", 0.4, "no"},
		{1000, 500, "≥0.5", 0.5, "yes"},
		{200, 280, "≤1.5", 1.4, "yes"},
		{200, 320, "≤1.5", 1.6, "no"},
		{10, 11, "≤1.1", 1.1, "yes"},
		{10, 30, "-", 3, "-"},
		{0, 30, "≥0.5", 0, "-"},
	}
	for _, tt := range tests {
		r := row("m", tt.unsigned, tt.signed, tt.target)
		if r.Ratio != tt.ratio || r.Met != tt.met {
			t.Errorf("row(%v, %v, %q) = ratio %v met %q, want %v %q", tt.unsigned, tt.signed, tt.target, r.Ratio, r.Met, tt.ratio, tt.met)
		}
	}
}

// TestLatencyMs: quantiles of sorted latencies, in milliseconds to the
// microsecond, and -1 for none.
func TestLatencyMs(t *testing.T) {
	lat := []time.Duration{300 * time.Microsecond, 1200 * time.Microsecond, 2 * time.Millisecond, 2500 * time.Millisecond}
	for _, tt := range []struct {
		lat  []time.Duration
		q    float64
		want float64
	}{{lat, 0.5, 1.2}, {lat, 1, 2500}, {lat[:1], 0.5, 0.3}, {nil, 0.5, -1}} {
		if got := latencyMs(tt.lat, tt.q); got != tt.want {
			t.Errorf("latencyMs(%v, %v) = %v, want %v", tt.lat, tt.q, got, tt.want)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		xs   []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{7}, 7}} {
		if got := median(tt.xs); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.xs, got, tt.want)
		}
	}
}
