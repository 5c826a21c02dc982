package wire

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// hdr is a message header of type t.
func hdr(t lsync.MsgType) []byte { return []byte{0x4c, 0x56, ProtocolVersion, byte(t)} }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var (
	huge32   = []byte{0xff, 0xff, 0xff, 0xf0}
	ackHead  = cat(hdr(lsync.MsgAck), []byte{0x94, 0xa1, 'c', 0xa1, 'n'})             // Ack{"c", "n", ...
	synHead  = cat(hdr(lsync.MsgSyn), []byte{0x94, 0xa1, 'c', 0xa1, 'n', 0xc3})       // Syn{"c", "n", true, ...
	ack4Head = cat(hdr(lsync.MsgAck), []byte{0x95, 0xa1, 'c', 0xa1, 'n', 0x90, 0xc2}) // Ack with one unknown trailing field
	oneDelta = []byte{0x91, 0x98, 0xa1, 'x', 1, 0, 1, 0, 0, 0xc2}                     // [NodeDelta{"x", 1, 0, 1, 0, 0, false, ...
	oneRec   = cat(oneDelta, []byte{0x91, 0x94, 0xa1, 'k'})                           // ... [Record{"k", ...
	pad      = make([]byte, 200)
)

var errNested = errors.New("nested")

// hostileInputs are messages that claim far more than they hold, nest
// without end or exceed a limit. Each must be rejected with the given error,
// allocating no more than a small multiple of its own size.
func hostileInputs() []struct {
	name string
	in   []byte
	want error
} {
	deep := cat(ack4Head, bytes.Repeat([]byte{0x91}, 100000), []byte{0xc0})
	manyEntries := cat(synHead, []byte{0xdc, 0x40, 0x01}, bytes.Repeat([]byte{0x98, 0xa0, 0xa0, 0xa0, 0, 0, 0, 0, 0xc2}, 16385))
	return []struct {
		name string
		in   []byte
		want error
	}{
		{"str32 cluster of 4 GB", cat(hdr(lsync.MsgAck), []byte{0x94, 0xdb}, huge32, pad), ErrLimitExceeded},
		{"str32 key of 4 GB", cat(ackHead, oneRec[:len(oneRec)-2], []byte{0xdb}, huge32, pad), ErrLimitExceeded},
		{"bin32 value of 4 GB", cat(ackHead, oneRec, []byte{0xc6}, huge32, pad), ErrLimitExceeded},
		{"bin16 value beyond the message", cat(ackHead, oneRec, []byte{0xc5, 0x10, 0x00}, pad), ErrMalformed},
		{"array32 digest of 4G entries", cat(synHead, []byte{0xdd}, huge32, pad), ErrMalformed},
		{"array32 deltas of 4G", cat(ackHead, []byte{0xdd}, huge32, pad), ErrMalformed},
		{"array32 records of 4G", cat(ackHead, oneDelta, []byte{0xdd}, huge32, pad), ErrMalformed},
		{"struct of 4G fields", cat(hdr(lsync.MsgSyn), []byte{0xdd}, huge32, pad), ErrMalformed},
		{"unknown field: str32 of 4 GB", cat(ack4Head, []byte{0xdb}, huge32, pad), ErrMalformed},
		{"unknown field: bin32 of 4 GB", cat(ack4Head, []byte{0xc6}, huge32, pad), ErrMalformed},
		{"unknown field: ext32 of 4 GB", cat(ack4Head, []byte{0xc9}, huge32, []byte{1}, pad), ErrMalformed},
		{"unknown field: map32 of 4G", cat(ack4Head, []byte{0xdf}, huge32, pad), ErrMalformed},
		{"unknown field nested 100000 deep", deep, errNested},
		{"digest over MaxDigestEntries", manyEntries, ErrLimitExceeded},
	}
}

func TestDecodeHostileBounded(t *testing.T) {
	for _, tt := range hostileInputs() {
		t.Run(tt.name, func(t *testing.T) {
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			_, err := Decode(tt.in)
			runtime.ReadMemStats(&m1)
			if tt.want == errNested {
				if err == nil || !strings.Contains(err.Error(), "nested deeper") {
					t.Fatalf("got %v, want a nesting error", err)
				}
			} else if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if alloc, bound := m1.TotalAlloc-m0.TotalAlloc, uint64(64<<10+16*len(tt.in)); alloc > bound {
				t.Fatalf("decoding %d bytes allocated %d (bound %d)", len(tt.in), alloc, bound)
			}
		})
	}
	// A few levels of unknown nested fields are still skipped.
	ok := cat(ack4Head, []byte{0x91, 0x91, 0x81, 0xa1, 'k', 0x92, 1, 0xa0})
	if _, err := Decode(ok); err != nil {
		t.Fatalf("shallow unknown field: %v", err)
	}
	// And a configured list limit applies.
	b, _ := Encode(&lsync.Ack{Cluster: "c", From: "n", Deltas: make([]lsync.NodeDelta, 3)})
	if _, err := DecodeWith(b, lsync.Limits{MaxKeyBytes: 1, MaxValueBytes: 1, MaxIDBytes: 8, MaxNodeDeltas: 2}); !errors.Is(err, ErrLimitExceeded) {
		t.Fatalf("MaxNodeDeltas: %v", err)
	}
}
