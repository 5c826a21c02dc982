package transport

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	gosync "sync"
	"sync/atomic"
)

// Keyring errors.
var (
	ErrKeySize       = errors.New("transport: encryption key must be 16, 24 or 32 bytes (AES-128, -192 or -256)")
	ErrKeyNotFound   = errors.New("transport: key is not installed")
	ErrRemovePrimary = errors.New("transport: cannot remove the primary key; Use another key first")
	ErrNoKeys        = errors.New("transport: keyring needs a primary key")
)

// Keyring holds the shared secrets of a cluster, as memberlist's keyring
// does: the primary key seals every outgoing message, and every installed
// key (primary first) is tried on incoming ones. That lets a live cluster
// rotate its key without downtime:
//
//  1. Install the new key on every node (each still seals with the old one,
//     and now also opens the new one);
//  2. Use the new key on every node (each now seals with it and still opens
//     the old one, which nodes not yet switched keep sending);
//  3. Remove the old key on every node.
//
// A Keyring is safe for concurrent use; rotation may happen while messages
// are sealed and opened. Keys are copied in and out, never shared.
type Keyring struct {
	mu  gosync.Mutex           // serialises Install, Use and Remove
	set atomic.Pointer[keySet] // immutable snapshot read lock-free by Seal and Open

	nonces sync96
}

// keySet is an immutable view of the keys; index 0 is the primary.
type keySet struct {
	keys  [][]byte
	aeads []cipher.AEAD
}

// NewKeyring returns a keyring sealing with primary and opening with primary
// and others. Every key must be 16, 24 or 32 bytes.
func NewKeyring(primary []byte, others ...[]byte) (*Keyring, error) {
	if primary == nil {
		return nil, ErrNoKeys
	}
	ks := &keySet{}
	for i, k := range append([][]byte{primary}, others...) {
		if ks.index(k) >= 0 {
			continue
		}
		a, err := newAEAD(k)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		ks.keys = append(ks.keys, bytes.Clone(k))
		ks.aeads = append(ks.aeads, a)
	}
	kr := &Keyring{}
	if err := kr.nonces.init(); err != nil {
		return nil, err
	}
	kr.set.Store(ks)
	return kr, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("%w: got %d", ErrKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block) // standard 12-byte nonce, 16-byte tag
}

func (ks *keySet) index(key []byte) int {
	for i, k := range ks.keys {
		if bytes.Equal(k, key) {
			return i
		}
	}
	return -1
}

// Install adds key to the keys that open messages. Installing a key that is
// already there does nothing.
func (kr *Keyring) Install(key []byte) error {
	a, err := newAEAD(key)
	if err != nil {
		return err
	}
	kr.mu.Lock()
	defer kr.mu.Unlock()
	old := kr.set.Load()
	if old.index(key) >= 0 {
		return nil
	}
	kr.set.Store(&keySet{
		keys:  append(append([][]byte(nil), old.keys...), bytes.Clone(key)),
		aeads: append(append([]cipher.AEAD(nil), old.aeads...), a),
	})
	return nil
}

// Use makes an installed key the primary: from now on it seals every
// outgoing message. The former primary still opens incoming ones.
func (kr *Keyring) Use(key []byte) error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	old := kr.set.Load()
	i := old.index(key)
	if i < 0 {
		return ErrKeyNotFound
	}
	if i == 0 {
		return nil
	}
	ks := &keySet{keys: make([][]byte, 0, len(old.keys)), aeads: make([]cipher.AEAD, 0, len(old.aeads))}
	ks.keys = append(append(ks.keys, old.keys[i]), old.keys[:i]...)
	ks.keys = append(ks.keys, old.keys[i+1:]...)
	ks.aeads = append(append(ks.aeads, old.aeads[i]), old.aeads[:i]...)
	ks.aeads = append(ks.aeads, old.aeads[i+1:]...)
	kr.set.Store(ks)
	return nil
}

// Remove uninstalls a key that is not the primary; messages sealed with it
// are rejected from then on.
func (kr *Keyring) Remove(key []byte) error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	old := kr.set.Load()
	i := old.index(key)
	switch {
	case i < 0:
		return ErrKeyNotFound
	case i == 0:
		return ErrRemovePrimary
	}
	ks := &keySet{
		keys:  append(append([][]byte(nil), old.keys[:i]...), old.keys[i+1:]...),
		aeads: append(append([]cipher.AEAD(nil), old.aeads[:i]...), old.aeads[i+1:]...),
	}
	kr.set.Store(ks)
	return nil
}

