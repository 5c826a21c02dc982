package identity

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"github.com/leviathan-gossip/leviathan/internal/canon"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// testRecord signs a record of id at addr by k, with cert when not nil.
func testRecord(t testing.TB, k *Key, id string, cert []byte) *NodeRecord {
	t.Helper()
	r, err := SignNodeRecord(k, NodeRecord{ID: id, Addr: "10.0.0.1:7946", Alias: "alias-" + id, Generation: 1767225600000, Seq: 3, Certificate: cert})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func marshalRecord(t testing.TB, r *NodeRecord) []byte {
	t.Helper()
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNodeRecordRoundTrip(t *testing.T) {
	ca, node := testKey(t, 1), testKey(t, 2)
	long := strings.Repeat("z", MaxIDBytes)
	trust, err := NewCATrust(ca.Public())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		r    NodeRecord
	}{
		{"smallest", NodeRecord{ID: "n", Addr: "a"}},
		{"typical", NodeRecord{ID: "node-00001", Addr: "10.0.0.1:7946", Alias: "web-1", Generation: 1767225600000, Seq: 1}},
		{"31 and 32 byte strings", NodeRecord{ID: strings.Repeat("i", 31), Addr: strings.Repeat("a", 32), Alias: strings.Repeat("l", 31), Generation: 127, Seq: 128}},
		{"every limit", NodeRecord{ID: long, Addr: strings.Repeat("a", MaxAddrBytes), Alias: strings.Repeat("l", MaxIDBytes), Generation: math.MaxUint64, Seq: math.MaxUint64}},
		{"with certificate", NodeRecord{ID: "node-00001", Addr: "[fd00::1]:7946", Generation: 1 << 16, Seq: 1 << 32,
			Certificate: testCert(t, ca, "node-00001", node.Public(), epoch)}},
		{"largest certificate (bin 16)", NodeRecord{ID: long, Addr: "h:1", Generation: 1 << 40, Seq: 65535,
			Certificate: testCert(t, ca, long, node.Public(), time.Unix(math.MaxInt64, 0))}},
		{"leaving", NodeRecord{ID: "node-00001", Addr: "10.0.0.1:7946", Generation: 1767225600000, Seq: 2, Leaving: true}},
		{"beat chain", NodeRecord{ID: "node-00001", Addr: "10.0.0.1:7946", Seq: 2, BeatChain: bytes.Repeat([]byte{7}, 33)}},
		{"every limit, leaving", NodeRecord{ID: long, Addr: strings.Repeat("a", MaxAddrBytes), Alias: long, Generation: math.MaxUint64,
			Seq: math.MaxUint64, Leaving: true, BeatChain: bytes.Repeat([]byte{0xff}, MaxBeatChainBytes),
			Certificate: testCert(t, ca, long, node.Public(), time.Unix(math.MaxInt64, 0))}},
		{"gc horizon", NodeRecord{ID: "node-00001", Addr: "10.0.0.1:7946", Seq: 2, GCVersion: 1 << 20}},
		{"every limit, gc horizon", NodeRecord{ID: long, Addr: strings.Repeat("a", MaxAddrBytes), Alias: long, Generation: math.MaxUint64,
			Seq: math.MaxUint64, Leaving: true, BeatChain: bytes.Repeat([]byte{0xff}, MaxBeatChainBytes),
			Certificate: testCert(t, ca, long, node.Public(), time.Unix(math.MaxInt64, 0)), GCVersion: math.MaxUint64}},
		{"a retired key", NodeRecord{ID: "node-00001", Addr: "10.0.0.1:7946", Generation: 7, Seq: 2,
			Retired: []RetiredKey{{PublicKey: testKey(t, 4).Public(), Generation: 7, Through: 1 << 20}}}},
		{"a retired key and a gc horizon", NodeRecord{ID: "node-00001", Addr: "10.0.0.1:7946", Generation: 7, Seq: 2, GCVersion: 99,
			Retired: []RetiredKey{{PublicKey: testKey(t, 4).Public(), Generation: 7, Through: 1 << 20}}}},
		{"every limit, every retired key", NodeRecord{ID: long, Addr: strings.Repeat("a", MaxAddrBytes), Alias: long, Generation: math.MaxUint64,
			Seq: math.MaxUint64, Leaving: true, BeatChain: bytes.Repeat([]byte{0xff}, MaxBeatChainBytes),
			Certificate: testCert(t, ca, long, node.Public(), time.Unix(math.MaxInt64, 0)), GCVersion: math.MaxUint64,
			Retired: []RetiredKey{{PublicKey: testKey(t, 4).Public(), Generation: math.MaxUint64, Through: math.MaxUint64},
				{PublicKey: testKey(t, 5).Public(), Generation: math.MaxUint64, Through: math.MaxUint64}}}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			r, err := SignNodeRecord(node, tt.r)
			if err != nil {
				t.Fatal(err)
			}
			b := marshalRecord(t, r)
			if tt.name == "every limit, every retired key" && len(b) != MaxNodeRecordSize {
				t.Errorf("%d bytes at every limit, MaxNodeRecordSize %d", len(b), MaxNodeRecordSize)
			}
			if len(b) > MaxNodeRecordSize {
				t.Fatalf("%d bytes, over MaxNodeRecordSize %d", len(b), MaxNodeRecordSize)
			}
			got, err := ParseNodeRecord(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Fatalf("round trip:\n%+v\n%+v", got, r)
			}
			pinned, err := NewPinnedTrust(map[string][]ed25519.PublicKey{r.ID: {node.Public()}})
			if err != nil {
				t.Fatal(err)
			}
			if err := got.Verify(pinned, epoch); err != nil {
				t.Errorf("pinned: %v", err)
			}
			if r.Certificate != nil {
				if err := got.Verify(trust, epoch); err != nil {
					t.Errorf("CA: %v", err)
				}
			}
		})
	}
}

