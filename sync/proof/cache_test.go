package proof

import (
	"errors"
	"testing"
)

func TestVerifiedCache(t *testing.T) {
	k, other := testKey(t, 1), testKey(t, 2)
	var signed []Signed
	for i := 0; i < 5; i++ {
		p, _, err := Seal(k, testOrigin, testGen, testRecords(4, uint64(1+4*i), 1))
		if err != nil {
			t.Fatal(err)
		}
		signed = append(signed, p.Signed)
	}
	c := NewVerified(3)
	for i := range signed {
		if err := c.Verify(k.Public(), &signed[i]); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() != 3 {
		t.Fatalf("%d entries, capacity 3", c.Len())
	}
	bad := signed[4]
	bad.Signature[0] ^= 1
	if err := c.Verify(k.Public(), &bad); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("another signature of a cached header: %v", err)
	}
	if err := c.Verify(other.Public(), &signed[4]); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a cached header under another key: %v", err)
	}
	forged := signed[4]
	forged.Generation++
	if err := c.Verify(k.Public(), &forged); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a cached signature on another header: %v", err)
	}

	// A hit skips the signature check: an entry planted for a bad
	// signature is believed, which shows the check is skipped (and why
	// only Verify may add entries).
	msg, err := bad.Message()
	if err != nil {
		t.Fatal(err)
	}
	c.add(cacheKey(k.Public(), msg, &bad.Signature))
	if err := c.Verify(k.Public(), &bad); err != nil {
		t.Fatalf("planted entry not hit: %v", err)
	}
	// The oldest went.
	if c.Len() != 3 {
		t.Fatalf("%d entries, capacity 3", c.Len())
	}
	c.Reset()
	if c.Len() != 0 {
		t.Fatal("reset kept entries")
	}
	if err := c.Verify(k.Public(), &bad); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("after reset: %v", err)
	}
}
