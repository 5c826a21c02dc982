package proof

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"github.com/leviathan-gossip/leviathan/internal/canon"

	"github.com/leviathan-gossip/leviathan/sync/identity"
)

// Errors, for callers to test.
var (
	// ErrMalformed: a header or proof that breaks the format or its
	// limits, whatever its signature.
	ErrMalformed = errors.New("proof: malformed")
	// ErrBadSignature: a header whose signature is not its origin key's.
	ErrBadSignature = errors.New("proof: bad signature")
	// ErrMismatch: records and proof hashes that do not rebuild the root
	// the header signs: a record altered, moved or of another batch.
	ErrMismatch = errors.New("proof: records do not match the signed root")
	// ErrNotHeld: a proof asked of leaves its holder does not hold.
	ErrNotHeld = errors.New("proof: leaves not held")
)

// FormatVersion is the first field of the signed header: a later format
// signs another number, so that no signature of one is taken for the
// other.
const FormatVersion = 1

// MaxLeaves is the most records one signed batch holds: twice a group
// commit's most, and few enough that a holder's Tree of a batch stays
// near a megabyte.
const MaxLeaves = 1 << 14

// SignatureSize is the size of a header's signature.
const SignatureSize = ed25519.SignatureSize

// Header is what an origin signs for one batch of its records: the
// batch's versions run from First to Last (Count records, ascending,
// not necessarily contiguous) within generation Generation, and Root is
// the root of the tree over their leaf hashes in version order.
type Header struct {
	Origin     string
	Generation uint64
	First      uint64
	Last       uint64
	Count      int
	Root       Hash
}

// Signed is a header and its origin's signature of it.
type Signed struct {
	Header
	Signature [SignatureSize]byte
}

// check reports what makes h impossible for an honest origin.
func (h *Header) check() error {
	switch {
	case h.Origin == "" || len(h.Origin) > identity.MaxIDBytes:
		return fmt.Errorf("%w: origin of %d bytes: want 1 to %d", ErrMalformed, len(h.Origin), identity.MaxIDBytes)
	case h.Count < 1 || h.Count > MaxLeaves:
		return fmt.Errorf("%w: %d records: want 1 to %d", ErrMalformed, h.Count, MaxLeaves)
	case h.First == 0 || h.Last < h.First:
		return fmt.Errorf("%w: versions %d to %d", ErrMalformed, h.First, h.Last)
	case uint64(h.Count-1) > h.Last-h.First:
		return fmt.Errorf("%w: %d records in versions %d to %d", ErrMalformed, h.Count, h.First, h.Last)
	case h.Count == 1 && h.First != h.Last:
		return fmt.Errorf("%w: one record, versions %d to %d", ErrMalformed, h.First, h.Last)
	}
	return nil
}

// Message is what the origin signs, in domain identity.DomainRecords: the
// msgpack array [FormatVersion, origin, generation, first, last, count,
// root (bin 32)], each field in its shortest form, so that a header has
// one encoding.
func (h *Header) Message() ([]byte, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 1+1+2+len(h.Origin)+4*9+2+len(h.Root))
	b = append(b, 0x97, FormatVersion)
	b = canon.AppendStr(b, h.Origin)
	b = canon.AppendUint(b, h.Generation)
	b = canon.AppendUint(b, h.First)
	b = canon.AppendUint(b, h.Last)
	b = canon.AppendUint(b, uint64(h.Count))
	return canon.AppendBin(b, h.Root[:]), nil
}

// Sign signs h with the origin's key.
func Sign(k *identity.Key, h Header) (Signed, error) {
	msg, err := h.Message()
	if err != nil {
		return Signed{}, fmt.Errorf("proof: sign: %w", err)
	}
	s := Signed{Header: h}
	copy(s.Signature[:], k.Sign(identity.DomainRecords, msg))
	return s, nil
}

// Verify checks s's signature with the origin's public key pub. Which key
// speaks for s.Origin is the caller's question (identity.Trust).
func (s *Signed) Verify(pub ed25519.PublicKey) error {
	msg, err := s.Message()
	if err != nil {
		return err
	}
	if !identity.Verify(pub, identity.DomainRecords, msg, s.Signature[:]) {
		return fmt.Errorf("%w: batch of %q at versions %d to %d", ErrBadSignature, s.Origin, s.First, s.Last)
	}
	return nil
}

// SignRecord is the per-record scheme: the signature of a batch of one
// record, r, whose root is its leaf hash. What travels with the record is
// the signature alone; the receiver rebuilds the header from the record.
func SignRecord(k *identity.Key, origin string, generation uint64, r *Record) ([SignatureSize]byte, error) {
	s, err := Sign(k, recordHeader(origin, generation, r))
	return s.Signature, err
}

// VerifyRecord checks a signature made by SignRecord.
func VerifyRecord(pub ed25519.PublicKey, origin string, generation uint64, r *Record, sig *[SignatureSize]byte) error {
	s := Signed{Header: recordHeader(origin, generation, r), Signature: *sig}
	return s.Verify(pub)
}

func recordHeader(origin string, generation uint64, r *Record) Header {
	return Header{Origin: origin, Generation: generation, First: r.Version, Last: r.Version,
		Count: 1, Root: LeafHash(origin, r)}
}