// The documented layout, read by a generic msgpack decoder.
func TestNodeRecordLayout(t *testing.T) {
	ca, node := testKey(t, 1), testKey(t, 2)
	cert := testCert(t, ca, "node-00001", node.Public(), epoch)
	for _, c := range [][]byte{nil, cert} {
		r := testRecord(t, node, "node-00001", c)
		b := marshalRecord(t, r)
		var fields []any
		if err := msgpack.Unmarshal(b, &fields); err != nil {
			t.Fatal(err)
		}
		var wantCert any
		if c != nil {
			wantCert = c
		}
		want := []any{int8(1), "node-00001", []byte(node.Public()), "10.0.0.1:7946", "alias-node-00001",
			uint64(1767225600000), int8(3), false, []byte{}, wantCert}
		if len(fields) != 11 || !reflect.DeepEqual(fields[:10], want) {
			t.Fatalf("fields %#v, want %#v and a signature", fields, want)
		}
		if !Verify(node.Public(), DomainNodeRecord, b[1:len(b)-66], b[len(b)-64:]) {
			t.Error("signature is not over the documented bytes")
		}
	}
	if b := marshalRecord(t, testRecord(t, node, "node-00001", nil)); len(b) != 158 {
		t.Errorf("%d bytes for a 10-byte id, 13-byte addr and 16-byte alias without certificate, want 158 as documented", len(b))
	}
}

// TestNodeRecordTamperedField: changing any field after signing fails
// Verify with ErrRecordSignature, whatever the trust says of the key.
func TestNodeRecordTamperedField(t *testing.T) {
	ca, node, other := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	cert := testCert(t, ca, "n1", node.Public(), epoch)
	renewed := testCert(t, ca, "n1", node.Public(), epoch.Add(time.Hour))
	trust, err := NewCATrust(ca.Public())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		field  string
		tamper func(r *NodeRecord)
	}{
		{"id", func(r *NodeRecord) { r.ID = "n2" }},
		{"public key", func(r *NodeRecord) { r.PublicKey = other.Public() }},
		{"addr", func(r *NodeRecord) { r.Addr = "10.0.0.66:7946" }},
		{"alias", func(r *NodeRecord) { r.Alias = "" }},
		{"generation", func(r *NodeRecord) { r.Generation++ }},
		{"seq", func(r *NodeRecord) { r.Seq++ }},
		{"leaving", func(r *NodeRecord) { r.Leaving = true }},
		{"beat chain", func(r *NodeRecord) { r.BeatChain = []byte{1} }},
		{"certificate, a valid one of the same key", func(r *NodeRecord) { r.Certificate = renewed }},
		{"certificate dropped", func(r *NodeRecord) { r.Certificate = nil }},
		{"signature", func(r *NodeRecord) { r.Signature[10] ^= 1 }},
	}
	for _, tt := range cases {
		t.Run(tt.field, func(t *testing.T) {
			r := testRecord(t, node, "n1", cert)
			if err := r.Verify(trust, epoch); err != nil {
				t.Fatalf("untampered: %v", err)
			}
			tt.tamper(r)
			if err := r.Verify(trust, epoch); !errors.Is(err, ErrRecordSignature) {
				t.Fatalf("tampered %s: %v, want ErrRecordSignature", tt.field, err)
			}
		})
	}
}

