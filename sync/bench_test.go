package sync

import (
	"fmt"
	"math/rand"
	"testing"
)

// bulkState is a node holding n records of 100-byte values.
func bulkState(b *testing.B, n int) *State {
	s := newTestState(b, "w", 1)
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Key: fmt.Sprintf("key-%07d", i), Value: make([]byte, 100), Version: uint64(i + 1)}
	}
	batch, err := s.LocalWrite(recs)
	if err != nil {
		b.Fatal(err)
	}
	commitTo(s, batch)
	return s
}

// BenchmarkCodecBulk encodes and decodes a 4 MiB catch-up message and
// reports wire bytes per byte of key+value payload.
func BenchmarkCodecBulk(b *testing.B) {
	s := bulkState(b, 40000)
	s.cfg.MessageBudget = 4 << 20
	ds, _ := s.selectDeltas("r", index([]DigestEntry{{ID: "w", Generation: 1}}), false, 4<<20, rand.New(rand.NewSource(1)))
	m := &Ack{Cluster: "c", From: "w", Deltas: ds}
	payload := 0
	for _, r := range ds[0].Records {
		payload += len(r.Key) + len(r.Value)
	}
	enc, _ := encode(m)
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := encode(m)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decode(out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(enc))/float64(payload), "wire/payload")
	b.ReportMetric(float64(len(ds[0].Records)*b.N)/b.Elapsed().Seconds(), "deltas/s")
}

// BenchmarkSelectDeltas builds a 4 MiB delta for a peer behind by 40000.
func BenchmarkSelectDeltas(b *testing.B) {
	s := bulkState(b, 40000)
	theirs := index([]DigestEntry{{ID: "w", Generation: 1}})
	rng := rand.New(rand.NewSource(1))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.selectDeltas("r", theirs, false, 4<<20, rng)
	}
}

// BenchmarkMakeSyn builds a digest of 1000 peers cut to one datagram.
func BenchmarkMakeSyn(b *testing.B) {
	s := newTestState(b, "me", 1)
	var d []DigestEntry
	for i := 0; i < 1000; i++ {
		d = append(d, DigestEntry{ID: fmt.Sprintf("peer-%04d", i), Addr: "10.0.0.1:7946", Generation: 1, Heartbeat: 1})
	}
	rng := rand.New(rand.NewSource(1))
	s.Handle(&Syn{Cluster: "test", From: "x", Digest: d}, rng)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.MakeSyn(rng)
	}
}
