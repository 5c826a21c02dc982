package store

import (
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// proofBenchSizes are the signed batch sizes measured; 0 is unsigned.
var proofBenchSizes = []int{0, 1, 16, 128, 1024}

// benchRecords are n records of 16-byte keys and 100-byte values after
// version from, as sync/proof's benchmarks measure them.
func benchRecords(from uint64, n int) []lsync.Record {
	rs := make([]lsync.Record, n)
	val := make([]byte, 100)
	for i := range rs {
		v := from + uint64(i) + 1
		rs[i] = lsync.Record{Key: fmt.Sprintf("key-%012d", v), Value: val, Version: v}
	}
	return rs
}

// benchMessages are the changes that deliver n records in messages of
// benchBatch records, each with the proofs of its signed batches of size
// (none for 0).
func benchMessages(b *testing.B, n, size int) []lsync.Batch {
	k := testKey(b, 1)
	rs := benchRecords(0, n)
	var sealed []sealedBatch
	if size > 0 {
		sealed = sealAll(b, k, "peer", 1, rs, size)
	}
	var out []lsync.Batch
	for lo := 0; lo < n; lo += benchBatch {
		hi := min(lo+benchBatch, n)
		c := lsync.PeerChange{Meta: meta("peer", 1, uint64(hi)), Records: rs[lo:hi]}
		if size > 0 {
			c.Proofs = proofsOf(b, sealed, lo, hi)
		}
		out = append(out, lsync.Batch{Changes: []lsync.PeerChange{c}})
	}
	return out
}

// BenchmarkApplyProofs measures Apply of messages of 1000 records on disk,
// unsigned and with the proofs of signed batches of each size.
func BenchmarkApplyProofs(b *testing.B) {
	for _, size := range proofBenchSizes {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			msgs := benchMessages(b, b.N*benchBatch, size)
			s := openDir(b, b.TempDir())
			defer mustClose(b, s)
			b.ResetTimer()
			for i := range msgs {
				if err := s.Apply(&msgs[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/record")
		})
	}
}

// benchScanRecords is how many records the scan benchmarks hold.
const benchScanRecords = 16_384

// BenchmarkScanProofs measures a whole scan of 16,384 records on disk:
// Scan unsigned, ScanProofs handing each record's proof, and ScanProofs
// with each 11-record slice's proof cut and encoded (a datagram's worth).
func BenchmarkScanProofs(b *testing.B) {
	for _, size := range proofBenchSizes {
		s := openDir(b, b.TempDir())
		msgs := benchMessages(b, benchScanRecords, size)
		for i := range msgs {
			mustApply(b, s, &msgs[i])
		}
		view := meta("peer", 1, benchScanRecords)
		b.Run(fmt.Sprintf("batch=%d/scan", size), func(b *testing.B) {
			for range b.N {
				n := 0
				if _, err := s.Scan(view, 0, func(*lsync.Record) bool { n++; return true }); err != nil || n != benchScanRecords {
					b.Fatal(n, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchScanRecords), "ns/record")
		})
		if size > 0 {
			b.Run(fmt.Sprintf("batch=%d/proofs", size), func(b *testing.B) {
				for range b.N {
					n := 0
					if _, err := s.ScanProofs(view, 0, func(_ *lsync.Record, p lsync.RecordProof) bool {
						if p.Tree != nil {
							n++
						}
						return true
					}); err != nil || n != benchScanRecords {
						b.Fatal(n, err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchScanRecords), "ns/record")
			})
			b.Run(fmt.Sprintf("batch=%d/cut11", size), func(b *testing.B) {
				var bytes int
				for range b.N {
					bytes = 0
					var slice []served
					flush := func() {
						wires, _, _ := cutSlice(b, slice)
						for _, w := range wires {
							bytes += len(w)
						}
						slice = slice[:0]
					}
					if _, err := s.ScanProofs(view, 0, func(r *lsync.Record, p lsync.RecordProof) bool {
						if slice = append(slice, served{*r, p}); len(slice) == 11 {
							flush()
						}
						return true
					}); err != nil {
						b.Fatal(err)
					}
					flush()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchScanRecords), "ns/record")
				b.ReportMetric(float64(bytes)/benchScanRecords, "wire-B/record")
			})
		}
		mustClose(b, s)
	}
}

// BenchmarkProofBytes reports what the store keeps per record, as the
// bytes of its Badger keys and values (without Badger's own per-entry
// overhead, the same whatever the entry): the records, the version index
// and the proof entries, of 16,384 records held whole, and once half of
// them (every other record) are overwritten and swept out of their
// batches' proofs.
func BenchmarkProofBytes(b *testing.B) {
	for _, size := range proofBenchSizes {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			var whole, half float64
			var rec float64
			for range b.N {
				s := openMem(b)
				msgs := benchMessages(b, benchScanRecords, size)
				for i := range msgs {
					mustApply(b, s, &msgs[i])
				}
				rec = float64(prefixBytes(b, s, recordPrefix)+prefixBytes(b, s, indexPrefix)) / benchScanRecords
				whole = float64(prefixBytes(b, s, proofPrefix)) / benchScanRecords
				var over []lsync.Record
				for i, r := range benchRecords(0, benchScanRecords) {
					if i%2 == 0 {
						r.Version = benchScanRecords + uint64(len(over)) + 1
						over = append(over, r)
					}
				}
				mustApply(b, s, &lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("peer", 1, over[len(over)-1].Version), Records: over}}})
				for range 4 {
					if _, err := s.SweepProofs(); err != nil {
						b.Fatal(err)
					}
				}
				half = float64(prefixBytes(b, s, proofPrefix)) / (benchScanRecords / 2)
				mustClose(b, s)
			}
			b.ReportMetric(rec, "record+index-B/record")
			b.ReportMetric(whole, "proof-B/record")
			b.ReportMetric(half, "proof-B/record-half-left")
		})
	}
}

// prefixBytes sums the sizes of the keys and values under prefix.
func prefixBytes(b *testing.B, s *Badger, prefix string) int {
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n += len(it.Item().Key()) + int(it.Item().ValueSize())
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}
