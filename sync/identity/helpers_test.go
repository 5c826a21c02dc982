package identity

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"
)

// testKey derives a key from seed, so tests see the same keys each run.
func testKey(t testing.TB, seed byte) *Key {
	t.Helper()
	k, err := Generate(bytes.NewReader(bytes.Repeat([]byte{seed}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// epoch is the tests' "now": certificates are issued relative to it.
var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// testCert issues and encodes a certificate of id for node, by ca.
func testCert(t testing.TB, ca *Key, id string, node ed25519.PublicKey, notAfter time.Time) []byte {
	t.Helper()
	c, err := IssueCertificate(ca, id, node, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
