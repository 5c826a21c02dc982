package identity

import (
	"bytes"
	"crypto/ed25519"
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

// FuzzParseNodeRecord feeds arbitrary bytes to ParseNodeRecord and
// Verify: nothing may panic, what parses must be within the limits and be
// its own only encoding, and nothing but the records the keys signed may
// verify, under a CA trust or a pinned one.
func FuzzParseNodeRecord(f *testing.F) {
	ca, node := testKey(f, 1), testKey(f, 2)
	long := strings.Repeat("z", MaxIDBytes)
	var signed [][]byte
	for _, r := range []NodeRecord{
		{ID: "n", Addr: "a"},
		{ID: "node-00001", Addr: "10.0.0.1:7946", Alias: "web-1", Generation: 1767225600000, Seq: 7,
			Certificate: testCert(f, ca, "node-00001", node.Public(), epoch)},
		{ID: long, Addr: strings.Repeat("a", MaxAddrBytes), Alias: long, Generation: 1 << 63, Seq: 1 << 40,
			Leaving: true, BeatChain: bytes.Repeat([]byte{0xa5}, MaxBeatChainBytes),
			Certificate: testCert(f, ca, long, node.Public(), time.Unix(1<<40, 0))},
		{ID: "node-00002", Addr: "10.0.0.2:7946", Seq: 9, Leaving: true, BeatChain: []byte{1, 2, 3}},
		{ID: "node-00002", Addr: "10.0.0.2:7946", Seq: 10, GCVersion: 1 << 33},
		{ID: "n", Addr: "a", Generation: 5, Seq: 2, Retired: []RetiredKey{{PublicKey: ca.Public(), Generation: 5, Through: 1 << 33},
			{PublicKey: testKey(f, 3).Public(), Generation: 4, Through: 7}}},
		{ID: "n", Addr: "a", Generation: 5, Seq: 3, GCVersion: 9, Retired: []RetiredKey{{PublicKey: ca.Public(), Generation: 5, Through: 12}}},
	} {
		s, err := SignNodeRecord(node, r)
		if err != nil {
			f.Fatal(err)
		}
		b, err := s.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		signed = append(signed, b)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{0x9b, 0x01})
	f.Add([]byte{0x9b, 0x01, 0xa1, 'n', 0xc4, 0x20})
	f.Add([]byte{0x9b, 0x01, 0xd9, 0xff})
	caTrust, err := NewCATrust(ca.Public())
	if err != nil {
		f.Fatal(err)
	}
	pinned, err := NewPinnedTrust(map[string][]ed25519.PublicKey{"n": {node.Public()}, "node-00001": {node.Public()}, long: {node.Public()}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseNodeRecord(b)
		if err != nil {
			return
		}
		if len(b) > MaxNodeRecordSize || r.ID == "" || len(r.ID) > MaxIDBytes || r.Addr == "" ||
			len(r.Addr) > MaxAddrBytes || len(r.Alias) > MaxIDBytes || len(r.Certificate) > MaxCertificateSize ||
			len(r.BeatChain) > MaxBeatChainBytes || len(r.Retired) > MaxRetiredKeys {
			t.Fatalf("parsed out of limits: %d bytes, %+v", len(b), r)
		}
		again, err := r.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs: %v\n%x\n%x", err, b, again)
		}
		for _, trust := range []Checker{caTrust, pinned} {
			if r.Verify(trust, time.Unix(0, 0)) == nil && !isSeed(signed, b) {
				t.Fatalf("verified a record the key never signed: %x", b)
			}
		}
	})
}