// Keys returns copies of the installed keys, the primary first.
func (kr *Keyring) Keys() [][]byte {
	ks := kr.set.Load()
	out := make([][]byte, len(ks.keys))
	for i, k := range ks.keys {
		out[i] = bytes.Clone(k)
	}
	return out
}

// Primary returns a copy of the key that seals outgoing messages.
func (kr *Keyring) Primary() []byte { return bytes.Clone(kr.set.Load().keys[0]) }

// Envelope of a sealed message:
//
//	version (1 byte) | nonce (12 bytes) | AES-GCM ciphertext and tag (len(plaintext) + 16)
//
// The version byte and the sender's advertised address are authenticated as
// additional data (see Encrypt).
const (
	sealVersion   = 0xe1 // distinct from the first byte of a plaintext message ('L')
	nonceSize     = 12
	tagSize       = 16
	SealOverhead  = 1 + nonceSize + tagSize // bytes a sealed message adds to its plaintext
	noncePrefixSz = 8
)

// Errors of Open; both count as authentication failures.
var (
	ErrNotSealed = errors.New("transport: not a sealed message (wrong envelope version or too short)")
	ErrAuth      = errors.New("transport: message failed authentication with every installed key")
)

// Seal encrypts and authenticates plaintext with the primary key, binding
// it to from (the sender's advertised address), and returns the envelope.
func (kr *Keyring) Seal(plaintext []byte, from string) []byte {
	ks := kr.set.Load()
	out := make([]byte, 1+nonceSize, SealOverhead+len(plaintext))
	out[0] = sealVersion
	kr.nonces.next(out[1 : 1+nonceSize])
	return ks.aeads[0].Seal(out, out[1:1+nonceSize], plaintext, additionalData(from))
}

// Open authenticates and decrypts an envelope claimed to come from from,
// trying the primary key first and then the others.
func (kr *Keyring) Open(envelope []byte, from string) ([]byte, error) {
	if len(envelope) < SealOverhead || envelope[0] != sealVersion {
		return nil, ErrNotSealed
	}
	nonce, ct := envelope[1:1+nonceSize], envelope[1+nonceSize:]
	ad := additionalData(from)
	for _, a := range kr.set.Load().aeads {
		if pt, err := a.Open(nil, nonce, ct, ad); err == nil {
			return pt, nil
		}
	}
	return nil, ErrAuth
}

func additionalData(from string) []byte {
	ad := make([]byte, 0, 1+len(from))
	ad = append(ad, sealVersion)
	return append(ad, from...)
}

// sync96 issues 96-bit GCM nonces that are never reused. A nonce is an
// 8-byte random prefix followed by a 4-byte counter:
//
//   - within one keyring, the counter makes every nonce under a prefix
//     distinct, and the prefix is redrawn before the counter wraps (after
//     2^32 messages), so no (prefix, counter) pair repeats;
//   - across keyrings — other nodes sharing the key, restarts of this one —
//     nonces can only collide if two of them drew the same 64-bit prefix:
//     with P prefixes ever drawn under a key that chance is below P²/2^65,
//     about 3·10^-8 for a million node boots. Purely random 96-bit nonces
//     would instead reach a collision chance of 2^-33 after 2^32 messages
//     under one key, so the counter makes reuse strictly less likely.
//
// The prefix comes from crypto/rand, which does not fail on supported
// platforms (since Go 1.24 it crashes the program rather than return
// predictable bytes).
type sync96 struct {
	mu     gosync.Mutex
	prefix [noncePrefixSz]byte
	ctr    uint64 // messages sealed under prefix; < 2^32
}

func (s *sync96) init() error {
	if _, err := rand.Read(s.prefix[:]); err != nil {
		return fmt.Errorf("transport: nonce prefix: %w", err)
	}
	return nil
}

func (s *sync96) next(dst []byte) {
	s.mu.Lock()
	if s.ctr == 1<<32 {
		_, _ = rand.Read(s.prefix[:])
		s.ctr = 0
	}
	copy(dst, s.prefix[:])
	binary.BigEndian.PutUint32(dst[noncePrefixSz:], uint32(s.ctr))
	s.ctr++
	s.mu.Unlock()
}
