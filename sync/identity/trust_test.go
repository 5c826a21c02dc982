package identity

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"
)

func TestCATrustCheck(t *testing.T) {
	ca, ca2, rogue := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	oldKey, newKey, stolen := testKey(t, 10), testKey(t, 11), testKey(t, 12)
	trust, err := NewCATrust(ca.Public(), ca2.Public())
	if err != nil {
		t.Fatal(err)
	}
	trust = trust.WithRevoked(stolen.Public())
	valid := testCert(t, ca, "n1", oldKey.Public(), epoch.Add(time.Hour))
	forged := testCert(t, rogue, "n1", oldKey.Public(), epoch.Add(time.Hour))
	// A rogue signature under the real CA's key id.
	c, _ := ParseCertificate(forged)
	c.CA = ca.ID()
	forgedID, _ := c.Marshal()
	cases := []struct {
		name string
		id   string
		pub  ed25519.PublicKey
		cert []byte
		now  time.Time
		want error // nil: trusted
	}{
		{"valid", "n1", oldKey.Public(), valid, epoch, nil},
		{"at its last second", "n1", oldKey.Public(), valid, epoch.Add(time.Hour + 999*time.Millisecond), nil},
		{"expired", "n1", oldKey.Public(), valid, epoch.Add(time.Hour + time.Second), ErrExpired},
		{"wrong id", "n2", oldKey.Public(), valid, epoch, ErrWrongID},
		{"another key", "n1", newKey.Public(), valid, epoch, ErrWrongKey},
		{"rotated key, own certificate", "n1", newKey.Public(), testCert(t, ca, "n1", newKey.Public(), epoch.Add(48*time.Hour)), epoch, nil},
		{"second CA (CA rotation)", "n1", newKey.Public(), testCert(t, ca2, "n1", newKey.Public(), epoch.Add(time.Hour)), epoch, nil},
		{"unknown CA", "n1", oldKey.Public(), forged, epoch, ErrUnknownCA},
		{"forged under the CA's id", "n1", oldKey.Public(), forgedID, epoch, ErrBadSignature},
		{"no certificate", "n1", oldKey.Public(), nil, epoch, ErrNoCertificate},
		{"truncated certificate", "n1", oldKey.Public(), valid[:len(valid)-1], epoch, ErrMalformed},
		{"revoked key, valid certificate", "n1", stolen.Public(), testCert(t, ca, "n1", stolen.Public(), epoch.Add(time.Hour)), epoch, ErrRevoked},
		{"short key", "n1", oldKey.Public()[:16], valid, epoch, ErrBadKey},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			err := trust.Check(tt.id, tt.pub, tt.cert, tt.now)
			checkTrustErr(t, err, tt.want)
		})
	}
}

func TestPinnedTrustCheck(t *testing.T) {
	oldKey, newKey, other, ca := testKey(t, 10), testKey(t, 11), testKey(t, 12), testKey(t, 1)
	trust, err := NewPinnedTrust(map[string][]ed25519.PublicKey{
		"n1": {oldKey.Public(), newKey.Public()}, // mid-rotation
		"n2": {other.Public()},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		trust *Trust
		id    string
		pub   ed25519.PublicKey
		cert  []byte
		want  error
	}{
		{"old key", trust, "n1", oldKey.Public(), nil, nil},
		{"new key", trust, "n1", newKey.Public(), nil, nil},
		{"another id's key", trust, "n1", other.Public(), nil, ErrWrongKey},
		{"unpinned id", trust, "n3", oldKey.Public(), nil, ErrUnknownID},
		{"a certificate does not help", trust, "n3", oldKey.Public(), testCert(t, ca, "n3", oldKey.Public(), epoch), ErrUnknownID},
		{"revoked", trust.WithRevoked(oldKey.Public()), "n1", oldKey.Public(), nil, ErrRevoked},
		{"the other pin stays", trust.WithRevoked(oldKey.Public()), "n1", newKey.Public(), nil, nil},
		{"no key", trust, "n1", nil, nil, ErrBadKey},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			checkTrustErr(t, tt.trust.Check(tt.id, tt.pub, tt.cert, epoch), tt.want)
		})
	}
	// WithRevoked copies: the trust it came from still takes the key.
	if err := trust.Check("n1", oldKey.Public(), nil, epoch); err != nil {
		t.Errorf("WithRevoked changed its receiver: %v", err)
	}
	revoked := trust.WithRevoked(oldKey.Public())
	for _, c := range []Checker{revoked, NewTrustCache(revoked, 0)} {
		if !c.Revoked(oldKey.Public()) || c.Revoked(newKey.Public()) || c.Revoked(other.Public()) {
			t.Errorf("%T: Revoked does not name exactly the key revoked", c)
		}
	}
	if trust.Revoked(oldKey.Public()) {
		t.Error("Revoked of a trust that revokes nothing")
	}
}

func checkTrustErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("refused: %v", err)
	case want != nil && (!errors.Is(err, want) || !errors.Is(err, ErrUntrusted)):
		t.Fatalf("%v, want %v and ErrUntrusted", err, want)
	}
}

func TestNewTrustRejects(t *testing.T) {
	k := testKey(t, 1).Public()
	if _, err := NewCATrust(k[:31]); !errors.Is(err, ErrBadKey) {
		t.Errorf("CA key of 31 bytes: %v", err)
	}
	if _, err := NewCATrust(k, nil); !errors.Is(err, ErrBadKey) {
		t.Errorf("second CA key empty: %v", err)
	}
	bad := map[string]map[string][]ed25519.PublicKey{
		"empty id":     {"": {k}},
		"long id":      {string(make([]byte, MaxIDBytes+1)): {k}},
		"no keys":      {"n1": nil},
		"short key":    {"n1": {k, k[:5]}},
		"one bad of 2": {"n1": {k}, "n2": {nil}},
	}
	for name, pins := range bad {
		if _, err := NewPinnedTrust(pins); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The trust keeps copies: a caller reusing its slices cannot change what
// it trusts.
func TestTrustCopiesKeys(t *testing.T) {
	a, b := testKey(t, 1), testKey(t, 2)
	pin := ed25519.PublicKey(append([]byte(nil), a.Public()...))
	trust, err := NewPinnedTrust(map[string][]ed25519.PublicKey{"n1": {pin}})
	if err != nil {
		t.Fatal(err)
	}
	copy(pin, b.Public())
	if err := trust.Check("n1", a.Public(), nil, epoch); err != nil {
		t.Errorf("pin changed through the caller's slice: %v", err)
	}
}
