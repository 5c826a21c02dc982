package identity

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// FuzzParseCertificate feeds arbitrary bytes to ParseCertificate and to a
// CA trust's Check: nothing may panic, what parses must be within the
// limits and be its own only encoding, and nothing but the seeds the CA
// signed may be trusted.
func FuzzParseCertificate(f *testing.F) {
	ca, node := testKey(f, 1), testKey(f, 2)
	signed := [][]byte{
		testCert(f, ca, "n", node.Public(), time.Unix(0, 0)),
		testCert(f, ca, "node-00001", node.Public(), epoch),
		testCert(f, ca, strings.Repeat("z", MaxIDBytes), node.Public(), time.Unix(1<<40, 0)),
	}
	for _, s := range signed {
		f.Add(s)
		f.Add(s[:len(s)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{0x96})
	f.Add([]byte{0x96, 0x01, 0xd9, 0xff})
	f.Add([]byte{0x96, 0x01, 0xa1, 'n', 0xc4, 0x20})
	trust, err := NewCATrust(ca.Public())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCertificate(b)
		if err == nil {
			if len(b) > MaxCertificateSize || c.ID == "" || len(c.ID) > MaxIDBytes {
				t.Fatalf("parsed out of limits: %d bytes, id of %d", len(b), len(c.ID))
			}
			again, err := c.Marshal()
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encoding differs: %v\n%x\n%x", err, b, again)
			}
		}
		id, pub := "node-00001", node.Public()
		if c != nil {
			id, pub = c.ID, c.PublicKey
		}
		if trust.Check(id, pub, b, time.Unix(0, 0)) == nil && !isSeed(signed, b) {
			t.Fatalf("trusted a certificate the CA never signed: %x", b)
		}
	})
}

func isSeed(seeds [][]byte, b []byte) bool {
	for _, s := range seeds {
		if bytes.Equal(s, b) {
			return true
		}
	}
	return false
}
