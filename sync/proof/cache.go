package proof

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	gosync "sync"
)

// cacheTag starts what a cache entry hashes.
const cacheTag = "leviathan verified batch v1\x00"

// Verified remembers the last headers whose signatures it verified, so that
// a header that comes again (the rest of a batch cut across messages, the
// same push from several peers, a retransmission) costs a hash instead of
// a signature check. An entry names the key, the signed bytes and the
// signature together: a header verified under one key is verified again
// under another, and a header with another signature is checked on its
// own. It holds at most its capacity of entries, 32 bytes each, and
// forgets the oldest first. It is safe for concurrent use.
//
// Forgetting a key's entries when trust in the key is withdrawn is the
// caller's part: use a fresh cache (Reset) when the trusted keys change.
type Verified struct {
	mu   gosync.Mutex
	seen map[Hash]struct{}
	ring []Hash
	next int
}

// NewVerified returns a cache of at most capacity entries (at least 1).
func NewVerified(capacity int) *Verified {
	capacity = max(capacity, 1)
	return &Verified{seen: make(map[Hash]struct{}, capacity), ring: make([]Hash, 0, capacity)}
}

// Verify is s.Verify(pub), skipped when the cache holds the same header,
// signature and key already.
func (v *Verified) Verify(pub ed25519.PublicKey, s *Signed) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key of %d bytes", ErrBadSignature, len(pub))
	}
	msg, err := s.Message()
	if err != nil {
		return err
	}
	key := cacheKey(pub, msg, &s.Signature)
	v.mu.Lock()
	_, hit := v.seen[key]
	v.mu.Unlock()
	if hit {
		return nil
	}
	if err := s.Verify(pub); err != nil {
		return err
	}
	v.add(key)
	return nil
}

func (v *Verified) add(key Hash) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.seen[key]; ok {
		return
	}
	if len(v.ring) < cap(v.ring) {
		v.ring = append(v.ring, key)
	} else {
		delete(v.seen, v.ring[v.next])
		v.ring[v.next] = key
		v.next = (v.next + 1) % len(v.ring)
	}
	v.seen[key] = struct{}{}
}

// Len is the number of headers the cache holds.
func (v *Verified) Len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.seen)
}

// Reset forgets every entry.
func (v *Verified) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	clear(v.seen)
	v.ring = v.ring[:0]
	v.next = 0
}

// cacheKey names one (key, signed bytes, signature). The key and the
// signature are of fixed size, so the concatenation is unambiguous.
func cacheKey(pub ed25519.PublicKey, msg []byte, sig *[SignatureSize]byte) Hash {
	h := sha256.New()
	h.Write([]byte(cacheTag))
	h.Write(pub)
	h.Write(sig[:])
	h.Write(msg)
	var out Hash
	h.Sum(out[:0])
	return out
}
