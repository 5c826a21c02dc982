package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/leviathan-gossip/leviathan/internal/canon"
	"math"
	"time"
)

// Certificate errors. Check wraps them in ErrUntrusted as well.
var (
	// ErrMalformed: bytes that are not a certificate of a known version.
	ErrMalformed = errors.New("identity: malformed certificate")
	// ErrUnknownCA: a certificate signed by no CA key the checker trusts.
	ErrUnknownCA = errors.New("identity: certificate of an unknown CA")
	// ErrBadSignature: a certificate whose signature does not verify:
	// forged, or altered after signing.
	ErrBadSignature = errors.New("identity: bad certificate signature")
)

const (
	// CertificateVersion is the format version Marshal writes and the
	// only one Parse accepts.
	CertificateVersion = 1
	// MaxIDBytes is the longest node id a certificate names, as long as
	// the protocol allows.
	MaxIDBytes = 255
	// MaxCertificateSize is the largest encoded certificate: one naming
	// a MaxIDBytes id.
	MaxCertificateSize = 1 + 1 + (2 + MaxIDBytes) + (2 + ed25519.PublicKeySize) + 9 + (2 + len(KeyID{})) + (2 + ed25519.SignatureSize)
	// certificatePEMType is the PEM block of a certificate file.
	certificatePEMType = "LEVIATHAN NODE CERTIFICATE"
)

// Certificate is a CA's word that a node id owns a public key until
// NotAfter.
type Certificate struct {
	ID        string            // the node id
	PublicKey ed25519.PublicKey // the node's key
	NotAfter  time.Time         // the last instant it is valid, in whole seconds
	CA        KeyID             // the CA key that signed it
	Signature []byte            // the CA's signature of the fields above
}

// IssueCertificate signs, with the CA key ca, that id owns pub until
// notAfter (truncated to the second).
func IssueCertificate(ca *Key, id string, pub ed25519.PublicKey, notAfter time.Time) (*Certificate, error) {
	c := &Certificate{ID: id, PublicKey: pub, NotAfter: time.Unix(notAfter.Unix(), 0).UTC(), CA: ca.ID()}
	body, err := c.body()
	if err != nil {
		return nil, fmt.Errorf("identity: issue certificate: %w", err)
	}
	c.Signature = ca.Sign(domainCertificate, body)
	return c, nil
}

// Marshal encodes c: a msgpack array of [version, id, public key,
// not-after in Unix seconds, CA key id, signature], each in its shortest
// msgpack form, so that a certificate has one encoding only.
func (c *Certificate) Marshal() ([]byte, error) {
	body, err := c.body()
	if err != nil {
		return nil, fmt.Errorf("identity: marshal certificate: %w", err)
	}
	if len(c.Signature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("identity: marshal certificate: signature of %d bytes", len(c.Signature))
	}
	b := make([]byte, 0, 1+len(body)+2+ed25519.SignatureSize)
	b = append(b, 0x96) // fixarray of 6
	b = append(b, body...)
	return canon.AppendBin(b, c.Signature), nil
}

// body encodes the signed fields, in order: all of the array but its
// header and the signature.
func (c *Certificate) body() ([]byte, error) {
	if c.ID == "" || len(c.ID) > MaxIDBytes {
		return nil, fmt.Errorf("id of %d bytes: want 1 to %d", len(c.ID), MaxIDBytes)
	}
	if len(c.PublicKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key of %d bytes", len(c.PublicKey))
	}
	if c.NotAfter.Unix() < 0 {
		return nil, fmt.Errorf("not-after %v before 1970", c.NotAfter)
	}
	b := make([]byte, 0, MaxCertificateSize)
	b = append(b, CertificateVersion) // positive fixint
	b = canon.AppendStr(b, c.ID)
	b = canon.AppendBin(b, c.PublicKey)
	b = canon.AppendUint(b, uint64(c.NotAfter.Unix()))
	return canon.AppendBin(b, c.CA[:]), nil
}

// Verify checks c's signature with the CA key caPub.
func (c *Certificate) Verify(caPub ed25519.PublicKey) error {
	if IDOf(caPub) != c.CA {
		return fmt.Errorf("%w: signed by %s, not %s", ErrUnknownCA, c.CA, IDOf(caPub))
	}
	body, err := c.body()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if !Verify(caPub, domainCertificate, body, c.Signature) {
		return fmt.Errorf("%w: certificate of %q", ErrBadSignature, c.ID)
	}
	return nil
}

// ParseCertificate decodes what Marshal encodes, and nothing else: any
// other length, type, version or encoding of a field, or trailing bytes,
// is ErrMalformed. It does not check the signature (see Verify and
// Trust.Check). It treats b as hostile: it never panics, and it reads
// at most MaxCertificateSize bytes.
func ParseCertificate(b []byte) (*Certificate, error) {
	if len(b) > MaxCertificateSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(b), MaxCertificateSize)
	}
	r := reader{b: b}
	if h := r.byte(); h != 0x96 {
		return nil, fmt.Errorf("%w: not an array of 6 (0x%02x)", ErrMalformed, h)
	}
	if v := r.byte(); v != CertificateVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrMalformed, v, CertificateVersion)
	}
	c := &Certificate{ID: string(r.str("id"))}
	c.PublicKey = ed25519.PublicKey(bytes.Clone(r.bin("public key", ed25519.PublicKeySize)))
	notAfter := r.uint("not-after")
	copy(c.CA[:], r.bin("CA key id", len(KeyID{})))
	c.Signature = bytes.Clone(r.bin("signature", ed25519.SignatureSize))
	if r.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, r.err)
	}
	if len(r.b) > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the certificate", ErrMalformed, len(r.b))
	}
	if notAfter > math.MaxInt64 {
		return nil, fmt.Errorf("%w: not-after %d out of range", ErrMalformed, notAfter)
	}
	c.NotAfter = time.Unix(int64(notAfter), 0).UTC()
	if again, err := c.Marshal(); err != nil || !bytes.Equal(again, b) {
		// A field in a longer form than needed, or an empty id: refused,
		// so that one certificate has one encoding.
		return nil, fmt.Errorf("%w: not in its shortest encoding", ErrMalformed)
	}
	return c, nil
}

// EncodeCertificatePEM wraps an encoded certificate for a file.
func EncodeCertificatePEM(cert []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: certificatePEMType, Bytes: cert})
}

// DecodeCertificatePEM returns the encoded certificate in a certificate
// file's bytes, checked by ParseCertificate.
func DecodeCertificatePEM(b []byte) ([]byte, error) {
	block, rest := pem.Decode(b)
	if block == nil || block.Type != certificatePEMType {
		return nil, fmt.Errorf("%w: no %q PEM block", ErrMalformed, certificatePEMType)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("%w: data after the PEM block", ErrMalformed)
	}
	if _, err := ParseCertificate(block.Bytes); err != nil {
		return nil, err
	}
	return block.Bytes, nil
}

// LoadCertificate reads a certificate file and returns the encoded
// certificate, the bytes a node presents.
func LoadCertificate(path string) ([]byte, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: certificate file %s: %w", path, err)
	}
	cert, err := DecodeCertificatePEM(b)
	if err != nil {
		return nil, fmt.Errorf("identity: certificate file %s: %w", path, err)
	}
	return cert, nil
}
