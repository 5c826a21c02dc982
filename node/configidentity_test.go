package node

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/sync/identity"
)

// idKey derives an identity key from seed: the same keys every run.
func idKey(t testing.TB, seed byte) *identity.Key {
	t.Helper()
	k, err := identity.Generate(bytes.NewReader(bytes.Repeat([]byte{seed}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// identityFiles are the files of an identity config in a temporary
// directory: a CA's public key (PEM), a certificate of id n1 by it, and
// files that are neither.
type identityFiles struct {
	dir, caPub, cert, notKey string
	ca, node                 *identity.Key
}

func writeIdentityFiles(t *testing.T) identityFiles {
	t.Helper()
	f := identityFiles{dir: t.TempDir(), ca: idKey(t, 1), node: idKey(t, 2)}
	pem, err := identity.MarshalPublicKeyPEM(f.ca.Public())
	if err != nil {
		t.Fatal(err)
	}
	f.caPub = writeFile(t, f.dir, "ca.pub", pem)
	f.cert = writeFile(t, f.dir, "n1.crt", issuePEM(t, f.ca, "n1", f.node.Public(), time.Now().Add(time.Hour)))
	f.notKey = writeFile(t, f.dir, "not-a-key", []byte("hello\n"))
	return f
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// issuePEM signs a certificate file's bytes.
func issuePEM(t *testing.T, ca *identity.Key, id string, pub ed25519.PublicKey, notAfter time.Time) []byte {
	t.Helper()
	c, err := identity.IssueCertificate(ca, id, pub, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return identity.EncodeCertificatePEM(b)
}

func b64(k *identity.Key) string { return identity.FormatPublicKey(k.Public()) }

// TestConfigIdentityKeys: the identity keys, valid and not; each error
// names the key at fault and wraps ErrConfig.
func TestConfigIdentityKeys(t *testing.T) {
	f := writeIdentityFiles(t)
	ca, n1, n2 := b64(f.ca), b64(f.node), b64(idKey(t, 3))
	short := identity.FormatPublicKey(f.ca.Public()[:31])
	key := fmt.Sprintf("key_file = %q\n", filepath.Join(f.dir, "keys", "node.key"))
	data := fmt.Sprintf("data_dir = %q\n", filepath.Join(f.dir, "data"))
	tests := []struct {
		name, toml string
		want       []string // each must appear in the error; nil: valid
	}{
		{"none", ``, nil},
		{"key alone", key + data, nil},
		{"CA by base64", key + data + fmt.Sprintf("cert_file = %q\ntrusted_ca = [%q]", f.cert, ca), nil},
		{"CA by PEM file, and a second", key + data + fmt.Sprintf("cert_file = %q\ntrusted_ca = [%q, %q]", f.cert, f.caPub, n2), nil},
		{"pins, a table", key + data + fmt.Sprintf("[trusted_keys]\nn1 = [%q, %q]\n\"10.0.0.2:7946\" = [%q]", n1, n2, ca), nil},
		{"pins inline, with revoked", key + data + fmt.Sprintf("revoked_keys = [%q]\ntrusted_keys = { n1 = [%q] }", n2, n1), nil},
		{"CA with revoked", key + data + fmt.Sprintf("cert_file = %q\ntrusted_ca = [%q]\nrevoked_keys = [%q]", f.cert, ca, n2), nil},
		{"signed with pins", key + data + fmt.Sprintf("signed = true\ntrusted_keys = { n1 = [%q] }", n1), nil},
		{"signed with a CA", key + data + fmt.Sprintf("signed = true\ncert_file = %q\ntrusted_ca = [%q]", f.cert, ca), nil},
		{"signed without key", "signed = true", []string{"signed: needs key_file"}},
		{"signed without trust", key + data + "signed = true", []string{"signed: needs trusted_ca or trusted_keys"}},

		{"cert without key", fmt.Sprintf("cert_file = %q\ntrusted_ca = [%q]", f.cert, ca), []string{"cert_file: needs key_file", "trusted_ca: needs key_file"}},
		{"pins without key", fmt.Sprintf("trusted_keys = { n1 = [%q] }", n1), []string{"trusted_keys: needs key_file"}},
		{"revoked without key", fmt.Sprintf("revoked_keys = [%q]", n1), []string{"revoked_keys: needs key_file"}},
		{"CA and pins", key + data + fmt.Sprintf("cert_file = %q\ntrusted_ca = [%q]\ntrusted_keys = { n1 = [%q] }", f.cert, ca, n1),
			[]string{"trusted_keys: set together with trusted_ca"}},
		{"cert without CA", key + data + fmt.Sprintf("cert_file = %q", f.cert), []string{"cert_file: needs trusted_ca"}},
		{"cert with pins", key + data + fmt.Sprintf("cert_file = %q\ntrusted_keys = { n1 = [%q] }", f.cert, n1), []string{"cert_file: needs trusted_ca", "pinned keys need no certificate"}},
		{"CA without cert", key + data + fmt.Sprintf("trusted_ca = [%q]", ca), []string{"cert_file: must be set with trusted_ca"}},
		{"revoked without trust", key + data + fmt.Sprintf("revoked_keys = [%q]", n1), []string{"revoked_keys: needs trusted_ca or trusted_keys"}},
		{"cert file missing", key + data + fmt.Sprintf("cert_file = %q\ntrusted_ca = [%q]", filepath.Join(f.dir, "none.crt"), ca), []string{"cert_file:", "none.crt", "no such file"}},
		{"cert file not a certificate", key + data + fmt.Sprintf("cert_file = %q\ntrusted_ca = [%q]", f.caPub, ca), []string{"cert_file:", "malformed certificate"}},
		{"CA neither base64 nor file", key + data + fmt.Sprintf("cert_file = %q\ntrusted_ca = [%q, %q]", f.cert, ca, "ca/none.pub"),
			[]string{"trusted_ca[1]: neither the base64 of a public key nor an existing file", "ca/none.pub"}},
		{"CA base64 of 31 bytes", key + data + fmt.Sprintf("cert_file = %q\ntrusted_ca = [%q]", f.cert, short), []string{"trusted_ca[0]: decodes to 31 bytes"}},
		{"CA file not a key", key + data + fmt.Sprintf("cert_file = %q\ntrusted_ca = [%q]", f.cert, f.notKey), []string{"trusted_ca[0]:", "not-a-key", "not an ed25519 key"}},
		{"CA not a list", key + data + fmt.Sprintf("cert_file = %q\ntrusted_ca = %q", f.cert, ca), []string{"trusted_ca", "want a list of strings"}},
		{"pin not base64", key + data + `trusted_keys = { n1 = ["not base64!"] }`, []string{`trusted_keys."n1"[0]: not base64`}},
		{"pin of 31 bytes", key + data + fmt.Sprintf("trusted_keys = { n1 = [%q, %q] }", n1, short), []string{`trusted_keys."n1"[1]: decodes to 31 bytes`}},
		{"pin list empty", key + data + "trusted_keys = { n1 = [] }", []string{`trusted_keys."n1": no key pinned`}},
		{"pin of an empty id", key + data + fmt.Sprintf("trusted_keys = { \"\" = [%q] }", n1), []string{`trusted_keys."": a node id is 1 to 255 bytes`}},
		{"pin of a long id", key + data + fmt.Sprintf("trusted_keys = { %q = [%q] }", strings.Repeat("x", 256), n1), []string{"a node id is 1 to 255 bytes, not 256"}},
		{"pins not a table", key + data + fmt.Sprintf("trusted_keys = [%q]", n1), []string{"trusted_keys", "want a table"}},
		{"pin not a list", key + data + fmt.Sprintf("trusted_keys = { n1 = %q }", n1), []string{`trusted_keys: "n1": a string; want a list of strings`}},
		{"pin not a string", key + data + "trusted_keys = { n1 = [1] }", []string{`trusted_keys: "n1": an item is an integer; want a list of strings`}},
		{"revoked not base64", key + data + fmt.Sprintf("trusted_keys = { n1 = [%q] }\nrevoked_keys = [%q, \"AAAA\"]", n1, n2), []string{"revoked_keys[1]: decodes to 3 bytes"}},
		{"every problem at once", key + data + fmt.Sprintf("trusted_keys = { n1 = [\"?\"], n2 = [] }\nrevoked_keys = [\"!\"]\ncert_file = %q", f.cert),
			[]string{`trusted_keys."n1"[0]`, `trusted_keys."n2"`, "revoked_keys[0]", "cert_file: needs trusted_ca"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig(tt.toml, "test")
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if _, errs := cfg.decodeIdentityKeys(); len(errs) > 0 {
					t.Fatalf("validated keys do not decode: %v", errs)
				}
				return
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error does not wrap ErrConfig: %v", err)
			}
			mentions(t, err, tt.want)
			// A type error echoes a value, as for every key (trusted_ca's
			// are public); a key in a list or table is never echoed.
			for _, k := range []string{n1[:12], n2[:12], short} {
				if strings.Contains(err.Error(), k) {
					t.Errorf("the error echoes a key: %v", err)
				}
			}
		})
	}
}

// TestConfigKeyFileOutsideDataDir: key_file is refused inside data_dir,
// however the paths are spelt: relative, through .., or through a
// symbolic link of either directory.
func TestConfigKeyFileOutsideDataDir(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	for _, d := range []string{data, filepath.Join(dir, "keys")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// A link to the data directory, and a data directory that is a link.
	mustSymlink(t, data, filepath.Join(dir, "to-data"))
	mustSymlink(t, filepath.Join(dir, "keys"), filepath.Join(dir, "linked-data"))
	// A key file that is a link, in data_dir, to a file outside it: wiped
	// with data_dir all the same.
	mustSymlink(t, filepath.Join(dir, "keys", "node.key"), filepath.Join(data, "link.key"))
	t.Chdir(dir)
	tests := []struct {
		name, keyFile, dataDir string
		inMemory, inside       bool
	}{
		{"apart", "keys/node.key", "data", false, false},
		{"inside, relative", "data/node.key", "data", false, true},
		{"inside, absolute", filepath.Join(data, "node.key"), "data", false, true},
		{"inside, deeper and not yet made", "data/id/node.key", "data", false, true},
		{"the data directory itself", "data", "data", false, true},
		{"inside, through ..", "keys/../data/node.key", "data", false, true},
		{"out, through ..", "data/../keys/node.key", "data", false, false},
		{"a sibling that shares the prefix", "data-keys/node.key", "data", false, false},
		{"inside, through a link to data_dir", "to-data/node.key", "data", false, true},
		{"data_dir a link to the key's directory", "keys/node.key", "linked-data", false, true},
		{"a link in data_dir to a key outside", "data/link.key", "data", false, true},
		{"in memory: no data_dir to wipe", "data/node.key", "data", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := fmt.Sprintf("key_file = %q\ndata_dir = %q\nin_memory = %v", tt.keyFile, tt.dataDir, tt.inMemory)
			_, err := ParseConfig(text, "test")
			if !tt.inside {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("%v does not wrap ErrConfig", err)
			}
			mentions(t, err, []string{"key_file: " + tt.keyFile + " is inside data_dir", "wiping the data keeps the node's identity"})
		})
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
}

// TestConfigIdentityEnv: the identity keys from the environment, a
// table as an inline TOML table.
func TestConfigIdentityEnv(t *testing.T) {
	f := writeIdentityFiles(t)
	ca, n1, n2 := b64(f.ca), b64(f.node), b64(idKey(t, 3))
	keyFile := filepath.Join(f.dir, "keys", "node.key")
	tests := []struct {
		name  string
		env   map[string]string
		check func(Config) bool
		want  []string // the error's; nil: valid
	}{
		{"CA mode", map[string]string{"LEVIATHAN_KEY_FILE": keyFile, "LEVIATHAN_CERT_FILE": f.cert, "LEVIATHAN_TRUSTED_CA": ca + ", " + f.caPub},
			func(c Config) bool {
				return c.KeyFile == keyFile && c.CertFile == f.cert && len(c.TrustedCA) == 2 && c.TrustedCA[1] == f.caPub
			}, nil},
		{"pins as an inline table, revoked as a list", map[string]string{"LEVIATHAN_KEY_FILE": keyFile,
			"LEVIATHAN_TRUSTED_KEYS": fmt.Sprintf(`{ n1 = [%q, %q], "n-2" = [%q] }`, n1, n2, n2), "LEVIATHAN_REVOKED_KEYS": n2},
			func(c Config) bool {
				return len(c.TrustedKeys) == 2 && len(c.TrustedKeys["n1"]) == 2 && c.TrustedKeys["n-2"][0] == n2 && c.RevokedKeys[0] == n2
			}, nil},
		{"pins not a table", map[string]string{"LEVIATHAN_KEY_FILE": keyFile, "LEVIATHAN_TRUSTED_KEYS": "n1=" + n1},
			nil, []string{"LEVIATHAN_TRUSTED_KEYS", "want a table"}},
		{"a bad pin names the variable", map[string]string{"LEVIATHAN_KEY_FILE": keyFile, "LEVIATHAN_TRUSTED_KEYS": `{ n1 = ["AAAA"] }`},
			nil, []string{`LEVIATHAN_TRUSTED_KEYS."n1"[0]: decodes to 3 bytes`}},
		{"a bad CA names the variable", map[string]string{"LEVIATHAN_KEY_FILE": keyFile, "LEVIATHAN_CERT_FILE": f.cert, "LEVIATHAN_TRUSTED_CA": "AAAA"},
			nil, []string{"LEVIATHAN_TRUSTED_CA[0]: decodes to 3 bytes"}},
		{"key file in data_dir", map[string]string{"LEVIATHAN_KEY_FILE": filepath.Join(f.dir, "data", "node.key"), "LEVIATHAN_DATA_DIR": filepath.Join(f.dir, "data")},
			nil, []string{"LEVIATHAN_KEY_FILE: ", "inside data_dir"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadWithEnv(t, "", tt.env)
			if tt.want != nil {
				if !errors.Is(err, ErrConfig) {
					t.Errorf("%v does not wrap ErrConfig", err)
				}
				mentions(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(cfg) {
				t.Errorf("env %v not applied: %+v", tt.env, cfg)
			}
		})
	}
}
