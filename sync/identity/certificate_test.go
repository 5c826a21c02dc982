package identity

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func TestCertificateRoundTrip(t *testing.T) {
	ca, node := testKey(t, 1), testKey(t, 2)
	for _, id := range []string{"n", "node-00001", strings.Repeat("x", 31), strings.Repeat("é", 16), strings.Repeat("z", MaxIDBytes)} {
		for _, notAfter := range []time.Time{time.Unix(0, 0), time.Unix(200, 0), time.Unix(70000, 0), epoch, time.Unix(math.MaxInt64, 0)} {
			c, err := IssueCertificate(ca, id, node.Public(), notAfter)
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > MaxCertificateSize {
				t.Fatalf("%d bytes, over MaxCertificateSize %d", len(b), MaxCertificateSize)
			}
			got, err := ParseCertificate(b)
			if err != nil {
				t.Fatalf("id %d bytes, not-after %d: %v", len(id), notAfter.Unix(), err)
			}
			if !reflect.DeepEqual(got, c) {
				t.Fatalf("round trip:\n%+v\n%+v", got, c)
			}
			if err := got.Verify(ca.Public()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// The documented layout, read back by a generic msgpack decoder: other
// implementations can read a certificate without this package.
func TestCertificateLayout(t *testing.T) {
	ca, node := testKey(t, 1), testKey(t, 2)
	b := testCert(t, ca, "node-00001", node.Public(), epoch)
	if len(b) != 128 {
		t.Errorf("%d bytes for a 10-byte id, want 128 as documented", len(b))
	}
	var fields []any
	if err := msgpack.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	caID := ca.ID()
	want := []any{int8(1), "node-00001", []byte(node.Public()), uint32(epoch.Unix()), caID[:]}
	if len(fields) != 6 || !reflect.DeepEqual(fields[:5], want) {
		t.Fatalf("fields %#v, want %#v and a signature", fields, want)
	}
	if sig, ok := fields[5].([]byte); !ok || len(sig) != ed25519.SignatureSize {
		t.Fatalf("signature %#v", fields[5])
	}
	// The signature covers the fields between the array's header and
	// the signature's own, in the certificate domain.
	if !Verify(ca.Public(), "leviathan node certificate v1", b[1:len(b)-66], b[len(b)-64:]) {
		t.Error("signature is not over the documented bytes")
	}
}

func TestIssueRejects(t *testing.T) {
	ca, node := testKey(t, 1), testKey(t, 2)
	cases := []struct {
		name     string
		id       string
		pub      ed25519.PublicKey
		notAfter time.Time
	}{
		{"empty id", "", node.Public(), epoch},
		{"id over 255 bytes", strings.Repeat("x", 256), node.Public(), epoch},
		{"short key", "n1", node.Public()[:31], epoch},
		{"no key", "n1", nil, epoch},
		{"before 1970", "n1", node.Public(), time.Unix(-1, 0)},
	}
	for _, tt := range cases {
		if c, err := IssueCertificate(ca, tt.id, tt.pub, tt.notAfter); err == nil {
			t.Errorf("%s: issued %+v", tt.name, c)
		}
	}
	if _, err := (&Certificate{ID: "n1", PublicKey: node.Public(), NotAfter: epoch}).Marshal(); err == nil {
		t.Error("marshalled a certificate without a signature")
	}
}

func TestParseCertificateRejects(t *testing.T) {
	ca, node := testKey(t, 1), testKey(t, 2)
	good := testCert(t, ca, "node-00001", node.Public(), time.Unix(100, 0))
	// good: 0x96, 0x01, 0xaa "node-00001", 0xc4 0x20 key, 0x64 (100), ...
	const notAfterAt = 1 + 1 + 11 + 34
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name string
		in   []byte
		has  string
	}{
		{"empty", nil, "not an array"},
		{"trailing byte", append(bytes.Clone(good), 0), "after the certificate"},
		{"array of 5", edit(func(b []byte) []byte { b[0] = 0x95; return b }), "not an array of 6"},
		{"version 2", edit(func(b []byte) []byte { b[1] = 2; return b }), "version 2"},
		{"id not a string", edit(func(b []byte) []byte { b[2] = 0xc4; return b }), "not a string"},
		{"long form of a short id", append([]byte{0x96, 1, 0xd9, 10}, good[3:]...), "shortest"},
		{"empty id", append([]byte{0x96, 1, 0xa0}, good[13:]...), "shortest"},
		{"key of 31 bytes", edit(func(b []byte) []byte { b[14] = 31; return b }), "31 bytes"},
		{"key not binary", edit(func(b []byte) []byte { b[13] = 0xa0; return b }), "not a binary"},
		{"long form of not-after", append(append(bytes.Clone(good[:notAfterAt]), 0xcc, 100), good[notAfterAt+1:]...), "shortest"},
		{"negative not-after", edit(func(b []byte) []byte { b[notAfterAt] = 0xff; return b }), "not an unsigned"},
		{"not-after over int64", append(append(bytes.Clone(good[:notAfterAt]), 0xcf, 0xff, 0, 0, 0, 0, 0, 0, 0), good[notAfterAt+1:]...), "out of range"},
		{"too large", make([]byte, MaxCertificateSize+1), "at most"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCertificate(tt.in)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.has) {
				t.Fatalf("%+v, %v: want ErrMalformed saying %q", c, err, tt.has)
			}
		})
	}
	for n := range len(good) {
		if _, err := ParseCertificate(good[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
}

// No single-bit change to a certificate passes: it fails to parse, names
// an unknown CA or fails its signature.
func TestCertificateTamperedBits(t *testing.T) {
	ca, node := testKey(t, 1), testKey(t, 2)
	good := testCert(t, ca, "node-00001", node.Public(), epoch)
	for i := range len(good) {
		for bit := range 8 {
			b := bytes.Clone(good)
			b[i] ^= 1 << bit
			c, err := ParseCertificate(b)
			if err == nil {
				err = c.Verify(ca.Public())
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownCA) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("byte %d bit %d flipped: %v", i, bit, err)
			}
		}
	}
}

func TestCertificatePEM(t *testing.T) {
	ca, node := testKey(t, 1), testKey(t, 2)
	cert := testCert(t, ca, "n1", node.Public(), epoch)
	file := EncodeCertificatePEM(cert)
	if !bytes.HasPrefix(file, []byte("-----BEGIN LEVIATHAN NODE CERTIFICATE-----\n")) {
		t.Fatalf("PEM:\n%s", file)
	}
	path := filepath.Join(t.TempDir(), "n1.crt")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCertificate(path)
	if err != nil || !bytes.Equal(got, cert) {
		t.Fatalf("LoadCertificate: %x, %v", got, err)
	}
	bad := map[string][]byte{
		"no PEM":           []byte("junk"),
		"a key":            []byte(opensslPub),
		"after the block":  append(bytes.Clone(file), "x"...),
		"not a cert":       EncodeCertificatePEM([]byte{0x96}),
		"two certificates": append(bytes.Clone(file), file...),
	}
	for name, in := range bad {
		if _, err := DecodeCertificatePEM(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}
