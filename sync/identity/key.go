package identity

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
)

// The purposes a node key signs for. Each names one kind of signed
// message, so that a signature made for one can never be taken for
// another: a heartbeat's signature replayed as a vote fails to verify.
const (
	DomainNodeRecord = "leviathan node record"
	DomainHeartbeat  = "leviathan heartbeat"
	DomainVote       = "leviathan vote"
	DomainRecords    = "leviathan record batch"
)

// domainCertificate is what a CA key signs certificates for.
const domainCertificate = "leviathan node certificate v1"

// signaturePrefix starts every signed message: it keeps Leviathan's
// signatures apart from anything else the same key might sign, and names
// the scheme so that a later one can be told apart.
const signaturePrefix = "leviathan signature v1\x00"

// Key is an ed25519 key pair: a node's identity, or a cluster CA's. It is
// safe for concurrent use.
type Key struct {
	priv ed25519.PrivateKey
}

// KeyID names a public key in 8 bytes: the first 8 bytes of its SHA-256.
// Certificates name their CA by it; it is short enough for logs.
type KeyID [8]byte

// IDOf returns the KeyID of pub.
func IDOf(pub ed25519.PublicKey) KeyID {
	sum := sha256.Sum256(pub)
	var id KeyID
	copy(id[:], sum[:])
	return id
}

// String renders id in hex.
func (id KeyID) String() string { return hex.EncodeToString(id[:]) }

// Generate draws a new key pair from rand (crypto/rand.Reader when nil).
func Generate(rand io.Reader) (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, fmt.Errorf("identity: generate key: %w", err)
	}
	return &Key{priv: priv}, nil
}

// Public returns the public half of k.
func (k *Key) Public() ed25519.PublicKey {
	return k.priv.Public().(ed25519.PublicKey)
}

// ID returns the KeyID of k's public key.
func (k *Key) ID() KeyID { return IDOf(k.Public()) }

// Sign signs msg for one purpose, domain (one of the Domain constants):
// the signature verifies only with Verify and the same domain.
func (k *Key) Sign(domain string, msg []byte) []byte {
	return ed25519.Sign(k.priv, signedBytes(domain, msg))
}

// Verify reports whether sig is pub's signature of msg for domain. A key
// of the wrong size or a signature of the wrong size is false, never a
// panic.
func Verify(pub ed25519.PublicKey, domain string, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, signedBytes(domain, msg), sig)
}

// signedBytes is what a signature covers: the prefix, the domain behind
// its length (so that no domain is a prefix of another's message) and
// the message.
func signedBytes(domain string, msg []byte) []byte {
	b := make([]byte, 0, len(signaturePrefix)+binary.MaxVarintLen64+len(domain)+len(msg))
	b = append(b, signaturePrefix...)
	b = binary.AppendUvarint(b, uint64(len(domain)))
	b = append(b, domain...)
	return append(b, msg...)
}
