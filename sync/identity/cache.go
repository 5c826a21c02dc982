package identity

import (
	"container/list"
	"crypto/ed25519"
	"crypto/sha256"
	"sync"
	"time"
)

// DefaultTrustCacheSize is NewTrustCache's bound when given none.
const DefaultTrustCacheSize = 4096

// TrustCache is a Checker that remembers which (id, key) pairs its Trust
// accepted, so that a certificate (about 100 µs to check) is checked once
// per pair rather than with every signed message. An answer is kept until
// its certificate expires; a pinned answer as long as it stays in the
// cache. Only acceptances are kept, and only for the exact certificate
// checked: a message showing the same key with another certificate is
// checked afresh, and its refusal leaves the cached acceptance alone. The
// cache holds at most its bound of pairs, dropping the least recently
// used: the network can name any number of ids. It is safe for
// concurrent use.
type TrustCache struct {
	trust *Trust
	limit int

	mu           sync.Mutex
	entries      map[trustKey]*list.Element // of *trustEntry
	lru          list.List                  // front: the most recently used
	hits, misses uint64
}

type trustKey struct {
	id  string
	pub [ed25519.PublicKeySize]byte
}

type trustEntry struct {
	key trustKey
	// cert is the SHA-256 of the certificate checked (zero for a pinned
	// trust, which ignores certificates).
	cert  [sha256.Size]byte
	until time.Time // the certificate's NotAfter; zero: none
}

// NewTrustCache caches trust's answers for at most limit (id, key) pairs
// (DefaultTrustCacheSize when limit < 1).
func NewTrustCache(trust *Trust, limit int) *TrustCache {
	if limit < 1 {
		limit = DefaultTrustCacheSize
	}
	return &TrustCache{trust: trust, limit: limit, entries: make(map[trustKey]*list.Element)}
}

// Revoked is Trust.Revoked.
func (c *TrustCache) Revoked(pub ed25519.PublicKey) bool { return c.trust.Revoked(pub) }

// Check is Trust.Check, answered from the cache when it can be.
func (c *TrustCache) Check(id string, pub ed25519.PublicKey, cert []byte, now time.Time) error {
	if len(pub) != ed25519.PublicKeySize || len(id) > MaxIDBytes {
		return c.trust.Check(id, pub, cert, now) // refused, never cached
	}
	k := trustKey{id: id, pub: [ed25519.PublicKeySize]byte(pub)}
	h := c.certHash(cert)
	c.mu.Lock()
	if el, ok := c.entries[k]; ok {
		e := el.Value.(*trustEntry)
		if e.cert == h {
			if e.until.IsZero() || now.Unix() <= e.until.Unix() {
				c.lru.MoveToFront(el)
				c.hits++
				c.mu.Unlock()
				return nil
			}
			c.remove(el) // expired: checked again below, and refused
		}
	}
	c.misses++
	c.mu.Unlock()

	// Outside the lock: a certificate check takes a signature check's time.
	until, err := c.trust.checkUntil(id, pub, cert, now)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		c.remove(el) // another certificate of the pair: the newest wins
	}
	c.entries[k] = c.lru.PushFront(&trustEntry{key: k, cert: h, until: until})
	for c.lru.Len() > c.limit {
		c.remove(c.lru.Back())
	}
	return nil
}

// certHash names the certificate an answer was for; a pinned trust
// ignores certificates, so all of them are one to it.
func (c *TrustCache) certHash(cert []byte) [sha256.Size]byte {
	if c.trust.cas == nil {
		return [sha256.Size]byte{}
	}
	return sha256.Sum256(cert)
}

func (c *TrustCache) remove(el *list.Element) {
	delete(c.entries, el.Value.(*trustEntry).key)
	c.lru.Remove(el)
}

// Len is the number of (id, key) pairs cached.
func (c *TrustCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Stats returns how many checks the cache answered (hits) and how many it
// passed to its Trust (misses).
func (c *TrustCache) Stats() (hits, misses uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}
