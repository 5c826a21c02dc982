package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// Errors of key files and key encodings.
var (
	// ErrKeyPermissions: a private key file that the group or others may
	// read or write is refused, as ssh refuses one, rather than used.
	ErrKeyPermissions = errors.New("identity: key file is accessible to others")
	// ErrBadKey: not a PEM ed25519 key of the expected kind.
	ErrBadKey = errors.New("identity: not an ed25519 key")
)

const (
	privatePEMType = "PRIVATE KEY" // PKCS#8, as openssl genpkey writes it
	publicPEMType  = "PUBLIC KEY"  // PKIX, as openssl pkey -pubout writes it
	// maxFileBytes bounds what is read of a key or certificate file: a
	// PEM ed25519 key is about 120 bytes, a certificate under 600.
	maxFileBytes = 64 << 10
)

// MarshalPEM encodes k as PEM of PKCS#8, the form `openssl pkey` reads.
func (k *Key) MarshalPEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		// MarshalPKCS8PrivateKey fails only for key types it does not
		// know, and ed25519 is one it knows.
		panic("identity: PKCS#8 of an ed25519 key: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: privatePEMType, Bytes: der})
}

// ParseKeyPEM decodes a private key written by MarshalPEM or by
// `openssl genpkey -algorithm ed25519`.
func ParseKeyPEM(b []byte) (*Key, error) {
	der, err := onePEM(b, privatePEMType)
	if err != nil {
		return nil, err
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: PKCS#8: %w", ErrBadKey, err)
	}
	priv, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: the file holds a %T", ErrBadKey, parsed)
	}
	return &Key{priv: priv}, nil
}

// MarshalPublicKeyPEM encodes pub as PEM of PKIX, the form `openssl pkey
// -pubout` writes.
func MarshalPublicKeyPEM(pub ed25519.PublicKey) ([]byte, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key of %d bytes", ErrBadKey, len(pub))
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("identity: PKIX: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: publicPEMType, Bytes: der}), nil
}

// FormatPublicKey renders pub on one line, as standard base64 of its 32
// bytes: the form for a config file.
func FormatPublicKey(pub ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey decodes a public key in either form: PEM of PKIX, or
// FormatPublicKey's base64 line.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	b = bytes.TrimSpace(b)
	if !bytes.HasPrefix(b, []byte("-----")) {
		raw, err := base64.StdEncoding.DecodeString(string(b))
		if err != nil {
			return nil, fmt.Errorf("%w: neither PEM nor base64: %w", ErrBadKey, err)
		}
		if len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: base64 of %d bytes, want %d", ErrBadKey, len(raw), ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(raw), nil
	}
	der, err := onePEM(b, publicPEMType)
	if err != nil {
		return nil, err
	}
	parsed, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: PKIX: %w", ErrBadKey, err)
	}
	pub, ok := parsed.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: the file holds a %T", ErrBadKey, parsed)
	}
	return pub, nil
}

// onePEM returns the bytes of the one PEM block of type typ in b, which
// must hold nothing else.
func onePEM(b []byte, typ string) ([]byte, error) {
	block, rest := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrBadKey)
	}
	if block.Type != typ {
		return nil, fmt.Errorf("%w: PEM block %q, want %q", ErrBadKey, block.Type, typ)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("%w: data after the PEM block", ErrBadKey)
	}
	return block.Bytes, nil
}

// Load reads a private key file. It refuses a file the group or others
// may access (ErrKeyPermissions) and one that holds no ed25519 key
// (ErrBadKey); a missing file is fs.ErrNotExist.
func Load(path string) (*Key, error) {
	b, err := readPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("identity: key file %s: %w", path, err)
	}
	k, err := ParseKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("identity: key file %s: %w", path, err)
	}
	return k, nil
}

// readPrivate reads a file that must be the owner's alone.
func readPrivate(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: not a regular file", ErrBadKey)
	}
	// Windows has no such mode bits: its ACLs are the operator's to set.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("%w (mode %04o): chmod 600 it", ErrKeyPermissions, perm)
	}
	return readBounded(f)
}

func readBounded(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadKey, maxFileBytes)
	}
	return b, nil
}

// Create generates a key from rand (crypto/rand.Reader when nil) and
// writes it to path, mode 0600, creating path's directory (mode 0700) if
// need be. It never overwrites a file: an existing path is fs.ErrExist.
func Create(path string, rand io.Reader) (*Key, error) {
	k, err := Generate(rand)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("identity: key file %s: %w", path, err)
	}
	if err := writeFile(path, k.MarshalPEM(), 0o600, false); err != nil {
		return nil, fmt.Errorf("identity: key file %s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreate loads the key at path, or creates it there when there is
// none (created is then true). A node calls it at start: its identity
// outlives its data directory as long as this file is kept.
func LoadOrCreate(path string, rand io.Reader) (k *Key, created bool, err error) {
	k, err = Load(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	k, err = Create(path, rand)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it in between: use that key, or the
		// two would present different keys for one file.
		k, err = Load(path)
		return k, false, err
	}
	return k, err == nil, err
}

// LoadPublicKey reads a public key file in either of ParsePublicKey's
// forms.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: public key file %s: %w", path, err)
	}
	pub, err := ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("identity: public key file %s: %w", path, err)
	}
	return pub, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readBounded(f)
}
