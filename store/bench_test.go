package store

import (
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

const benchBatch = 1000

// BenchmarkApply measures Apply with batches of 1000 records of 100-byte
// values, one peer, on disk; BenchmarkApplyLarge with 30000 (about 4 MiB,
// split into several transactions).
func BenchmarkApply(b *testing.B)      { benchApply(b, benchBatch) }
func BenchmarkApplyLarge(b *testing.B) { benchApply(b, 30000) }

func benchApply(b *testing.B, benchBatch int) {
	s := openDir(b, b.TempDir())
	defer mustClose(b, s)
	val := make([]byte, 100)
	batches := make([]lsync.Batch, 0, b.N)
	var max uint64
	for i := range b.N {
		rs := make([]lsync.Record, benchBatch)
		for j := range rs {
			max++
			rs[j] = lsync.Record{Key: fmt.Sprintf("key-%d-%d", i, j), Value: val, Version: max}
		}
		batches = append(batches, lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("peer", 1, max), Records: rs}}})
	}
	b.ResetTimer()
	for i := range b.N {
		if err := s.Apply(&batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkApplyOverwrite measures Apply with batches of 1000 records of
// 100-byte values that overwrite keys of one peer written before, spread
// over 50,000 keys: each record replaces one (the counts look it up).
func BenchmarkApplyOverwrite(b *testing.B) {
	const space = 50_000
	s := openDir(b, b.TempDir())
	defer mustClose(b, s)
	val := make([]byte, 100)
	var max uint64
	batch := func(key func(j int) string) lsync.Batch {
		rs := make([]lsync.Record, benchBatch)
		for j := range rs {
			max++
			rs[j] = lsync.Record{Key: key(j), Value: val, Version: max}
		}
		return lsync.Batch{Changes: []lsync.PeerChange{{Meta: meta("peer", 1, max), Records: rs}}}
	}
	for i := range space / benchBatch {
		fill := batch(func(j int) string { return fmt.Sprintf("key-%d", i*benchBatch+j) })
		if err := s.Apply(&fill); err != nil {
			b.Fatal(err)
		}
	}
	batches := make([]lsync.Batch, 0, b.N)
	for i := range b.N {
		batches = append(batches, batch(func(j int) string { return fmt.Sprintf("key-%d", (i*7919+j*61)%space) }))
	}
	b.ResetTimer()
	for i := range b.N {
		if err := s.Apply(&batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRawWriteBatch writes the same entries with Badger's WriteBatch on
// the same options, as the baseline Apply is compared with.
func BenchmarkRawWriteBatch(b *testing.B) {
	db, err := badger.Open(badgerOptions(Options{Dir: b.TempDir()}))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, 100)
	keys := make([][]byte, 0, b.N*benchBatch)
	for i := range b.N {
		for j := range benchBatch {
			keys = append(keys, appendRecordKey(nil, "peer", fmt.Sprintf("key-%d-%d", i, j)))
		}
	}
	b.ResetTimer()
	for i := range b.N {
		wb := db.NewWriteBatch()
		for _, k := range keys[i*benchBatch : (i+1)*benchBatch] {
			if err := wb.Set(k, val); err != nil {
				b.Fatal(err)
			}
		}
		if err := wb.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "records/s")
}
