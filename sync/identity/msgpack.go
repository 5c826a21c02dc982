package identity

import (
	"encoding/binary"
	"fmt"
)

// Certificates and node records are written with internal/canon's
// shortest forms; the reader here refuses any other, so that a signed
// object has one encoding.

// msgpackNil is msgpack's nil: an optional field left out.
const msgpackNil = 0xc0

// msgpack's booleans.
const (
	msgpackFalse = 0xc2
	msgpackTrue  = 0xc3
)

// reader reads those msgpack forms from hostile bytes. The first
// error sticks and every later read returns zero values, so a parse reads
// on and checks once; no length it reads is trusted beyond the bytes
// left.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = fmt.Errorf("truncated: %d bytes wanted, %d left", n, len(r.b))
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

// peek returns the next byte without reading it (0 at the end).
func (r *reader) peek() byte {
	if r.err != nil || len(r.b) == 0 {
		return 0
	}
	return r.b[0]
}

// str reads a fixstr or str 8, field naming it in an error.
func (r *reader) str(field string) []byte {
	switch h := r.byte(); {
	case r.err != nil:
		return nil
	case h&0xe0 == 0xa0:
		return r.take(int(h & 0x1f))
	case h == 0xd9:
		return r.take(int(r.byte()))
	default:
		r.fail("%s: not a string (0x%02x)", field, h)
		return nil
	}
}

// bin reads a bin 8 of exactly n bytes.
func (r *reader) bin(field string, n int) []byte {
	if h := r.byte(); h != 0xc4 {
		r.fail("%s: not a binary field (0x%02x)", field, h)
		return nil
	}
	if l := r.byte(); int(l) != n {
		r.fail("%s: binary field of %d bytes, want %d", field, l, n)
		return nil
	}
	return r.take(n)
}

// binUpTo reads a bin 8 or bin 16 of at most limit bytes.
func (r *reader) binUpTo(field string, limit int) []byte {
	var n int
	switch h := r.byte(); h {
	case 0xc4:
		n = int(r.byte())
	case 0xc5:
		if v := r.take(2); v != nil {
			n = int(binary.BigEndian.Uint16(v))
		}
	default:
		r.fail("%s: not a binary field (0x%02x)", field, h)
		return nil
	}
	if n > limit {
		r.fail("%s: binary field of %d bytes, at most %d", field, n, limit)
		return nil
	}
	return r.take(n)
}

// bool reads msgpack's false or true.
func (r *reader) bool(field string) bool {
	switch h := r.byte(); {
	case r.err != nil:
	case h == msgpackFalse:
	case h == msgpackTrue:
		return true
	default:
		r.fail("%s: not a boolean (0x%02x)", field, h)
	}
	return false
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, msgpackTrue)
	}
	return append(b, msgpackFalse)
}

func (r *reader) uint(field string) uint64 {
	h := r.byte()
	switch {
	case r.err != nil:
	case h < 0x80:
		return uint64(h)
	case h == 0xcc:
		return uint64(r.byte())
	case h == 0xcd:
		if v := r.take(2); v != nil {
			return uint64(binary.BigEndian.Uint16(v))
		}
	case h == 0xce:
		if v := r.take(4); v != nil {
			return uint64(binary.BigEndian.Uint32(v))
		}
	case h == 0xcf:
		if v := r.take(8); v != nil {
			return binary.BigEndian.Uint64(v)
		}
	default:
		r.fail("%s: not an unsigned integer (0x%02x)", field, h)
	}
	return 0
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}
