package proof

import (
	"fmt"
	"math/rand"
	"testing"
)

// The batch sizes measured: a lone write, and group commits of a few, a
// hundred and a thousand records.
var benchBatches = []int{1, 16, 128, 1024}

// recordWire is the wire size of one record of a 16-byte key and a 100-byte
// value in a delta today, without a proof.
const recordWire = 118

// perRecord reports the time per record of a benchmark whose iterations
// each handle n records.
func perRecord(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/record")
}

// BenchmarkSign is the origin's cost per record written: per-record
// signatures (record) against one signature per batch (batch), leaf
// hashes and tree included.
func BenchmarkSign(b *testing.B) {
	k := testKey(b, 1)
	for _, n := range benchBatches {
		recs := testRecords(n, 1, 1)
		b.Run(fmt.Sprintf("record/batch=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for i := range recs {
					if _, err := SignRecord(k, testOrigin, testGen, &recs[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
			perRecord(b, n)
		})
		b.Run(fmt.Sprintf("batch/batch=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, _, err := Seal(k, testOrigin, testGen, recs)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.AppendWire(nil); err != nil {
					b.Fatal(err)
				}
			}
			perRecord(b, n)
		})
	}
}

// BenchmarkVerify is a receiver's cost per record: per-record signatures
// (record); a whole batch as a catch-up delivers it, from its wire form
// (batch); the same with a cache that verified the header before, as for
// the rest of a batch cut across messages or a push heard twice (cached).
func BenchmarkVerify(b *testing.B) {
	k := testKey(b, 1)
	pub := k.Public()
	for _, n := range benchBatches {
		recs := testRecords(n, 1, 1)
		sigs := make([][SignatureSize]byte, n)
		for i := range recs {
			var err error
			if sigs[i], err = SignRecord(k, testOrigin, testGen, &recs[i]); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("record/batch=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for i := range recs {
					if err := VerifyRecord(pub, testOrigin, testGen, &recs[i], &sigs[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
			perRecord(b, n)
		})
		p, _, err := Seal(k, testOrigin, testGen, recs)
		if err != nil {
			b.Fatal(err)
		}
		wire, err := p.AppendWire(nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, cached := range []bool{false, true} {
			name := "batch"
			var cache *Verified
			if cached {
				name, cache = "cached", NewVerified(16)
			}
			b.Run(fmt.Sprintf("%s/batch=%d", name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					verifyWire(b, wire, recs, pub, cache)
				}
				perRecord(b, n)
			})
		}
	}
	// Slices of a batch of 1024: what a re-cut message or a compacted
	// holder's answer carries. Per record carried.
	recs := testRecords(1024, 1, 1)
	full, leaves, err := Seal(k, testOrigin, testGen, recs)
	if err != nil {
		b.Fatal(err)
	}
	for _, sh := range benchShapes(1024) {
		p, _, err := full.Subset(leaves, sh.keep)
		if err != nil {
			b.Fatal(err)
		}
		wire, err := p.AppendWire(nil)
		if err != nil {
			b.Fatal(err)
		}
		got := pick(recs, sh.keep)
		b.Run("batch/batch=1024/"+sh.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				verifyWire(b, wire, got, pub, nil)
			}
			perRecord(b, len(got))
		})
	}
}

func verifyWire(b *testing.B, wire []byte, recs []Record, pub []byte, cache *Verified) {
	p, err := Parse(wire, testOrigin, testGen)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Verify(pub, Leaves(testOrigin, recs), cache); err != nil {
		b.Fatal(err)
	}
}

// A shape is which records of a batch a message carries or a holder
// keeps.
type shape struct {
	name string
	keep []Span
}

// benchShapes: a datagram's worth from the middle (11 records of 118
// bytes in 1400), half the batch in one piece, every other record (half
// compacted, the worst case for holes), half at random, a tenth at random.
func benchShapes(n int) []shape {
	rng := rand.New(rand.NewSource(1))
	randomly := func(frac float64) []Span {
		var s []Span
		for i := 0; i < n; i++ {
			if rng.Float64() < frac {
				s = appendSpan(s, Span{i, i + 1})
			}
		}
		if s == nil {
			s = []Span{{0, 1}}
		}
		return s
	}
	mid := max(0, n/2-5)
	return []shape{
		{"whole", []Span{{0, n}}},
		{"datagram", []Span{{mid, min(n, mid+11)}}},
		{"half", []Span{{0, max(1, n/2)}}},
		{"every-other", evenSpans(n)},
		{"random-half", randomly(0.5)},
		{"random-tenth", randomly(0.1)},
	}
}