// TestNodeRecordTamperedBytes: flipping any bit of an encoded record
// makes it fail to parse or to verify.
func TestNodeRecordTamperedBytes(t *testing.T) {
	ca, node := testKey(t, 1), testKey(t, 2)
	trust, err := NewCATrust(ca.Public())
	if err != nil {
		t.Fatal(err)
	}
	good := marshalRecord(t, testRecord(t, node, "n1", testCert(t, ca, "n1", node.Public(), epoch)))
	for i := range good {
		for _, bit := range []byte{0x01, 0x80} {
			b := bytes.Clone(good)
			b[i] ^= bit
			r, err := ParseNodeRecord(b)
			if err == nil {
				err = r.Verify(trust, epoch)
			}
			if err == nil {
				t.Fatalf("byte %d ^ %#x: accepted", i, bit)
			}
		}
	}
}

// TestNodeRecordTrust: a record verifies only when its key is trusted for
// its id, at the time given.
func TestNodeRecordTrust(t *testing.T) {
	ca, node, rogue, rotated := testKey(t, 1), testKey(t, 2), testKey(t, 3), testKey(t, 4)
	caTrust, err := NewCATrust(ca.Public())
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := NewPinnedTrust(map[string][]ed25519.PublicKey{"n1": {node.Public(), rotated.Public()}, "n2": {rogue.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	cert := testCert(t, ca, "n1", node.Public(), epoch)
	rogueCert := testCert(t, ca, "n2", rogue.Public(), epoch)
	// The rogue signs a record of n1 with its own key, presenting its own
	// certificate (of n2) or n1's (of another key).
	rogueOwnCert := &NodeRecord{ID: "n1", Addr: "10.0.0.66:7946", Certificate: rogueCert}
	rogueOwnCert = signUnchecked(t, rogue, rogueOwnCert)
	rogueN1Cert := signUnchecked(t, rogue, &NodeRecord{ID: "n1", Addr: "10.0.0.66:7946", Certificate: cert})
	// The rogue claims n1's key but can only sign with its own.
	claimed := testRecord(t, node, "n1", cert)
	claimed.Addr = "10.0.0.66:7946"
	claimed.Signature = rogue.Sign(DomainNodeRecord, mustBody(t, claimed))
	// A signature of n1's made for another purpose.
	otherDomain := testRecord(t, node, "n1", cert)
	otherDomain.Signature = node.Sign(DomainHeartbeat, mustBody(t, otherDomain))

	cases := []struct {
		name  string
		r     *NodeRecord
		trust Checker
		now   time.Time
		want  error // nil: verifies
	}{
		{"CA: valid", testRecord(t, node, "n1", cert), caTrust, epoch, nil},
		{"CA: at the certificate's last second", testRecord(t, node, "n1", cert), caTrust, epoch.Add(999 * time.Millisecond), nil},
		{"CA: certificate expired", testRecord(t, node, "n1", cert), caTrust, epoch.Add(time.Second), ErrExpired},
		{"CA: no certificate", testRecord(t, node, "n1", nil), caTrust, epoch, ErrNoCertificate},
		{"CA: key revoked", testRecord(t, node, "n1", cert), caTrust.WithRevoked(node.Public()), epoch, ErrRevoked},
		{"CA: another key, its certificate of another id", rogueOwnCert, caTrust, epoch, ErrWrongID},
		{"CA: another key, the id's certificate", rogueN1Cert, caTrust, epoch, ErrWrongKey},
		{"CA: the id's key claimed, another signs", claimed, caTrust, epoch, ErrRecordSignature},
		{"CA: signature of another domain", otherDomain, caTrust, epoch, ErrRecordSignature},
		{"CA: certificate of an unknown CA", testRecord(t, node, "n1", testCert(t, rogue, "n1", node.Public(), epoch)), caTrust, epoch, ErrUnknownCA},
		{"pinned: valid", testRecord(t, node, "n1", nil), pinned, epoch, nil},
		{"pinned: the rotated key", testRecord(t, rotated, "n1", nil), pinned, epoch, nil},
		{"pinned: expiry does not apply", testRecord(t, node, "n1", nil), pinned, time.Unix(1<<40, 0), nil},
		{"pinned: another id's key", signUnchecked(t, rogue, &NodeRecord{ID: "n1", Addr: "x"}), pinned, epoch, ErrWrongKey},
		{"pinned: unknown id", testRecord(t, node, "n3", nil), pinned, epoch, ErrUnknownID},
		{"pinned: key revoked", testRecord(t, node, "n1", nil), pinned.WithRevoked(node.Public()), epoch, ErrRevoked},
		{"pinned: the id's key claimed, another signs", claimed, pinned, epoch, ErrRecordSignature},
		{"cached CA: valid", testRecord(t, node, "n1", cert), NewTrustCache(caTrust, 4), epoch, nil},
		{"cached CA: expired", testRecord(t, node, "n1", cert), NewTrustCache(caTrust, 4), epoch.Add(time.Second), ErrExpired},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Verify(tt.trust, tt.now)
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("got %v, want %v", err, tt.want)
			case tt.want != nil && tt.want != ErrRecordSignature && !errors.Is(err, ErrUntrusted):
				t.Fatalf("%v is not ErrUntrusted", err)
			}
		})
	}
}

