package identity

import (
	"bytes"
	"crypto/ed25519"
	"testing"
)

func TestSignVerify(t *testing.T) {
	k, other := testKey(t, 1), testKey(t, 2)
	msg := []byte("heartbeat 42")
	sig := k.Sign(DomainHeartbeat, msg)
	flipped := bytes.Clone(sig)
	flipped[10] ^= 1
	cases := []struct {
		name   string
		pub    ed25519.PublicKey
		domain string
		msg    []byte
		sig    []byte
		want   bool
	}{
		{"same domain", k.Public(), DomainHeartbeat, msg, sig, true},
		{"replayed as a vote", k.Public(), DomainVote, msg, sig, false},
		{"replayed as a node record", k.Public(), DomainNodeRecord, msg, sig, false},
		{"other message", k.Public(), DomainHeartbeat, []byte("heartbeat 43"), sig, false},
		{"other key", other.Public(), DomainHeartbeat, msg, sig, false},
		{"altered signature", k.Public(), DomainHeartbeat, msg, flipped, false},
		{"short signature", k.Public(), DomainHeartbeat, msg, sig[:63], false},
		{"no signature", k.Public(), DomainHeartbeat, msg, nil, false},
		{"short key", k.Public()[:31], DomainHeartbeat, msg, sig, false},
		{"no key", nil, DomainHeartbeat, msg, sig, false},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			if got := Verify(tt.pub, tt.domain, tt.msg, tt.sig); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

// A domain and a message must not be shiftable into each other: the
// signature of ("ab", "c") is not one of ("a", "bc"), nor of ("abc", "").
func TestSignDomainBoundary(t *testing.T) {
	k := testKey(t, 3)
	sig := k.Sign("ab", []byte("c"))
	if !Verify(k.Public(), "ab", []byte("c"), sig) {
		t.Fatal("own signature refused")
	}
	for _, d := range []struct{ domain, msg string }{{"a", "bc"}, {"abc", ""}, {"", "abc"}} {
		if Verify(k.Public(), d.domain, []byte(d.msg), sig) {
			t.Errorf("signature of (ab, c) verifies as (%q, %q)", d.domain, d.msg)
		}
	}
	// Nor is any Leviathan signature a plain ed25519 signature of the
	// message: a key used elsewhere too cannot be tricked across.
	if ed25519.Verify(k.Public(), []byte("c"), sig) {
		t.Error("domain signature verifies as a plain signature")
	}
}

func TestKeyID(t *testing.T) {
	a, b := testKey(t, 1), testKey(t, 2)
	if a.ID() != IDOf(a.Public()) || a.ID() == b.ID() {
		t.Fatalf("ids %s %s", a.ID(), b.ID())
	}
	if s := a.ID().String(); len(s) != 16 {
		t.Errorf("String %q: want 16 hex digits", s)
	}
	if again := testKey(t, 1); !again.Public().Equal(a.Public()) {
		t.Error("the same seed gave another key")
	}
}

func TestGenerateReaderError(t *testing.T) {
	if _, err := Generate(bytes.NewReader(make([]byte, 5))); err == nil {
		t.Fatal("a key from 5 random bytes")
	}
	k, err := Generate(nil)
	if err != nil || len(k.Public()) != ed25519.PublicKeySize {
		t.Fatalf("Generate(nil): %v", err)
	}
}
