package proof

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

// Every field a leaf binds changes its hash, and so does moving bytes
// between fields.
func TestLeafHashBindsEveryField(t *testing.T) {
	base := Record{Key: "k", Value: []byte("value"), Version: 5}
	baseHash := LeafHash("a", &base)
	for _, tc := range []struct {
		name   string
		origin string
		r      Record
	}{
		{"origin", "b", base},
		{"origin takes a key byte", "ak", Record{Key: "", Value: base.Value, Version: 5}},
		{"key", "a", Record{Key: "j", Value: base.Value, Version: 5}},
		{"key takes a value byte", "a", Record{Key: "kv", Value: []byte("alue"), Version: 5}},
		{"value", "a", Record{Key: "k", Value: []byte("valuf"), Version: 5}},
		{"version", "a", Record{Key: "k", Value: base.Value, Version: 6}},
		{"tombstone", "a", Record{Key: "k", Value: base.Value, Version: 5, Tombstone: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if LeafHash(tc.origin, &tc.r) == baseHash {
				t.Fatal("same hash")
			}
		})
	}
	again := base
	again.Value = bytes.Clone(base.Value)
	if LeafHash("a", &again) != baseHash {
		t.Fatal("same record, another hash")
	}
}

// A value too long for the stack buffer is streamed into the hash, to the
// same result as hashing the whole encoding.
func TestLeafHashLongValue(t *testing.T) {
	for _, n := range []int{0, 1, leafStack - 60, leafStack - 40, leafStack, 4 << 10} {
		r := Record{Key: "key", Value: bytes.Repeat([]byte{7}, n), Version: 1 << 40}
		want := sha256.Sum256(appendLeaf(nil, testOrigin, &r, true))
		if got := LeafHash(testOrigin, &r); got != Hash(want) {
			t.Fatalf("value of %d bytes: %s, want %x", n, got, want)
		}
	}
}

// An inner node is never a leaf: the prefixes differ.
func TestInnerIsNotLeaf(t *testing.T) {
	r := Record{Key: "k", Version: 1}
	l := LeafHash(testOrigin, &r)
	if inner(&l, &l) == l {
		t.Fatal("inner equals leaf")
	}
	enc := appendLeaf(nil, testOrigin, &r, true)
	if enc[0] != leafPrefix || leafPrefix == innerPrefix {
		t.Fatal("leaf encoding does not start with the leaf prefix")
	}
}