// signUnchecked signs r with k as a forger would: SignNodeRecord refuses
// a certificate of another key or id.
func signUnchecked(t testing.TB, k *Key, r *NodeRecord) *NodeRecord {
	t.Helper()
	r.PublicKey = k.Public()
	r.Signature = k.Sign(DomainNodeRecord, mustBody(t, r))
	return r
}

func mustBody(t testing.TB, r *NodeRecord) []byte {
	t.Helper()
	b, err := r.body()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignNodeRecordRejects(t *testing.T) {
	ca, node, other := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	cases := []struct {
		name string
		r    NodeRecord
		has  string
	}{
		{"empty id", NodeRecord{Addr: "a"}, "id of 0 bytes"},
		{"id over 255 bytes", NodeRecord{ID: strings.Repeat("x", 256), Addr: "a"}, "id of 256 bytes"},
		{"empty addr", NodeRecord{ID: "n1"}, "addr of 0 bytes"},
		{"addr over 255 bytes", NodeRecord{ID: "n1", Addr: strings.Repeat("a", 256)}, "addr of 256"},
		{"alias over 255 bytes", NodeRecord{ID: "n1", Addr: "a", Alias: strings.Repeat("l", 256)}, "alias of 256"},
		{"certificate garbage", NodeRecord{ID: "n1", Addr: "a", Certificate: []byte{0x96, 1}}, "malformed certificate"},
		{"certificate of another id", NodeRecord{ID: "n1", Addr: "a", Certificate: testCert(t, ca, "n2", node.Public(), epoch)}, `certificate of "n2"`},
		{"certificate of another key", NodeRecord{ID: "n1", Addr: "a", Certificate: testCert(t, ca, "n1", other.Public(), epoch)}, "certificate of key"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			r, err := SignNodeRecord(node, tt.r)
			if err == nil {
				t.Fatalf("signed %+v", r)
			}
			if !strings.Contains(err.Error(), tt.has) {
				t.Fatalf("error %q does not say %q", err, tt.has)
			}
		})
	}
	r := testRecord(t, node, "n1", nil)
	r.Signature = nil
	if _, err := r.Marshal(); err == nil {
		t.Error("marshalled a record without a signature")
	}
}

