package proof

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"testing"

	"github.com/leviathan-gossip/leviathan/sync/identity"
)

const (
	testOrigin = "node-00001"
	testGen    = 7
)

// testKey derives a key from seed, so tests see the same keys each run.
func testKey(t testing.TB, seed byte) *identity.Key {
	t.Helper()
	k, err := identity.Generate(bytes.NewReader(bytes.Repeat([]byte{seed}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testRecords returns n records of 16-byte keys and 100-byte values at
// versions first, first+step...; every fifth is a tombstone.
func testRecords(n int, first, step uint64) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = testRecord(first+uint64(i)*step, i%5 == 4)
	}
	return recs
}

func testRecord(v uint64, tombstone bool) Record {
	r := Record{Key: fmt.Sprintf("key-%012d", v), Version: v, Tombstone: tombstone}
	if !tombstone {
		r.Value = bytes.Repeat([]byte{byte(v)}, 100)
	}
	return r
}

// sealed signs testRecords(n, 1, 1) with key seed 1.
func sealed(t testing.TB, n int) (*Proof, []Record, []Hash) {
	t.Helper()
	recs := testRecords(n, 1, 1)
	p, leaves, err := Seal(testKey(t, 1), testOrigin, testGen, recs)
	if err != nil {
		t.Fatal(err)
	}
	return p, recs, leaves
}

// spansOf turns a set of positions (a bit mask) into spans.
func spansOf(mask uint64, n int) []Span {
	var out []Span
	for i := 0; i < n; i++ {
		if mask&(1<<i) != 0 {
			out = appendSpan(out, Span{i, i + 1})
		}
	}
	return out
}

// pick returns the elements of xs at the positions in spans.
func pick[T any](xs []T, spans []Span) []T {
	var out []T
	for _, s := range spans {
		out = append(out, xs[s.Lo:s.Hi]...)
	}
	return out
}

// roundTrip encodes p and parses it back.
func roundTrip(t testing.TB, p *Proof) *Proof {
	t.Helper()
	b, err := p.AppendWire(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != p.WireSize() {
		t.Fatalf("WireSize %d, encoded %d", p.WireSize(), len(b))
	}
	q, err := Parse(b, p.Origin, p.Generation)
	if err != nil {
		t.Fatalf("parse: %v\n%x", err, b)
	}
	return q
}
