package identity

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	"github.com/leviathan-gossip/leviathan/internal/canon"
)

// MaxRetiredKeys is how many retired keys a node record names at most.
const MaxRetiredKeys = 2

// maxRetiredBytes is the largest encoded retired-key list: an array of
// MaxRetiredKeys entries, each an array of the key and two integers in
// their longest form.
const maxRetiredBytes = 1 + MaxRetiredKeys*(1+(2+ed25519.PublicKeySize)+9+9)

// RetiredKey is a key that spoke for a node before its current one, as
// the node's record, signed by its current key, names it: proofs of the
// node's records that it signed at Generation, none of a version above
// Through, still stand for them. Nothing newer does, so a retired key
// that leaks forges nothing the node wrote after it retired the key.
type RetiredKey struct {
	PublicKey  ed25519.PublicKey
	Generation uint64
	Through    uint64 // the highest version the key may have signed
}

// Covers reports whether a proof that this retired key signed, of a
// batch at generation gen whose last version is last, stands.
func (k *RetiredKey) Covers(gen, last uint64) bool {
	return gen == k.Generation && last <= k.Through
}

// checkRetired bounds a record's retired keys: at most MaxRetiredKeys,
// each a public key, none the record's own key nor named twice.
func checkRetired(rs []RetiredKey, own ed25519.PublicKey) error {
	if len(rs) > MaxRetiredKeys {
		return fmt.Errorf("%d retired keys: at most %d", len(rs), MaxRetiredKeys)
	}
	for i, k := range rs {
		switch {
		case len(k.PublicKey) != ed25519.PublicKeySize:
			return fmt.Errorf("retired key %d of %d bytes", i, len(k.PublicKey))
		case k.PublicKey.Equal(own):
			return fmt.Errorf("retired key %d is the record's own key", i)
		}
		for _, o := range rs[:i] {
			if o.PublicKey.Equal(k.PublicKey) {
				return fmt.Errorf("retired key %d named twice", i)
			}
		}
	}
	return nil
}

// cloneRetired copies rs, nil when empty, so a record's list has one
// form.
func cloneRetired(rs []RetiredKey) []RetiredKey {
	if len(rs) == 0 {
		return nil
	}
	out := make([]RetiredKey, len(rs))
	for i, k := range rs {
		out[i] = RetiredKey{PublicKey: bytes.Clone(k.PublicKey), Generation: k.Generation, Through: k.Through}
	}
	return out
}

// appendRetired encodes rs: an array of [public key, generation,
// through] arrays.
func appendRetired(b []byte, rs []RetiredKey) []byte {
	b = append(b, 0x90|byte(len(rs))) // fixarray: at most MaxRetiredKeys
	for _, k := range rs {
		b = append(b, 0x93)
		b = canon.AppendBin(b, k.PublicKey)
		b = canon.AppendUint(b, k.Generation)
		b = canon.AppendUint(b, k.Through)
	}
	return b
}

// retired reads what appendRetired writes, 1 to MaxRetiredKeys entries.
func (r *reader) retired() []RetiredKey {
	h := r.byte()
	if r.err != nil {
		return nil
	}
	n := int(h) - 0x90
	if h&0xf0 != 0x90 || n < 1 || n > MaxRetiredKeys {
		r.fail("retired keys: not an array of 1 to %d (0x%02x)", MaxRetiredKeys, h)
		return nil
	}
	out := make([]RetiredKey, 0, n)
	for range n {
		if h := r.byte(); h != 0x93 {
			r.fail("retired key: not an array of 3 (0x%02x)", h)
			return nil
		}
		pub := ed25519.PublicKey(bytes.Clone(r.bin("retired key", ed25519.PublicKeySize)))
		out = append(out, RetiredKey{PublicKey: pub, Generation: r.uint("retired generation"), Through: r.uint("retired through")})
	}
	return out
}
