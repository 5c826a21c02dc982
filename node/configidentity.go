package node

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/leviathan-gossip/leviathan/sync/identity"
)

// identityKeys are the public keys of the identity config, decoded.
type identityKeys struct {
	cas     []ed25519.PublicKey
	pins    map[string][]ed25519.PublicKey
	revoked []ed25519.PublicKey
}

// validateIdentity adds the errors of the identity keys (key_file,
// cert_file, trusted_ca, trusted_keys, revoked_keys) to Validate's.
func (c Config) validateIdentity(bad func(field, format string, args ...any)) []error {
	if c.KeyFile == "" && c.CertFile == "" && len(c.TrustedCA) == 0 && len(c.TrustedKeys) == 0 && len(c.RevokedKeys) == 0 && !c.Signed {
		return nil
	}
	c.checkIdentityModes(bad)
	if c.KeyFile != "" {
		if msg := c.keyFileProblem(); msg != "" {
			bad("key_file", "%s", msg)
		}
	}
	if c.CertFile != "" {
		if _, err := identity.LoadCertificate(c.CertFile); err != nil {
			bad("cert_file", "%v", err)
		}
	}
	_, errs := c.decodeIdentityKeys()
	return errs
}

// checkIdentityModes reports keys set without the keys they need, and the
// two trust modes together.
func (c Config) checkIdentityModes(bad func(field, format string, args ...any)) {
	trustSet := len(c.TrustedCA) > 0 || len(c.TrustedKeys) > 0
	if c.KeyFile == "" {
		for _, k := range []struct {
			name string
			set  bool
		}{{"cert_file", c.CertFile != ""}, {"trusted_ca", len(c.TrustedCA) > 0}, {"trusted_keys", len(c.TrustedKeys) > 0}, {"revoked_keys", len(c.RevokedKeys) > 0}} {
			if k.set {
				bad(k.name, "needs key_file: a node without a key of its own has no identity to check others against")
			}
		}
	}
	if len(c.TrustedCA) > 0 && len(c.TrustedKeys) > 0 {
		bad("trusted_keys", "set together with trusted_ca: keys are trusted by a CA or by pins, not both")
	}
	if c.CertFile != "" && len(c.TrustedCA) == 0 {
		bad("cert_file", "needs trusted_ca, the CA keys that certificates are checked against (pinned keys need no certificate)")
	}
	if c.KeyFile != "" && len(c.TrustedCA) > 0 && c.CertFile == "" {
		bad("cert_file", "must be set with trusted_ca: peers trust this node's key only by its certificate (peer ca sign)")
	}
	if len(c.RevokedKeys) > 0 && !trustSet {
		bad("revoked_keys", "needs trusted_ca or trusted_keys: without them no key is trusted to begin with")
	}
	switch {
	case c.Signed && c.KeyFile == "":
		bad("signed", "needs key_file: a node signs its record with its own key")
	case c.Signed && !trustSet:
		bad("signed", "needs trusted_ca or trusted_keys: peers' records are checked against them")
	}
}

// keyFileProblem explains why key_file cannot be used, or returns "": it
// must not be within data_dir, which an operator may wipe to make a node
// start afresh, and the identity must outlive that. Both paths are made
// absolute and their directories' symbolic links resolved, so that
// neither a relative path nor a link hides that one is in the other.
func (c Config) keyFileProblem() string {
	if c.InMemory || c.DataDir == "" {
		return ""
	}
	keyAbs, err := filepath.Abs(c.KeyFile)
	if err != nil {
		return err.Error()
	}
	dataAbs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return err.Error()
	}
	// The key file's own name is not resolved: a link in data_dir that
	// points elsewhere is still wiped with data_dir, and the next start
	// would create a new key in its place.
	keyReal := filepath.Join(resolveExisting(filepath.Dir(keyAbs)), filepath.Base(keyAbs))
	dataReal := resolveExisting(dataAbs)
	if within(keyAbs, dataAbs) || within(keyReal, dataReal) {
		return fmt.Sprintf("%s is inside data_dir %s: keep the key apart, so that wiping the data keeps the node's identity", c.KeyFile, dataAbs)
	}
	return ""
}

// resolveExisting resolves the symbolic links of the longest part of the
// absolute path p that exists, and appends the rest: a key file or data
// directory need not exist before the first start.
func resolveExisting(p string) string {
	dir, rest := p, ""
	for {
		if r, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return p
		}
		rest = filepath.Join(filepath.Base(dir), rest)
		dir = parent
	}
}

// within reports whether path is dir or inside it; both are absolute.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// decodeIdentityKeys decodes trusted_ca, trusted_keys and revoked_keys.
// Each error names the key (and index or id) at fault; no key's text is
// echoed, in case a private key was pasted by mistake.
func (c Config) decodeIdentityKeys() (identityKeys, []error) {
	var out identityKeys
	var errs []error
	for i, s := range c.TrustedCA {
		pub, err := caKey(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("trusted_ca[%d]: %v", i, err))
			continue
		}
		out.cas = append(out.cas, pub)
	}
	if len(c.TrustedKeys) > 0 {
		out.pins = make(map[string][]ed25519.PublicKey, len(c.TrustedKeys))
	}
	ids := make([]string, 0, len(c.TrustedKeys))
	for id := range c.TrustedKeys {
		ids = append(ids, id)
	}
	sort.Strings(ids) // the same report every time
	for _, id := range ids {
		field := fmt.Sprintf("trusted_keys.%q", id)
		switch keys := c.TrustedKeys[id]; {
		case id == "" || len(id) > identity.MaxIDBytes:
			errs = append(errs, fmt.Errorf("%s: a node id is 1 to %d bytes, not %d", field, identity.MaxIDBytes, len(id)))
		case len(keys) == 0:
			errs = append(errs, fmt.Errorf("%s: no key pinned; list at least one", field))
		default:
			for j, s := range keys {
				pub, err := base64Key(s)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s[%d]: %v", field, j, err))
					continue
				}
				out.pins[id] = append(out.pins[id], pub)
			}
		}
	}
	for i, s := range c.RevokedKeys {
		pub, err := base64Key(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("revoked_keys[%d]: %v", i, err))
			continue
		}
		out.revoked = append(out.revoked, pub)
	}
	return out, errs
}

// base64Key decodes a public key written as `peer key pub -base64`
// prints it.
func base64Key(s string) (ed25519.PublicKey, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("not base64 (`peer key pub -base64` prints a key in this form)")
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("decodes to %d bytes; an ed25519 public key is %d", len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// caKey decodes a trusted_ca entry: the base64 of a key, or else the path
// of a public key file (PEM, as `peer ca init` writes ca.pub, or base64).
func caKey(s string) (ed25519.PublicKey, error) {
	raw, b64Err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if b64Err == nil && len(raw) == ed25519.PublicKeySize {
		return ed25519.PublicKey(raw), nil
	}
	pub, err := identity.LoadPublicKey(s)
	switch {
	case err == nil:
		return pub, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	case b64Err == nil:
		return nil, fmt.Errorf("decodes to %d bytes (an ed25519 public key is %d), and no file has that name", len(raw), ed25519.PublicKeySize)
	}
	return nil, fmt.Errorf("neither the base64 of a public key nor an existing file: %v", err)
}
