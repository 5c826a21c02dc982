package identity

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Trust errors. Every error Check returns is ErrUntrusted, and one of the
// others (or ErrMalformed, ErrUnknownCA, ErrBadSignature) says why.
var (
	ErrUntrusted = errors.New("identity: key not trusted")
	// ErrNoCertificate: a CA trust was shown no certificate.
	ErrNoCertificate = errors.New("identity: no certificate")
	// ErrUnknownID: no key is pinned for the id.
	ErrUnknownID = errors.New("identity: no key pinned for the id")
	// ErrWrongID: a valid certificate, of another node.
	ErrWrongID = errors.New("identity: certificate of another id")
	// ErrWrongKey: a certificate or pin of the id, for another key.
	ErrWrongKey = errors.New("identity: key not the id's")
	// ErrExpired: a valid certificate, past its not-after.
	ErrExpired = errors.New("identity: certificate expired")
	// ErrRevoked: a key the trust was told never to accept again.
	ErrRevoked = errors.New("identity: key revoked")
)

// Trust decides which public keys speak for which node ids: either those
// a trusted CA certified (NewCATrust), or those the config pins
// (NewPinnedTrust). It is immutable, so safe for concurrent use.
type Trust struct {
	cas     map[KeyID]ed25519.PublicKey    // CA mode: the CA keys
	pins    map[string][]ed25519.PublicKey // pinned mode: id → its keys
	revoked map[KeyID]bool
}

// NewCATrust trusts the keys that certificates of the CA key caPub, or of
// any of more (for a CA rotation), certify.
func NewCATrust(caPub ed25519.PublicKey, more ...ed25519.PublicKey) (*Trust, error) {
	t := &Trust{cas: make(map[KeyID]ed25519.PublicKey)}
	for i, pub := range append([]ed25519.PublicKey{caPub}, more...) {
		if len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("identity: CA key %d: %w: %d bytes", i, ErrBadKey, len(pub))
		}
		t.cas[IDOf(pub)] = slices.Clone(pub)
	}
	return t, nil
}

// NewPinnedTrust trusts, for each id, the keys listed for it: several
// during a key rotation. An id not listed has no key it trusts.
func NewPinnedTrust(pins map[string][]ed25519.PublicKey) (*Trust, error) {
	t := &Trust{pins: make(map[string][]ed25519.PublicKey, len(pins))}
	for id, keys := range pins {
		if id == "" || len(id) > MaxIDBytes {
			return nil, fmt.Errorf("identity: pinned id of %d bytes: want 1 to %d", len(id), MaxIDBytes)
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("identity: no key pinned for %q", id)
		}
		for i, pub := range keys {
			if len(pub) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("identity: key %d pinned for %q: %w: %d bytes", i, id, ErrBadKey, len(pub))
			}
			t.pins[id] = append(t.pins[id], slices.Clone(pub))
		}
	}
	return t, nil
}

// WithRevoked returns a copy of t that refuses keys, whatever certifies or
// pins them: how a CA trust drops a stolen key before its certificate
// expires.
func (t *Trust) WithRevoked(keys ...ed25519.PublicKey) *Trust {
	c := *t
	c.revoked = maps.Clone(t.revoked)
	if c.revoked == nil {
		c.revoked = make(map[KeyID]bool, len(keys))
	}
	for _, k := range keys {
		c.revoked[IDOf(k)] = true
	}
	return &c
}

// Revoked reports whether the trust refuses pub whatever certifies or
// pins it (WithRevoked).
func (t *Trust) Revoked(pub ed25519.PublicKey) bool { return t.revoked[IDOf(pub)] }

// Check reports whether pub speaks for node id at time now: nil, or an
// error that is ErrUntrusted and says why. A CA trust checks cert, the
// encoded certificate the node presented; a pinned trust ignores it.
// A certificate is valid up to and including its NotAfter second.
func (t *Trust) Check(id string, pub ed25519.PublicKey, cert []byte, now time.Time) error {
	_, err := t.checkUntil(id, pub, cert, now)
	return err
}

// checkUntil is Check that also says until when its answer holds: the
// certificate's NotAfter, or the zero time when only the Trust itself
// could change it (a pin).
func (t *Trust) checkUntil(id string, pub ed25519.PublicKey, cert []byte, now time.Time) (time.Time, error) {
	until, err := t.check(id, pub, cert, now)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %q: %w", ErrUntrusted, id, err)
	}
	return until, nil
}

func (t *Trust) check(id string, pub ed25519.PublicKey, cert []byte, now time.Time) (time.Time, error) {
	if len(pub) != ed25519.PublicKeySize {
		return time.Time{}, fmt.Errorf("%w: public key of %d bytes", ErrBadKey, len(pub))
	}
	if t.revoked[IDOf(pub)] {
		return time.Time{}, fmt.Errorf("%w: %s", ErrRevoked, IDOf(pub))
	}
	if t.cas == nil {
		return time.Time{}, t.checkPinned(id, pub)
	}
	return t.checkCertificate(id, pub, cert, now)
}

func (t *Trust) checkPinned(id string, pub ed25519.PublicKey) error {
	keys, ok := t.pins[id]
	if !ok {
		return ErrUnknownID
	}
	for _, k := range keys {
		if k.Equal(pub) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not among the %d pinned", ErrWrongKey, IDOf(pub), len(keys))
}

// checkCertificate believes nothing a certificate says before its
// signature verifies. It returns the certificate's NotAfter.
func (t *Trust) checkCertificate(id string, pub ed25519.PublicKey, cert []byte, now time.Time) (time.Time, error) {
	if len(cert) == 0 {
		return time.Time{}, ErrNoCertificate
	}
	c, err := ParseCertificate(cert)
	if err != nil {
		return time.Time{}, err
	}
	ca, ok := t.cas[c.CA]
	if !ok {
		return time.Time{}, fmt.Errorf("%w: %s", ErrUnknownCA, c.CA)
	}
	if err := c.Verify(ca); err != nil {
		return time.Time{}, err
	}
	switch {
	case c.ID != id:
		return time.Time{}, fmt.Errorf("%w: certifies %q", ErrWrongID, c.ID)
	case !c.PublicKey.Equal(pub):
		return time.Time{}, fmt.Errorf("%w: certifies %s, not %s", ErrWrongKey, IDOf(c.PublicKey), IDOf(pub))
	case now.Unix() > c.NotAfter.Unix():
		return time.Time{}, fmt.Errorf("%w: at %s", ErrExpired, c.NotAfter.Format(time.RFC3339))
	}
	return c.NotAfter, nil
}
