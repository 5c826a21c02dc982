package identity

import (
	"fmt"
	"testing"
)

// One hash of a chain: the unit every other cost here is counted in.
func BenchmarkBeatStep(b *testing.B) {
	com := BeatCommitment{ID: "node-00001", Generation: 1767225600000, Base: 1 << 32, Length: DefaultBeatChainLength}
	tag := com.tag()
	var v BeatValue
	b.ReportAllocs()
	for b.Loop() {
		v = tag.step(7, v)
	}
}

// What a node pays to start a chain, and what the chain then holds.
func BenchmarkBeatChainSetup(b *testing.B) {
	key := testKey(b, 1)
	for _, length := range []uint64{1 << 12, 1 << 16, 1 << 20} {
		b.Run(fmt.Sprintf("length=2^%d", log2(length)), func(b *testing.B) {
			var c *BeatChain
			for b.Loop() {
				c = newTestChain(b, key, "node-00001", 1767225600000, 1<<32, length)
			}
			b.ReportMetric(float64(len(c.checkpoints)*BeatValueSize+len(c.vals)*BeatValueSize), "bytes-held")
		})
	}
}

func log2(u uint64) int {
	n := 0
	for ; u > 1; u >>= 1 {
		n++
	}
	return n
}

// A proof per heartbeat in rising order, as a node beats (a gap's hashes
// every 256 beats), and the worst case, every proof in another gap.
func BenchmarkBeatProof(b *testing.B) {
	const base, length = 1 << 32, 1 << 16
	c := newTestChain(b, testKey(b, 1), "node-00001", 1767225600000, base, length)
	b.Run("rising", func(b *testing.B) {
		h := uint64(base)
		b.ReportAllocs()
		for b.Loop() {
			if h++; h > base+length {
				h = base + 1
			}
			if _, err := c.Proof(h); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("another-gap", func(b *testing.B) {
		far := false
		b.ReportAllocs()
		for b.Loop() {
			h := uint64(base + 1)
			if far = !far; far {
				h += length / 2
			}
			if _, err := c.Proof(h); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Verifying a heartbeat that many beats above the last one verified of
// its chain: 0 is a relay of a heartbeat already verified, 1 a monitor's
// beat, 10 a digest entry a few rounds on, 1000 a node heard again after
// a while (allowed by VerifyWalk).
func BenchmarkBeatVerify(b *testing.B) {
	const base, length = 1 << 32, 1 << 16
	c := newTestChain(b, testKey(b, 1), "node-00001", 1767225600000, base, length)
	com := c.Commitment()
	values := make([]BeatValue, length+1)
	for d := range uint64(length + 1) {
		v, err := c.Proof(base + d)
		if err != nil {
			b.Fatal(err)
		}
		values[d] = v
	}
	for _, steps := range []uint64{0, 1, 10, 1000} {
		b.Run(fmt.Sprintf("steps=%d", steps), func(b *testing.B) {
			cache := NewBeatCache(0, 0)
			d := uint64(0)
			b.ReportAllocs()
			for b.Loop() {
				if d+steps > length {
					cache, d = NewBeatCache(0, 0), 0 // a new chain, once in a while
				}
				d += steps
				if err := cache.VerifyWalk(&com, base+d, values[d], steps); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBeatCommitmentParse(b *testing.B) {
	c := newTestChain(b, testKey(b, 1), "node-00001", 1767225600000, 1<<32, 1<<10)
	com, err := c.Reanchor(1<<32 + 500)
	if err != nil {
		b.Fatal(err)
	}
	enc, err := com.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(enc)), "bytes")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseBeatCommitment("node-00001", 1767225600000, enc); err != nil {
			b.Fatal(err)
		}
	}
}
