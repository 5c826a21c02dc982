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
