package store

import (
	"errors"
	"reflect"
	"testing"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

func TestRecordCodec(t *testing.T) {
	tests := []struct {
		name string
		gen  uint64
		rec  lsync.Record
	}{
		{"plain", 1, lsync.Record{Key: "k", Value: []byte("v"), Version: 7}},
		{"empty value", 0, lsync.Record{Key: "k", Version: 1}},
		{"tombstone", 3, lsync.Record{Key: "k", Version: 1 << 40, Tombstone: true}},
		{"max ints", ^uint64(0), lsync.Record{Key: "", Value: []byte{0, 0xff}, Version: ^uint64(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := appendRecordValue(nil, tt.gen, &tt.rec)
			if len(v) != recordValueLen(tt.gen, &tt.rec) {
				t.Fatalf("encoded %d bytes, recordValueLen says %d", len(v), recordValueLen(tt.gen, &tt.rec))
			}
			gen, got, err := decodeRecordValue(tt.rec.Key, v)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if gen != tt.gen || !reflect.DeepEqual(got, tt.rec) {
				t.Fatalf("got gen %d %+v, want gen %d %+v", gen, got, tt.gen, tt.rec)
			}
			k := appendRecordKey(nil, "peer", tt.rec.Key)
			if len(k) != recordKeyLen("peer", tt.rec.Key) {
				t.Fatalf("key length %d, recordKeyLen says %d", len(k), recordKeyLen("peer", tt.rec.Key))
			}
			p, key, err := splitRecordKey(k)
			if err != nil || p != "peer" || key != tt.rec.Key {
				t.Fatalf("splitRecordKey = %q, %q, %v", p, key, err)
			}
		})
	}
}

func TestRecordDecodeCorrupt(t *testing.T) {
	good := appendRecordValue(nil, 300, &lsync.Record{Key: "k", Value: []byte("value"), Version: 300})
	tests := []struct {
		name string
		v    []byte
	}{
		{"empty", nil},
		{"truncated generation", good[:1]},
		{"no version", good[:2]},
		{"truncated version", good[:3]},
		{"no flags", good[:4]},
		{"unknown flags", append(append([]byte(nil), good[:4]...), 0x80)},
		{"overlong varint", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := decodeRecordValue("k", tt.v); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode(%x) error = %v, want ErrCorrupt", tt.v, err)
			}
		})
	}
	for _, k := range [][]byte{nil, []byte("r/"), []byte("r/\x00"), []byte("r/\x00\x05ab"), []byte("x/\x00\x00")} {
		if _, _, err := splitRecordKey(k); !errors.Is(err, ErrCorrupt) {
			t.Errorf("splitRecordKey(%q) error = %v, want ErrCorrupt", k, err)
		}
	}
}

func TestMetaSelfCodec(t *testing.T) {
	m := lsync.PeerMeta{ID: "n1", Alias: "alpha", Addr: "10.0.0.1:7946", Generation: 1700000000000, MaxVersion: 42}
	v := encodeMeta(&m)
	got, err := decodeMeta("n1", v)
	if err != nil || got != m {
		t.Fatalf("decodeMeta = %+v, %v; want %+v", got, err, m)
	}
	for i := range len(v) {
		if _, err := decodeMeta("n1", v[:i]); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeMeta(truncated to %d) error = %v, want ErrCorrupt", i, err)
		}
	}
	if _, err := decodeMeta("n1", append(v, 0)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("decodeMeta(trailing byte) error = %v, want ErrCorrupt", err)
	}

	s := SelfInfo{ID: "n1", Generation: 5, Boot: 9}
	sv := encodeSelf(&s)
	gotS, err := decodeSelf(sv)
	if err != nil || gotS != s {
		t.Fatalf("decodeSelf = %+v, %v; want %+v", gotS, err, s)
	}
	for i := range len(sv) {
		if _, err := decodeSelf(sv[:i]); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeSelf(truncated to %d) error = %v, want ErrCorrupt", i, err)
		}
	}
}

func TestPeerPrefixesDisjoint(t *testing.T) {
	a := appendRecordKey(nil, "a", "bc")
	ab := peerPrefix("ab")
	if string(a[:len(ab)]) == string(ab) {
		t.Fatalf("record of peer a under prefix of peer ab")
	}
	for _, p := range [][]byte{[]byte("r/\x00\x01a"), {'r', '/', 0x00, 0xff}} {
		end := prefixEnd(p)
		if string(end) <= string(append(p, 0xff, 0xff)) {
			t.Errorf("prefixEnd(%q) = %q does not sort after keys under it", p, end)
		}
	}
}
