package proof

import (
	"fmt"
	"github.com/leviathan-gossip/leviathan/internal/canon"
)

// The wire form of a Proof is a msgpack array, each field in its shortest
// form so that a proof has one encoding:
//
//	[first, last - first, count, signature (bin 64),
//	 held (array of uint: gap, length, gap, length...),
//	 hashes (bin, 32 bytes each)]
//
// Each held span is its gap from the previous span's end (from 0 for the
// first) and its length. The origin and generation are not in it: the
// message that carries the proof names them once for all its records.
// Nor is the root: the receiver rebuilds it from the records, and the
// signature holds only if it rebuilt the root the origin signed.

// fieldCount is the number of fields of the wire form.
const fieldCount = 6

// WireSize is the size of p's wire form.
func (p *Proof) WireSize() int {
	n := 1 + canon.UintSize(p.First) + canon.UintSize(p.Last-p.First) + canon.UintSize(uint64(p.Count)) + 2 + SignatureSize
	n += canon.ArraySize(2 * len(p.Held))
	prev := 0
	for _, s := range p.Held {
		n += canon.UintSize(uint64(s.Lo-prev)) + canon.UintSize(uint64(s.Len()))
		prev = s.Hi
	}
	return n + canon.BinSize(len(Hash{})*len(p.Hashes))
}

// AppendWire appends p's wire form to dst.
func (p *Proof) AppendWire(dst []byte) ([]byte, error) {
	if err := p.check(); err != nil {
		return dst, fmt.Errorf("proof: encode: %w", err)
	}
	b := append(dst, 0x90|fieldCount)
	b = canon.AppendUint(b, p.First)
	b = canon.AppendUint(b, p.Last-p.First)
	b = canon.AppendUint(b, uint64(p.Count))
	b = canon.AppendBin(b, p.Signature[:])
	b = canon.AppendArray(b, 2*len(p.Held))
	prev := 0
	for _, s := range p.Held {
		b = canon.AppendUint(b, uint64(s.Lo-prev))
		b = canon.AppendUint(b, uint64(s.Len()))
		prev = s.Hi
	}
	b = canon.AppendBinHeader(b, len(Hash{})*len(p.Hashes))
	for i := range p.Hashes {
		b = append(b, p.Hashes[i][:]...)
	}
	return b, nil
}

// Parse decodes the wire form of a proof of a batch of origin at
// generation, and nothing else: another encoding of any field, a proof
// that breaks the format's limits or whose hashes do not number what its
// spans call for, or trailing bytes, is ErrMalformed. The proof it
// returns has no root until Verify (or Bind) rebuilds it from the
// records. It treats b as hostile: it never panics, it allocates at most
// a small multiple of len(b), and its work grows with len(b), not with
// what b claims.
func Parse(b []byte, origin string, generation uint64) (*Proof, error) {
	r := reader{b: b}
	if h := r.byte(); h != 0x90|fieldCount {
		return nil, fmt.Errorf("%w: not an array of %d (0x%02x)", ErrMalformed, fieldCount, h)
	}
	p := &Proof{Signed: Signed{Header: Header{Origin: origin, Generation: generation}}}
	p.First = r.uint()
	span := r.uint()
	if p.Last = p.First + span; p.Last < p.First {
		r.fail("versions %d to %d+%d overflow", p.First, p.First, span)
	}
	p.Count = r.small("count")
	copy(p.Signature[:], r.fixedBin(SignatureSize))
	p.Held = r.spans()
	p.Hashes = r.hashes()
	if r.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, r.err)
	}
	if len(r.b) > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the proof", ErrMalformed, len(r.b))
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return p, nil
}

// reader reads the few msgpack forms a proof uses, in their shortest forms
// only. The first error sticks and every later read returns zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail("truncated: %d bytes wanted, %d left", n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

// be reads an n-byte big-endian unsigned integer.
func (r *reader) be(n int) uint64 {
	var u uint64
	for _, c := range r.take(n) {
		u = u<<8 | uint64(c)
	}
	return u
}

func (r *reader) uint() uint64 {
	h := r.byte()
	var u, least uint64
	switch h {
	case 0xcc:
		u, least = r.be(1), 1<<7
	case 0xcd:
		u, least = r.be(2), 1<<8
	case 0xce:
		u, least = r.be(4), 1<<16
	case 0xcf:
		u, least = r.be(8), 1<<32
	default:
		if h >= 0x80 {
			r.fail("not an unsigned integer (0x%02x)", h)
		}
		return uint64(h)
	}
	if u < least && r.err == nil {
		r.fail("integer %d not in its shortest form", u)
	}
	return u
}

// small reads an unsigned integer of at most MaxLeaves.
func (r *reader) small(what string) int {
	u := r.uint()
	if u > MaxLeaves {
		r.fail("%s %d over %d", what, u, MaxLeaves)
		return 0
	}
	return int(u)
}

// length reads a bin or array header of one of the three kinds msgpack
// has (a short form, 16-bit, 32-bit) and returns its length; least16 is
// the shortest length the 16-bit form may hold.
func (r *reader) length(what string, short func(byte) (int, bool), c16, c32 byte, least16 uint64) int {
	h := r.byte()
	if n, ok := short(h); ok {
		return n
	}
	var n uint64
	var least uint64
	switch h {
	case c16:
		n, least = r.be(2), least16
	case c32:
		n, least = r.be(4), 1<<16
	default:
		r.fail("%s: unexpected type 0x%02x", what, h)
		return 0
	}
	if n < least {
		r.fail("%s of %d not in its shortest form", what, n)
		return 0
	}
	if n > uint64(len(r.b)) {
		r.fail("%s of %d, only %d bytes left", what, n, len(r.b))
		return 0
	}
	return int(n)
}

// bin reads a bin header and the bytes it announces.
func (r *reader) bin(what string) []byte {
	n := r.length(what, func(h byte) (int, bool) {
		if h != 0xc4 || r.err != nil {
			return 0, false
		}
		return int(r.byte()), true
	}, 0xc5, 0xc6, 1<<8)
	return r.take(n)
}

func (r *reader) fixedBin(n int) []byte {
	v := r.bin("binary field")
	if r.err == nil && len(v) != n {
		r.fail("binary field of %d bytes, want %d", len(v), n)
		return nil
	}
	return v
}

// spans reads the held spans: an even, positive count of integers, each
// at least a byte, so the count is checked against the bytes left before
// anything is allocated.
func (r *reader) spans() []Span {
	n := r.length("held", func(h byte) (int, bool) { return int(h & 0x0f), h&0xf0 == 0x90 }, 0xdc, 0xdd, 16)
	if r.err != nil {
		return nil
	}
	if n == 0 || n%2 != 0 {
		r.fail("held: %d integers, want a positive even count", n)
		return nil
	}
	spans := make([]Span, n/2)
	prev := 0
	for i := range spans {
		gap, length := r.small("held gap"), r.small("held length")
		spans[i] = Span{prev + gap, prev + gap + length}
		prev = spans[i].Hi
	}
	return spans
}

func (r *reader) hashes() []Hash {
	v := r.bin("hashes")
	if r.err != nil {
		return nil
	}
	if len(v)%len(Hash{}) != 0 {
		r.fail("hashes: %d bytes, not a multiple of %d", len(v), len(Hash{}))
		return nil
	}
	out := make([]Hash, len(v)/len(Hash{}))
	for i := range out {
		copy(out[i][:], v[i*len(Hash{}):])
	}
	return out
}
