package proof

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse, and what parses to Root,
// Verify and Subset: nothing may panic, what parses must be within the
// limits and be its own only encoding, and nothing may verify but a
// proof of records the origin signed.
func FuzzParse(f *testing.F) {
	k := testKey(f, 1)
	samples := sampleProofs(f)
	for _, p := range samples {
		b, err := p.AppendWire(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{0x97, 1, 1, 1})
	cache := NewVerified(16)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b, testOrigin, testGen)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		if p.Count < 1 || p.Count > MaxLeaves || len(p.Hashes) > p.Count {
			t.Fatalf("parsed out of limits: %d records, %d hashes", p.Count, len(p.Hashes))
		}
		again, err := p.AppendWire(nil)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs: %v\n%x\n%x", err, b, again)
		}
		// Records for it, as a contiguous batch from First would have at
		// the indices it holds; as many as a message of its size could
		// carry.
		if p.Len() > 4*len(b) {
			return
		}
		var leaves []Hash
		for _, s := range p.Held {
			for i := s.Lo; i < s.Hi; i++ {
				r := testRecord(p.First+uint64(i), i%5 == 4)
				leaves = append(leaves, LeafHash(testOrigin, &r))
			}
		}
		if err := p.Verify(k.Public(), leaves, cache); err == nil && !signedSample(samples, p) {
			t.Fatalf("verified a header the origin never signed: %+v", p.Header)
		}
		if _, _, err := p.Subset(leaves, []Span{{0, 1}}); err != nil && !errors.Is(err, ErrMismatch) {
			t.Fatalf("subset: %v", err)
		}
	})
}

func signedSample(samples []*Proof, p *Proof) bool {
	for _, s := range samples {
		if s.Signed == p.Signed {
			return true
		}
	}
	return false
}
