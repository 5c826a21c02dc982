package identity

import (
	"testing"
)

func BenchmarkSign(b *testing.B) {
	k := testKey(b, 1)
	msg := make([]byte, 64) // about a heartbeat or a vote
	b.ReportAllocs()
	for b.Loop() {
		k.Sign(DomainHeartbeat, msg)
	}
}

func BenchmarkVerify(b *testing.B) {
	k := testKey(b, 1)
	msg := make([]byte, 64)
	sig := k.Sign(DomainHeartbeat, msg)
	b.ReportAllocs()
	for b.Loop() {
		if !Verify(k.Public(), DomainHeartbeat, msg, sig) {
			b.Fatal("refused")
		}
	}
}

// A datagram's worth of records under one signature.
func BenchmarkVerify1400(b *testing.B) {
	k := testKey(b, 1)
	msg := make([]byte, 1400)
	sig := k.Sign(DomainRecords, msg)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if !Verify(k.Public(), DomainRecords, msg, sig) {
			b.Fatal("refused")
		}
	}
}

// What a node pays to admit a peer's key by its certificate.
func BenchmarkCheckCertificate(b *testing.B) {
	ca, node := testKey(b, 1), testKey(b, 2)
	cert := testCert(b, ca, "node-00001", node.Public(), epoch)
	trust, err := NewCATrust(ca.Public())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := trust.Check("node-00001", node.Public(), cert, epoch); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRecord is a typical node record with a certificate, encoded, and
// the CA trust that accepts it.
func benchRecord(b *testing.B) (*Key, NodeRecord, []byte, *Trust) {
	ca, node := testKey(b, 1), testKey(b, 2)
	r := NodeRecord{ID: "node-00001", Addr: "10.0.0.1:7946", Alias: "node-00001", Generation: 1767225600000, Seq: 1,
		Certificate: testCert(b, ca, "node-00001", node.Public(), epoch)}
	s, err := SignNodeRecord(node, r)
	if err != nil {
		b.Fatal(err)
	}
	enc, err := s.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	trust, err := NewCATrust(ca.Public())
	if err != nil {
		b.Fatal(err)
	}
	return node, r, enc, trust
}

func BenchmarkNodeRecordSign(b *testing.B) {
	node, r, _, _ := benchRecord(b)
	b.ReportAllocs()
	for b.Loop() {
		r.Seq++
		s, err := SignNodeRecord(node, r)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

// Parse and verify a record from the wire, its certificate checked each
// time: the record's signature and the certificate's.
func BenchmarkNodeRecordVerify(b *testing.B) {
	_, _, enc, trust := benchRecord(b)
	b.ReportAllocs()
	for b.Loop() {
		r, err := ParseNodeRecord(enc)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Verify(trust, epoch); err != nil {
			b.Fatal(err)
		}
	}
}

// The same with the certificate's answer cached: the record's signature
// alone.
func BenchmarkNodeRecordVerifyCached(b *testing.B) {
	_, _, enc, trust := benchRecord(b)
	cache := NewTrustCache(trust, 0)
	b.ReportAllocs()
	for b.Loop() {
		r, err := ParseNodeRecord(enc)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Verify(cache, epoch); err != nil {
			b.Fatal(err)
		}
	}
}

// A cache hit alone, what every signed message of a known key pays.
func BenchmarkTrustCacheHit(b *testing.B) {
	_, _, enc, trust := benchRecord(b)
	r, err := ParseNodeRecord(enc)
	if err != nil {
		b.Fatal(err)
	}
	cache := NewTrustCache(trust, 0)
	b.ReportAllocs()
	for b.Loop() {
		if err := cache.Check(r.ID, r.PublicKey, r.Certificate, epoch); err != nil {
			b.Fatal(err)
		}
	}
}
