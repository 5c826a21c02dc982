package node

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/transport"
)

// identityNode builds (but does not start) node n1 on an in-memory
// network, with cfgEdit applied to its config.
func identityNode(t *testing.T, cfgEdit func(*Config), opts ...Option) (*Node, error) {
	t.Helper()
	tr, err := transport.NewMemNetwork(1).Listen("mem-1:1", 1400, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig("alias-1")
	cfg.ID = "n1"
	cfgEdit(&cfg)
	n, err := New(cfg, append([]Option{WithTransport(tr), WithLogger(testLogger(t))}, opts...)...)
	if err != nil {
		_ = tr.Close()
		return nil, err
	}
	t.Cleanup(func() { _ = n.Close() })
	return n, nil
}

// createKey writes the key of seed to path, as a first start would.
func createKey(t *testing.T, path string, seed byte) *identity.Key {
	t.Helper()
	k, err := identity.Create(path, bytes.NewReader(bytes.Repeat([]byte{seed}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestIdentityKeyFile: key_file is created on first start and loaded
// after; its key id is in Identity, Status and the startup log, and
// nothing of the private key is logged.
func TestIdentityKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "node.key")
	var logs bytes.Buffer
	logger := zerolog.New(&logs).Level(zerolog.InfoLevel)
	first, err := identityNode(t, func(c *Config) { c.KeyFile = path }, WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	key, err := identity.Load(path) // refuses a file others can read
	if err != nil {
		t.Fatal(err)
	}
	id := first.Identity()
	switch {
	case id == nil:
		t.Fatal("no identity")
	case id.KeyID != key.ID().String() || !id.PublicKey.Equal(key.Public()):
		t.Fatalf("identity %s, the key file's %s", id.KeyID, key.ID())
	case !id.CertificateExpiry.IsZero():
		t.Errorf("certificate expiry %v without a certificate", id.CertificateExpiry)
	case first.Status().KeyID != id.KeyID:
		t.Errorf("status key id %q, want %q", first.Status().KeyID, id.KeyID)
	case !first.ident.created:
		t.Error("the first start does not say it created the key")
	}
	id.PublicKey[0] ^= 1 // a copy: the node's key is untouched
	if !first.Identity().PublicKey.Equal(key.Public()) {
		t.Error("Identity returned the node's own public key slice")
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	again, err := identityNode(t, func(c *Config) { c.KeyFile = path })
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Identity().KeyID; got != key.ID().String() || again.ident.created {
		t.Errorf("restart: key %s (created %v), want the same key %s loaded", got, again.ident.created, key.ID())
	}

	out := logs.String()
	for _, want := range []string{`"message":"node identity"`, `"key_id":"` + key.ID().String() + `"`, `"created":true`, `"trust":"none"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log does not have %s:\n%s", want, out)
		}
	}
	started := false
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `"message":"node started"`) {
			started = strings.Contains(line, `"key_id":"`+key.ID().String()+`"`)
		}
	}
	if !started {
		t.Errorf("the startup line does not name the key:\n%s", out)
	}
	pemKey, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The PEM body is PKCS#8's header and then the private seed.
	body := strings.Join(strings.Split(strings.TrimSpace(string(pemKey)), "\n")[1:2], "")
	for _, secret := range []string{body, body[len(body)-32:], base64.StdEncoding.EncodeToString(key.MarshalPEM())[:32]} {
		if strings.Contains(out, secret) {
			t.Fatalf("the log holds the private key:\n%s", out)
		}
	}

	none, err := identityNode(t, func(*Config) {})
	if err != nil {
		t.Fatal(err)
	}
	if none.Identity() != nil || none.Status().KeyID != "" {
		t.Errorf("identity %+v, status key id %q without key_file", none.Identity(), none.Status().KeyID)
	}
}

// TestIdentityStartedRecord: the node signs its record at start, with its
// id, address, alias, generation and certificate, verifiable by a peer's
// trust; the seq rises with each start.
func TestIdentityStartedRecord(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "node.key")
	ca := idKey(t, 1)
	key := createKey(t, keyPath, 2)
	notAfter := time.Now().Add(time.Hour).Truncate(time.Second)
	certPath := writeFile(t, dir, "n1.crt", issuePEM(t, ca, "n1", key.Public(), notAfter))
	caConfig := func(c *Config) {
		c.KeyFile, c.CertFile, c.TrustedCA = keyPath, certPath, []string{b64(ca)}
	}
	n, err := identityNode(t, caConfig)
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Identity().CertificateExpiry; !got.Equal(notAfter) {
		t.Errorf("certificate expiry %v, want %v", got, notAfter)
	}
	rec, err := identity.ParseNodeRecord(n.ident.recordBytes)
	if err != nil {
		t.Fatal(err)
	}
	st := n.Status()
	cert, err := identity.LoadCertificate(certPath)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case rec.ID != "n1" || rec.Addr != "mem-1:1" || rec.Alias != "alias-1":
		t.Errorf("record of %q at %q alias %q", rec.ID, rec.Addr, rec.Alias)
	case rec.Generation != st.Generation || rec.Generation == 0:
		t.Errorf("record generation %d, node's %d", rec.Generation, st.Generation)
	case !rec.PublicKey.Equal(key.Public()) || !bytes.Equal(rec.Certificate, cert):
		t.Error("record key or certificate not the node's")
	}
	peerTrust, err := identity.NewCATrust(ca.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Verify(peerTrust, time.Now()); err != nil {
		t.Fatalf("a peer refuses the record: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	later, err := identityNode(t, caConfig, WithClock(aheadClock{time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	if later.ident.record.Seq <= rec.Seq {
		t.Errorf("seq %d after a restart, not above %d", later.ident.record.Seq, rec.Seq)
	}

	pinned, err := identityNode(t, func(c *Config) {
		c.KeyFile, c.TrustedKeys = keyPath, map[string][]string{"n1": {b64(key)}, "n2": {b64(ca)}}
	})
	if err != nil {
		t.Fatal(err)
	}
	if pinned.ident.record.Certificate != nil || pinned.Identity().CertificateExpiry != (time.Time{}) {
		t.Error("a pinned node presents a certificate")
	}
	if err := pinned.ident.record.Verify(pinned.ident.cache, time.Now()); err != nil {
		t.Error(err)
	}
}

// TestIdentityStartRefused: a node does not start with an identity its
// own config, which its peers share, refuses, nor with its key in
// data_dir or a key file that is not a private one.
func TestIdentityStartRefused(t *testing.T) {
	dir := t.TempDir()
	ca, rogueCA, other := idKey(t, 1), idKey(t, 5), idKey(t, 3)
	keyPath := filepath.Join(dir, "node.key")
	key := createKey(t, keyPath, 2)
	hour := time.Now().Add(time.Hour)
	cert := func(signer *identity.Key, id string, pub ed25519.PublicKey, notAfter time.Time) string {
		return writeFile(t, t.TempDir(), "node.crt", issuePEM(t, signer, id, pub, notAfter))
	}
	caMode := func(certPath string) func(*Config) {
		return func(c *Config) { c.KeyFile, c.CertFile, c.TrustedCA = keyPath, certPath, []string{b64(ca)} }
	}
	openKey := writeFile(t, dir, "open.key", key.MarshalPEM())
	if err := os.Chmod(openKey, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		edit   func(*Config)
		clock  Clock
		target error // errors.Is must hold
		want   []string
	}{
		{"certificate of another id", caMode(cert(ca, "n2", key.Public(), hour)), nil, identity.ErrWrongID,
			[]string{"cert_file is not valid for this node", `id "n1"`, key.ID().String()}},
		{"certificate of another key", caMode(cert(ca, "n1", other.Public(), hour)), nil, identity.ErrWrongKey, []string{"cert_file"}},
		{"certificate expired", caMode(cert(ca, "n1", key.Public(), hour)), aheadClock{2 * time.Hour}, identity.ErrExpired, []string{"cert_file", "expired"}},
		{"certificate of another CA", caMode(cert(rogueCA, "n1", key.Public(), hour)), nil, identity.ErrUnknownCA, []string{"cert_file"}},
		{"own key revoked, CA", func(c *Config) {
			caMode(cert(ca, "n1", key.Public(), hour))(c)
			c.RevokedKeys = []string{b64(key)}
		}, nil, identity.ErrRevoked, []string{"cert_file"}},
		{"own key not pinned", func(c *Config) {
			c.KeyFile, c.TrustedKeys = keyPath, map[string][]string{"n1": {b64(other)}}
		}, nil, identity.ErrWrongKey, []string{"trusted_keys does not pin this node's key", b64(key)}},
		{"own id not pinned", func(c *Config) {
			c.KeyFile, c.TrustedKeys = keyPath, map[string][]string{"n2": {b64(key)}}
		}, nil, identity.ErrUnknownID, []string{`for its id "n1"`, b64(key)}},
		{"own key revoked, pinned", func(c *Config) {
			c.KeyFile, c.TrustedKeys, c.RevokedKeys = keyPath, map[string][]string{"n1": {b64(key)}}, []string{b64(key)}
		}, nil, identity.ErrRevoked, []string{"revoked_keys lists this node's own key"}},
		{"key file in data_dir", func(c *Config) {
			c.InMemory, c.DataDir, c.KeyFile = false, filepath.Join(dir, "data"), filepath.Join(dir, "data", "node.key")
		}, nil, ErrConfig, []string{"key_file", "inside data_dir"}},
		{"key file others can read", func(c *Config) { c.KeyFile = openKey }, nil, identity.ErrKeyPermissions, []string{"key_file", "chmod 600"}},
		{"key file not a key", func(c *Config) { c.KeyFile = cert(ca, "n1", key.Public(), hour) }, nil, identity.ErrBadKey, []string{"key_file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []Option
			if tt.clock != nil {
				opts = append(opts, WithClock(tt.clock))
			}
			n, err := identityNode(t, tt.edit, opts...)
			if err == nil {
				t.Fatalf("started with key %s", n.Identity().KeyID)
			}
			if !errors.Is(err, tt.target) {
				t.Errorf("%v is not %v", err, tt.target)
			}
			if tt.target != identity.ErrKeyPermissions && tt.target != identity.ErrBadKey && !errors.Is(err, ErrConfig) {
				t.Errorf("%v does not wrap ErrConfig", err)
			}
			mentions(t, err, tt.want)
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "node.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused key_file was created: %v", err)
	}
}