// BenchmarkProve is a sender's cost per record sent to cut the proof of a
// slice from the proof it stores, given the leaf hashes of what it holds
// (stored, or recomputed at BenchmarkLeafHash's cost each): with a tree
// built for the one slice (subset), and cutting every slice of the batch
// from one tree, as a sender splitting a batch into messages does
// (tree).
func BenchmarkProve(b *testing.B) {
	k := testKey(b, 1)
	recs := testRecords(1024, 1, 1)
	full, leaves, err := Seal(k, testOrigin, testGen, recs)
	if err != nil {
		b.Fatal(err)
	}
	compacted, cl, err := full.Subset(leaves, evenSpans(1024))
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		from   *Proof
		leaves []Hash
		slice  int
	}{
		{"whole/datagram", full, leaves, 11},
		{"whole/half", full, leaves, 512},
		{"every-other/datagram", compacted, cl, 11},
		{"every-other/half", compacted, cl, 256},
	} {
		b.Run("subset/"+tc.name, func(b *testing.B) {
			mid := tc.from.Len()/2 - tc.slice/2
			keep := []Span{{mid, mid + tc.slice}}
			b.ReportAllocs()
			for b.Loop() {
				p, _, err := tc.from.Subset(tc.leaves, keep)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.AppendWire(nil); err != nil {
					b.Fatal(err)
				}
			}
			perRecord(b, tc.slice)
		})
		b.Run("tree/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				t, err := NewTree(tc.from, tc.leaves)
				if err != nil {
					b.Fatal(err)
				}
				for lo := 0; lo < t.Len(); lo += tc.slice {
					p, _, err := t.Subset([]Span{{lo, min(lo+tc.slice, t.Len())}})
					if err != nil {
						b.Fatal(err)
					}
					if buf, err = p.AppendWire(buf[:0]); err != nil {
						b.Fatal(err)
					}
				}
			}
			perRecord(b, tc.from.Len())
		})
	}
}

// BenchmarkLeafHash hashes one record of a 16-byte key and a 100-byte
// value.
func BenchmarkLeafHash(b *testing.B) {
	r := testRecords(1, 1, 1)[0]
	b.ReportAllocs()
	for b.Loop() {
		LeafHash(testOrigin, &r)
	}
}

// BenchmarkWireBytes reports the proof bytes a message carries per record
// of 118 bytes (wire-B/record) and that as a share of the record
// (overhead-%), for each batch size and shape; a per-record signature is
// 66 bytes (a bin 8 of 64) whatever the batch.
func BenchmarkWireBytes(b *testing.B) {
	k := testKey(b, 1)
	for _, n := range benchBatches {
		full, leaves, err := Seal(k, testOrigin, testGen, testRecords(n, 1_000_000, 1))
		if err != nil {
			b.Fatal(err)
		}
		for _, sh := range benchShapes(n) {
			p, _, err := full.Subset(leaves, sh.keep)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("batch=%d/%s", n, sh.name), func(b *testing.B) {
				for b.Loop() {
					p.WireSize()
				}
				per := float64(p.WireSize()) / float64(p.Len())
				b.ReportMetric(per, "wire-B/record")
				b.ReportMetric(100*per/recordWire, "overhead-%")
			})
		}
	}
}

// BenchmarkDiskBytes reports what a holder stores per record it holds: the
// proof of its records in wire form (stored-B/record), after compaction or
// collection dropped none, every other, half or nine in ten of a batch's
// records at random; with the leaf hashes of the held records kept too, so
// that cutting a proof reads no other record, add 32. A per-record
// signature stores 64 bytes per record.
func BenchmarkDiskBytes(b *testing.B) {
	k := testKey(b, 1)
	for _, n := range benchBatches {
		full, leaves, err := Seal(k, testOrigin, testGen, testRecords(n, 1_000_000, 1))
		if err != nil {
			b.Fatal(err)
		}
		for _, sh := range benchShapes(n) {
			if sh.name == "datagram" || sh.name == "half" {
				continue
			}
			p, _, err := full.Subset(leaves, sh.keep)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("batch=%d/%s", n, sh.name), func(b *testing.B) {
				for b.Loop() {
					p.WireSize()
				}
				b.ReportMetric(float64(p.WireSize())/float64(p.Len()), "stored-B/record")
			})
		}
	}
}
