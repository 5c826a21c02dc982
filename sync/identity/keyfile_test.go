package identity

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// opensslKey and opensslPub were written by `openssl genpkey -algorithm
// ed25519` and `openssl pkey -pubout`. "TESTING KEY" stands for "PRIVATE
// KEY", so that no scanner takes this test key for a leaked one.
var (
	opensslKey = strings.ReplaceAll(`-----BEGIN TESTING KEY-----
MC4CAQAwBQYDK2VwBCIEIF+JiGg7Rjw1Hcp2I5Ea/9qYKWvbqZ4kE4ym+toTs4NC
-----END TESTING KEY-----
`, "TESTING KEY", "PRIVATE KEY")
	opensslPub = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAaWtwlQyUa35sux4aCfPOWxXJn1jHMYlXB6/SK2qDlLY=
-----END PUBLIC KEY-----
`
)

// Keys are read as openssl writes them and written as it does, byte for
// byte.
func TestOpenSSLForms(t *testing.T) {
	k, err := ParseKeyPEM([]byte(opensslKey))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(k.MarshalPEM()); got != opensslKey {
		t.Errorf("MarshalPEM:\n%s\nwant\n%s", got, opensslKey)
	}
	pub, err := ParsePublicKey([]byte(opensslPub))
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(k.Public()) {
		t.Fatal("openssl's public key is not the private key's")
	}
	out, err := MarshalPublicKeyPEM(pub)
	if err != nil || string(out) != opensslPub {
		t.Errorf("MarshalPublicKeyPEM: %v\n%s", err, out)
	}
	line, err := ParsePublicKey([]byte(" " + FormatPublicKey(pub) + "\n"))
	if err != nil || !line.Equal(pub) {
		t.Errorf("base64 form: %v", err)
	}
}

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "node.key")
	k, created, err := LoadOrCreate(path, nil)
	if err != nil || !created {
		t.Fatalf("first start: created %v, %v", created, err)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v, %v: want 0600", fi.Mode(), err)
		}
	}
	again, created, err := LoadOrCreate(path, nil)
	if err != nil || created {
		t.Fatalf("second start: created %v, %v", created, err)
	}
	if !again.Public().Equal(k.Public()) {
		t.Fatal("the second start has another key")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("%d files next to the key, want the key alone (a temporary file left?)", len(entries))
	}
}

func TestCreateNeverOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.key")
	k, err := Create(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Create(path, nil); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Create: %v, want fs.ErrExist", err)
	}
	kept, err := Load(path)
	if err != nil || !kept.Public().Equal(k.Public()) {
		t.Fatalf("the first key was not kept: %v", err)
	}
}

func TestLoadRejects(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes")
	}
	good := testKey(t, 1).MarshalPEM()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})
	cases := []struct {
		name string
		data []byte
		mode os.FileMode
		want error
		has  string
	}{
		{"world readable", good, 0o644, ErrKeyPermissions, "0644"},
		{"group readable", good, 0o640, ErrKeyPermissions, "chmod 600"},
		{"group writable", good, 0o620, ErrKeyPermissions, ""},
		{"not PEM", []byte("hello"), 0o600, ErrBadKey, "no PEM block"},
		{"empty", nil, 0o600, ErrBadKey, "no PEM block"},
		{"corrupt PKCS#8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 0x03, 1, 2}}), 0o600, ErrBadKey, "PKCS#8"},
		{"ecdsa key", ecPEM, 0o600, ErrBadKey, "ecdsa"},
		{"a public key", []byte(opensslPub), 0o600, ErrBadKey, `"PUBLIC KEY"`},
		{"data after the key", append(bytes.Clone(good), "junk"...), 0o600, ErrBadKey, "after"},
		{"too large", bytes.Repeat([]byte{' '}, maxFileBytes+1), 0o600, ErrBadKey, "larger"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "node.key")
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.has) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Load: %v, want %v naming the file and %q", err, tt.want, tt.has)
			}
			// A start must refuse it too, never replace it with a new key.
			if _, _, err := LoadOrCreate(path, nil); !errors.Is(err, tt.want) {
				t.Fatalf("LoadOrCreate: %v, want %v", err, tt.want)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, tt.data) {
				t.Fatal("the bad file was changed")
			}
		})
	}
}

func TestLoadMissingAndDirectory(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v, want fs.ErrNotExist", err)
	}
	if runtime.GOOS == "windows" {
		return
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreate(sub, nil); !errors.Is(err, ErrBadKey) {
		t.Errorf("a directory: %v, want ErrBadKey", err)
	}
}

func TestParsePublicKeyRejects(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	ecDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	cases := map[string]string{
		"base64 of 31 bytes": FormatPublicKey(make(ed25519.PublicKey, 31)),
		"not base64":         "not a key!",
		"empty":              "",
		"a private key":      opensslKey,
		"ecdsa key":          string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER})),
		"corrupt PKIX":       string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}})),
		"two keys":           opensslPub + opensslPub,
	}
	for name, in := range cases {
		if pub, err := ParsePublicKey([]byte(in)); !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: %x, %v: want ErrBadKey", name, pub, err)
		}
	}
	if _, err := MarshalPublicKeyPEM(make(ed25519.PublicKey, 31)); !errors.Is(err, ErrBadKey) {
		t.Errorf("MarshalPublicKeyPEM of 31 bytes: %v", err)
	}
}

func TestLoadPublicKey(t *testing.T) {
	dir := t.TempDir()
	pemPath, linePath := filepath.Join(dir, "a.pub"), filepath.Join(dir, "b.pub")
	k := testKey(t, 4)
	pemBytes, _ := MarshalPublicKeyPEM(k.Public())
	if err := os.WriteFile(pemPath, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(linePath, []byte(FormatPublicKey(k.Public())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{pemPath, linePath} {
		if pub, err := LoadPublicKey(p); err != nil || !pub.Equal(k.Public()) {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := LoadPublicKey(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

// Processes starting at once on one key file end up with one key: the
// file is created exclusively, and the losers load the winner's.
func TestLoadOrCreateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.key")
	const n = 8
	keys := make(chan ed25519.PublicKey, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			k, _, err := LoadOrCreate(path, nil)
			if err != nil {
				errs <- err
				return
			}
			keys <- k.Public()
		}()
	}
	var first ed25519.PublicKey
	for range n {
		select {
		case err := <-errs:
			t.Fatal(err)
		case k := <-keys:
			if first == nil {
				first = k
			} else if !k.Equal(first) {
				t.Fatal("two starts on one key file hold different keys")
			}
		}
	}
}
