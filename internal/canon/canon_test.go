package canon

import (
	"bytes"
	"math"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// Every form is what the msgpack library decodes to the same value, and
// as short as the library's own encoder writes it; the sizes match.
func TestShortestForms(t *testing.T) {
	for _, u := range []uint64{0, 127, 128, math.MaxUint8, math.MaxUint8 + 1, math.MaxUint16, math.MaxUint16 + 1, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64} {
		b := AppendUint(nil, u)
		var got uint64
		if err := msgpack.Unmarshal(b, &got); err != nil || got != u || len(b) != UintSize(u) {
			t.Fatalf("uint %d: %x decodes to %d (%v), size %d", u, b, got, err, UintSize(u))
		}
		if want, _ := msgpack.Marshal(u); len(want) < len(b) {
			t.Fatalf("uint %d: %d bytes, msgpack writes %d", u, len(b), len(want))
		}
	}
	for _, n := range []int{0, 31, 32, 255, 256, math.MaxUint16, math.MaxUint16 + 1} {
		v := bytes.Repeat([]byte{7}, n)
		b := AppendBin(nil, v)
		var got []byte
		if err := msgpack.Unmarshal(b, &got); err != nil || !bytes.Equal(got, v) || len(b) != BinSize(n) {
			t.Fatalf("bin of %d: decoded %d bytes (%v), size %d of %d", n, len(got), err, BinSize(n), len(b))
		}
		if n <= 255 {
			s := string(v[:min(n, 255)])
			var gs string
			if err := msgpack.Unmarshal(AppendStr(nil, s), &gs); err != nil || gs != s {
				t.Fatalf("str of %d: %v", n, err)
			}
		}
		a := AppendArray(nil, n)
		if len(a) != ArraySize(n) {
			t.Fatalf("array of %d: header %d bytes, size %d", n, len(a), ArraySize(n))
		}
		if l, err := msgpack.NewDecoder(bytes.NewReader(a)).DecodeArrayLen(); err != nil || l != n {
			t.Fatalf("array of %d: decoded %d (%v)", n, l, err)
		}
	}
}
