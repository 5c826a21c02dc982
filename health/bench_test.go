package health

import (
	"testing"
	"time"
)

func BenchmarkHeartbeatPhi(b *testing.B) {
	d := newDetector(b, func(c *Config) { c.WindowSize = 1000 })
	now := epoch
	// Fill the window first so the benchmark measures the steady state,
	// where the ring is full and nothing allocates.
	for range 2000 {
		now = now.Add(time.Second)
		d.Heartbeat("peer", now)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var sink float64
	for b.Loop() {
		now = now.Add(time.Second)
		d.Heartbeat("peer", now)
		sink += d.Phi("peer", now.Add(500*time.Millisecond))
	}
	_ = sink
}

func BenchmarkCheck1000Peers(b *testing.B) {
	d := newDetector(b, nil)
	now := epoch
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = "peer-" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
	}
	for range 10 {
		now = now.Add(time.Second)
		for _, id := range ids {
			d.Heartbeat(id, now)
		}
	}
	d.Check(now)
	b.ReportAllocs()
	for b.Loop() {
		d.Check(now)
	}
}
