package proof

import (
	"bytes"
	"errors"
	"testing"
)

// sampleProofs are proofs of every shape: whole batches, slices, holes, a
// batch of one, long spans, versions needing every integer width.
func sampleProofs(t testing.TB) []*Proof {
	k := testKey(t, 1)
	var out []*Proof
	for _, tc := range []struct {
		n           int
		first, step uint64
		keep        []Span
	}{
		{1, 1, 1, nil},
		{16, 1, 1, nil},
		{16, 200, 1, []Span{{3, 4}}},
		{300, 1 << 20, 3, []Span{{0, 10}, {20, 21}, {290, 300}}},
		{1024, 1 << 40, 1, []Span{{100, 612}}},
		{1024, 5, 1, evenSpans(1024)},
	} {
		recs := testRecords(tc.n, tc.first, tc.step)
		p, leaves, err := Seal(k, testOrigin, testGen, recs)
		if err != nil {
			t.Fatal(err)
		}
		if tc.keep != nil {
			if p, _, err = p.Subset(leaves, tc.keep); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, p)
	}
	return out
}

// evenSpans keeps every other record: the worst case of holes.
func evenSpans(n int) []Span {
	var s []Span
	for i := 0; i < n; i += 2 {
		s = append(s, Span{i, i + 1})
	}
	return s
}

func TestWireRoundTrip(t *testing.T) {
	for i, p := range sampleProofs(t) {
		q := roundTrip(t, p)
		if q.Header.Root != (Hash{}) {
			t.Fatalf("sample %d: a root came over the wire", i)
		}
		q.Header.Root = p.Header.Root
		if !sameProof(p, q) || q.Signed != p.Signed {
			t.Fatalf("sample %d: round trip changed the proof", i)
		}
	}
}

// Hostile or non-canonical encodings are refused with ErrMalformed, and
// every truncation of a valid one too.
func TestParseRefuses(t *testing.T) {
	valid, err := sampleProofs(t)[3].AppendWire(nil)
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(valid); n++ {
		if _, err := Parse(valid[:n], testOrigin, testGen); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	hash := bytes.Repeat([]byte{1}, 32)
	sig := bytes.Repeat([]byte{2}, 64)
	body := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	head := func(first, span, count []byte) []byte {
		return body([]byte{0x96}, first, span, count, []byte{0xc4, 64}, sig)
	}
	ok := head([]byte{1}, []byte{1}, []byte{2})
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"a map", []byte{0x86}},
		{"seven fields", append([]byte{0x97}, ok[1:]...)},
		{"trailing byte", body(ok, []byte{0x92, 0, 2, 0xc4, 0, 0})},
		{"first in a long form", body(head([]byte{0xcc, 1}, []byte{1}, []byte{2}), []byte{0x92, 0, 2, 0xc4, 0})},
		{"count in a long form", body(head([]byte{1}, []byte{1}, []byte{0xcd, 0, 2}), []byte{0x92, 0, 2, 0xc4, 0})},
		{"count over MaxLeaves", body(head([]byte{1}, []byte{0xcd, 0x40, 0}, []byte{0xcd, 0x40, 1}), []byte{0x92, 0, 1, 0xc4, 0})},
		{"versions overflow", body(head([]byte{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []byte{1}, []byte{2}), []byte{0x92, 0, 2, 0xc4, 0})},
		{"a negative integer", body(head([]byte{0xff}, []byte{1}, []byte{2}), []byte{0x92, 0, 2, 0xc4, 0})},
		{"signature of 63 bytes", body([]byte{0x96, 1, 1, 2, 0xc4, 63}, sig[:63], []byte{0x92, 0, 2, 0xc4, 0})},
		{"signature as a string", body([]byte{0x96, 1, 1, 2, 0xd9, 64}, sig, []byte{0x92, 0, 2, 0xc4, 0})},
		{"signature in bin 16", body([]byte{0x96, 1, 1, 2, 0xc5, 0, 64}, sig, []byte{0x92, 0, 2, 0xc4, 0})},
		{"no held", body(ok, []byte{0x90, 0xc4, 0})},
		{"odd held", body(ok, []byte{0x91, 0, 0xc4, 0})},
		{"empty span", body(ok, []byte{0x92, 0, 0, 0xc4, 32}, hash)},
		{"touching spans", body(ok, []byte{0x94, 0, 1, 0, 1, 0xc4, 0})},
		{"span past the end", body(ok, []byte{0x92, 1, 2, 0xc4, 32}, hash)},
		{"held in array 16", body(ok, []byte{0xdc, 0, 2, 0, 2, 0xc4, 0})},
		{"held array longer than the input", body(ok, []byte{0xdd, 0xff, 0xff, 0xff, 0xfe})},
		{"a missing hash", body(ok, []byte{0x92, 0, 1, 0xc4, 0})},
		{"a hash too many", body(ok, []byte{0x92, 0, 2, 0xc4, 32}, hash)},
		{"a hash cut short", body(ok, []byte{0x92, 0, 1, 0xc4, 31}, hash[:31])},
		{"hashes in bin 16", body(ok, []byte{0x92, 0, 1, 0xc5, 0, 32}, hash)},
		{"hashes longer than the input", body(ok, []byte{0x92, 0, 1, 0xc6, 0x7f, 0xff, 0xff, 0xff}, hash)},
		{"version 0", body(head([]byte{0}, []byte{1}, []byte{2}), []byte{0x92, 0, 2, 0xc4, 0})},
		{"more records than versions", body(head([]byte{1}, []byte{1}, []byte{3}), []byte{0x92, 0, 3, 0xc4, 0})},
		{"one record, two versions", body(head([]byte{1}, []byte{1}, []byte{1}), []byte{0x92, 0, 1, 0xc4, 0})},
		{"no records", body(head([]byte{1}, []byte{1}, []byte{0}), []byte{0x92, 0, 0, 0xc4, 0})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := Parse(tc.in, testOrigin, testGen); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %+v, %v; want ErrMalformed", p, err)
			}
		})
	}
	if _, err := Parse(body(ok, []byte{0x92, 0, 2, 0xc4, 0}), testOrigin, testGen); err != nil {
		t.Fatalf("the well-formed base of the cases above: %v", err)
	}
	if _, err := Parse(valid, "", testGen); !errors.Is(err, ErrMalformed) {
		t.Fatalf("no origin: %v", err)
	}
}

// A few bytes claiming the longest batch, fully held, cost little to parse:
// the checks walk spans, not leaves.
func TestParseLongSpanIsCheap(t *testing.T) {
	long := &Proof{Signed: Signed{Header: Header{Origin: testOrigin, Generation: testGen, First: 1, Last: MaxLeaves, Count: MaxLeaves}},
		Held: []Span{{0, MaxLeaves}}}
	in, err := long.AppendWire(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(in) > 90 {
		t.Fatalf("%d bytes", len(in))
	}
	p, err := Parse(in, testOrigin, testGen)
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != MaxLeaves {
		t.Fatalf("%d records", p.Len())
	}
	if _, err := p.Root(nil); !errors.Is(err, ErrMismatch) {
		t.Fatalf("root without its records: %v", err)
	}
	if allocs := testing.AllocsPerRun(20, func() { _, _ = Parse(in, testOrigin, testGen) }); allocs > 3 {
		t.Fatalf("%v allocations", allocs)
	}
}