func TestParseNodeRecordRejects(t *testing.T) {
	ca, node := testKey(t, 1), testKey(t, 2)
	good := marshalRecord(t, testRecord(t, node, "n1", nil))
	// good: 0x99, 0x01, 0xa2 "n1", 0xc4 0x20 key, 0xad "10.0.0.1:7946", 0xa8 "alias-n1",
	// 0xcf generation, 0x03 seq, 0xc2 (not leaving), 0xc4 0x00 (empty beat
	// chain), 0xc0 (no certificate), 0xc4 0x40 signature.
	const (
		addrAt    = 1 + 1 + 3 + 34
		seqAt     = addrAt + 14 + 9 + 9
		leavingAt = seqAt + 1
		chainAt   = leavingAt + 1
		certAt    = chainAt + 2
	)
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	splice := func(at, drop int, in ...byte) []byte {
		return append(append(bytes.Clone(good[:at]), in...), good[at+drop:]...)
	}
	// An embedded certificate re-signed with every other field as good's.
	withCert := func(cert []byte, enc []byte) []byte {
		r := testRecord(t, node, "n1", cert)
		b := marshalRecord(t, r)
		if enc != nil {
			b = append(append(bytes.Clone(b[:certAt]), enc...), b[len(b)-66:]...)
		}
		return b
	}
	cert := testCert(t, ca, "n1", node.Public(), epoch)
	cases := []struct {
		name string
		in   []byte
		has  string
	}{
		{"empty", nil, "not an array"},
		{"over the size limit", make([]byte, MaxNodeRecordSize+1), "at most"},
		{"trailing byte", append(bytes.Clone(good), 0), "after the record"},
		{"array of 10", edit(func(b []byte) []byte { b[0] = 0x9a; return b }), "not an array of 11"},
		{"array of 9, the layout without leaving and beat chain", edit(func(b []byte) []byte { b[0] = 0x99; return b }), "not an array of 11"},
		{"version 2", edit(func(b []byte) []byte { b[1] = 2; return b }), "version 2"},
		{"truncated", good[:len(good)-1], "truncated"},
		{"id not a string", edit(func(b []byte) []byte { b[2] = 0xc4; return b }), "id: not a string"},
		{"long form of a short id", splice(2, 1, 0xd9, 2), "shortest"},
		{"key of 31 bytes", edit(func(b []byte) []byte { b[6] = 31; return b }), "31 bytes"},
		{"addr not a string", edit(func(b []byte) []byte { b[addrAt] = 0x01; return b }), "addr: not a string"},
		{"empty addr", splice(addrAt, 14, 0xa0), "addr of 0 bytes"},
		{"long form of seq", splice(seqAt, 1, 0xcc, 3), "shortest"},
		{"seq negative", edit(func(b []byte) []byte { b[seqAt] = 0xff; return b }), "seq: not an unsigned"},
		{"leaving not a boolean", edit(func(b []byte) []byte { b[leavingAt] = 0x00; return b }), "leaving: not a boolean"},
		{"beat chain nil rather than empty", splice(chainAt, 2, 0xc0), "beat chain: not a binary"},
		{"beat chain as bin 16", splice(chainAt, 2, 0xc5, 0, 0), "shortest"},
		{"beat chain over its limit", splice(chainAt, 2, append([]byte{0xc4, MaxBeatChainBytes + 1}, make([]byte, MaxBeatChainBytes+1)...)...), "at most"},
		{"certificate empty rather than nil", splice(certAt, 1, 0xc4, 0), "shortest"},
		{"certificate not binary", splice(certAt, 1, 0xa0), "certificate: not a binary"},
		{"certificate garbage", splice(certAt, 1, 0xc4, 2, 0x96, 1), "malformed certificate"},
		{"certificate over its limit", splice(certAt, 1, 0xc5, 0x01, 0x7b), "at most"},
		{"short certificate as bin 16", withCert(cert, append([]byte{0xc5, 0, byte(len(cert))}, cert...)), "shortest"},
		{"certificate of another id", withCert(nil, canon.AppendBin(nil, testCert(t, ca, "n2", node.Public(), epoch))), `certificate of "n2"`},
		{"signature of 63 bytes", edit(func(b []byte) []byte { b[len(b)-65] = 63; return b[:len(b)-1] }), "63 bytes"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseNodeRecord(tt.in)
			if err == nil {
				t.Fatalf("parsed %+v", r)
			}
			if !errors.Is(err, ErrMalformedRecord) {
				t.Errorf("%v is not ErrMalformedRecord", err)
			}
			if !strings.Contains(err.Error(), tt.has) {
				t.Errorf("error %q does not say %q", err, tt.has)
			}
		})
	}
}

func TestNodeRecordNewer(t *testing.T) {
	cases := []struct {
		r, old [2]uint64 // generation, seq
		want   bool
	}{
		{[2]uint64{1, 2}, [2]uint64{1, 1}, true},
		{[2]uint64{1, 1}, [2]uint64{1, 1}, false},
		{[2]uint64{1, 1}, [2]uint64{1, 2}, false},
		{[2]uint64{2, 1}, [2]uint64{1, 9}, true},
		{[2]uint64{1, 9}, [2]uint64{2, 1}, false},
	}
	for _, tt := range cases {
		r := &NodeRecord{Generation: tt.r[0], Seq: tt.r[1]}
		old := &NodeRecord{Generation: tt.old[0], Seq: tt.old[1]}
		if got := r.Newer(old); got != tt.want {
			t.Errorf("%v newer than %v = %v, want %v", tt.r, tt.old, got, tt.want)
		}
	}
}

// A record's GC horizon is signed: it cannot be added, dropped or raised
// by a relay, and a horizon of 0 has one encoding, without the field.
func TestNodeRecordGCHorizon(t *testing.T) {
	node := testKey(t, 2)
	pinned, err := NewPinnedTrust(map[string][]ed25519.PublicKey{"n1": {node.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(gc uint64) []byte {
		r, err := SignNodeRecord(node, NodeRecord{ID: "n1", Addr: "h:1", Seq: 5, GCVersion: gc})
		if err != nil {
			t.Fatal(err)
		}
		return marshalRecord(t, r)
	}
	with, without := sign(1000), sign(0)
	if with[0] != recordArrayGC || without[0] != recordArray {
		t.Fatalf("headers 0x%02x and 0x%02x", with[0], without[0])
	}
	sig := len(with) - (2 + ed25519.SignatureSize)
	cases := []struct {
		name     string
		in       []byte
		parse    string // error text from ParseNodeRecord, "" for none
		verifies bool
	}{
		{"as signed", with, "", true},
		{"without, as signed", without, "", true},
		{"horizon raised", append(append(bytes.Clone(with[:sig-3]), 0xcd, 0x07, 0xd0), with[sig:]...), "", false},
		{"horizon dropped", append(append([]byte{recordArray}, with[1:sig-3]...), with[sig:]...), "", false},
		{"horizon added", append(append(append([]byte{recordArrayGC}, without[1:len(without)-66]...), 0x05), without[len(without)-66:]...), "", false},
		{"horizon 0 written out", append(append(append([]byte{recordArrayGC}, without[1:len(without)-66]...), 0x00), without[len(without)-66:]...), "shortest", false},
		{"horizon not a number", append(append(bytes.Clone(with[:sig-3]), 0xa0), with[sig:]...), "gc horizon", false},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseNodeRecord(tt.in)
			if tt.parse != "" {
				if err == nil || !strings.Contains(err.Error(), tt.parse) {
					t.Fatalf("parse: %v, want %q", err, tt.parse)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Verify(pinned, epoch); (err == nil) != tt.verifies {
				t.Fatalf("verify: %v, want verified %v", err, tt.verifies)
			}
		})
	}
}

// TestNodeRecordRetiredKeys: a record names its retired keys as a
// thirteenth field, after its GC horizon, that its signature covers; a
// list out of its limits is refused by the signer and the parser, and
// one altered fails Verify.
func TestNodeRecordRetiredKeys(t *testing.T) {
	node, old, older, oldest := testKey(t, 2), testKey(t, 3), testKey(t, 4), testKey(t, 5)
	retired := func(ks ...*Key) []RetiredKey {
		var out []RetiredKey
		for i, k := range ks {
			out = append(out, RetiredKey{PublicKey: k.Public(), Generation: 9, Through: uint64(100 + 20*i)})
		}
		return out
	}
	base := NodeRecord{ID: "n1", Addr: "10.0.0.1:7946", Generation: 9, Seq: 3}
	with := func(rs []RetiredKey) NodeRecord { r := base; r.Retired = rs; return r }
	for _, tt := range []struct {
		name string
		r    NodeRecord
		has  string
	}{
		{"three", with(retired(old, older, oldest)), "3 retired keys"},
		{"its own key", with(retired(old, node)), "the record's own key"},
		{"twice", with(retired(old, old)), "named twice"},
		{"short key", with([]RetiredKey{{PublicKey: old.Public()[:31]}}), "retired key 0 of 31 bytes"},
	} {
		t.Run("sign/"+tt.name, func(t *testing.T) {
			if r, err := SignNodeRecord(node, tt.r); err == nil || !strings.Contains(err.Error(), tt.has) {
				t.Fatalf("signed %+v: %v, want %q", r, err, tt.has)
			}
		})
	}

	r, err := SignNodeRecord(node, with(retired(old, older)))
	if err != nil {
		t.Fatal(err)
	}
	b := marshalRecord(t, r)
	if b[0] != recordArrayRetired {
		t.Fatalf("header 0x%02x, want an array of 13", b[0])
	}
	plain := marshalRecord(t, testRecord(t, node, "n1", nil))
	if plain[0] != 0x9b {
		t.Fatalf("a record without retired keys: header 0x%02x, want an array of 11", plain[0])
	}
	pinned, err := NewPinnedTrust(map[string][]ed25519.PublicKey{"n1": {node.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseNodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(pinned, epoch); err != nil {
		t.Fatal(err)
	}
	if !got.Retired[1].Covers(9, 120) || got.Retired[1].Covers(9, 121) || got.Retired[1].Covers(8, 1) {
		t.Errorf("Covers of %+v", got.Retired[1])
	}

	// The list is the field before the signature: [0x92, 0x93 ...], each
	// entry 37 bytes (generation and through are fixints), after a GC
	// horizon of 0.
	oneEntry := 1 + 34 + 1 + 1
	at := len(b) - 66 - 1 - 2*oneEntry
	if b[at] != 0x92 || b[at-1] != 0 {
		t.Fatalf("no list at %d after a horizon of 0: 0x%02x 0x%02x", at, b[at-1], b[at])
	}
	splice := func(drop int, in ...byte) []byte {
		return append(append(bytes.Clone(b[:at]), in...), b[at+drop:]...)
	}
	for _, tt := range []struct {
		name string
		in   []byte
		has  string
	}{
		{"empty list", splice(1+2*oneEntry, 0x90), "not an array of 1 to 2"},
		{"list absent from an array of 13", splice(1 + 2*oneEntry), "not an array of 1 to 2"},
		{"three entries", splice(1, 0x93), "not an array of 1 to 2"},
		{"entry of 2", splice(2, 0x92, 0x92), "not an array of 3"},
		{"long form of through", append(append(bytes.Clone(b[:at+1+1+34+1]), 0xcc, 100), b[at+1+1+34+2:]...), "shortest"},
		{"the record's own key", append(append(bytes.Clone(b[:at+4]), node.Public()...), b[at+4+32:]...), "own key"},
	} {
		t.Run("parse/"+tt.name, func(t *testing.T) {
			if r, err := ParseNodeRecord(tt.in); err == nil || !errors.Is(err, ErrMalformedRecord) || !strings.Contains(err.Error(), tt.has) {
				t.Fatalf("parsed %+v: %v, want %q", r, err, tt.has)
			}
		})
	}

	// Altered, or cut off the record, the list fails the signature.
	forged := bytes.Clone(b)
	forged[at+1+1+34+1]++ // the first entry's through
	if r, err := ParseNodeRecord(forged); err != nil {
		t.Fatal(err)
	} else if err := r.Verify(pinned, epoch); !errors.Is(err, ErrRecordSignature) {
		t.Errorf("altered through: %v", err)
	}
	cut := append(append([]byte{recordArray}, b[1:at-1]...), b[len(b)-66:]...)
	if r, err := ParseNodeRecord(cut); err != nil {
		t.Fatal(err)
	} else if err := r.Verify(pinned, epoch); !errors.Is(err, ErrRecordSignature) {
		t.Errorf("list cut off: %v", err)
	}
}
