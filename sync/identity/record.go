package identity

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"github.com/leviathan-gossip/leviathan/internal/canon"
	"time"
)

// Node record errors.
var (
	// ErrMalformedRecord: bytes that are not a node record of a known
	// version, or a record with a field out of its limits.
	ErrMalformedRecord = errors.New("identity: malformed node record")
	// ErrRecordSignature: a node record whose signature is not its key's:
	// forged, or altered after signing.
	ErrRecordSignature = errors.New("identity: bad node record signature")
)

const (
	// NodeRecordVersion is the format version MarshalNodeRecord writes
	// and the only one ParseNodeRecord accepts.
	NodeRecordVersion = 1
	// MaxAddrBytes is the longest address a node record carries, as long
	// as the protocol allows.
	MaxAddrBytes = 255
	// MaxBeatChainBytes is the longest BeatChain a node record carries.
	MaxBeatChainBytes = 64
	// MaxNodeRecordSize is the largest encoded node record: every string
	// at its limit, the largest certificate and every retired key.
	MaxNodeRecordSize = 1 + 1 + (2 + MaxIDBytes) + (2 + ed25519.PublicKeySize) + (2 + MaxAddrBytes) +
		(2 + MaxIDBytes) + 9 + 9 + 1 + (2 + MaxBeatChainBytes) + (3 + MaxCertificateSize) + 9 + maxRetiredBytes +
		(2 + ed25519.SignatureSize)
)

// Array headers of an encoded record: without a GC horizon (the fields
// up to the certificate, and the signature), with one after the
// certificate, and with retired keys after the horizon (0 for none).
const (
	recordArray        = 0x9b // fixarray of 11
	recordArrayGC      = 0x9c // fixarray of 12
	recordArrayRetired = 0x9d // fixarray of 13
)

// NodeRecord is what a node says about itself: which key speaks for its
// id, where it is reached and under which generation. Its owner signs it
// and every other node relays it verbatim, so that no member can move
// another's address or generation.
type NodeRecord struct {
	ID        string
	PublicKey ed25519.PublicKey
	Addr      string // host:port peers reach the node at
	Alias     string // may be empty
	// Generation is the node's generation: it changes when the node
	// comes back with a wiped data directory.
	Generation uint64
	// Seq rises with every record the owner signs within a generation,
	// so that of two records the newer is known (Newer).
	Seq uint64
	// Leaving is set in the record a node signs as it leaves on purpose:
	// only its owner can announce its leave.
	Leaving bool
	// BeatChain is an opaque commitment of at most MaxBeatChainBytes,
	// signed and carried with the record; empty when the node commits to
	// nothing.
	BeatChain []byte
	// Certificate is the encoded certificate that binds ID to PublicKey
	// (CA trust), or nil (pinned trust).
	Certificate []byte
	// GCVersion is the owner's tombstone horizon: it has collected its
	// tombstones up to this version. Peers drop its tombstones only up
	// to the horizon its record states, whoever relays a higher one.
	// Encoded only when not 0, as a trailing field.
	GCVersion uint64
	// Retired names the keys that spoke for the node before PublicKey
	// (retired.go), at most MaxRetiredKeys; nil for none. Encoded only
	// when there are some, after the GC horizon.
	Retired   []RetiredKey
	Signature []byte // the owner's, over the fields above
}

// SignNodeRecord returns r signed by k, r.PublicKey set to k's. A
// certificate in r must be well formed and name r's id and k's key: an
// owner never signs a record its peers would refuse for that.
func SignNodeRecord(k *Key, r NodeRecord) (*NodeRecord, error) {
	r.PublicKey = k.Public()
	r.Certificate = bytes.Clone(r.Certificate)
	if len(r.Certificate) == 0 {
		r.Certificate = nil
	}
	if r.BeatChain = bytes.Clone(r.BeatChain); len(r.BeatChain) == 0 {
		r.BeatChain = nil
	}
	r.Retired = cloneRetired(r.Retired)
	if err := r.checkCertificate(); err != nil {
		return nil, fmt.Errorf("identity: sign node record: %w", err)
	}
	body, err := r.body()
	if err != nil {
		return nil, fmt.Errorf("identity: sign node record: %w", err)
	}
	r.Signature = k.Sign(DomainNodeRecord, body)
	return &r, nil
}

// checkCertificate checks that the certificate, when there is one, is
// one and names the record's id and key. Its signature is Check's.
func (r *NodeRecord) checkCertificate() error {
	if len(r.Certificate) == 0 {
		return nil
	}
	c, err := ParseCertificate(r.Certificate)
	if err != nil {
		return err
	}
	switch {
	case c.ID != r.ID:
		return fmt.Errorf("%w: certificate of %q in the record of %q", ErrWrongID, c.ID, r.ID)
	case !c.PublicKey.Equal(r.PublicKey):
		return fmt.Errorf("%w: certificate of key %s in a record of key %s", ErrWrongKey, IDOf(c.PublicKey), IDOf(r.PublicKey))
	}
	return nil
}

// Marshal encodes r: a msgpack array of [version, id, public key, addr,
// alias, generation, seq, leaving, beat chain, certificate or nil,
// signature], each in its shortest form (an empty beat chain is a bin of
// length 0), so that a record has one encoding; a GC horizon other than 0
// goes between the certificate and the signature, in an array of 12, and
// retired keys after the horizon (written even when 0), in an array of
// 13. A record with neither is the encoding of one that predates them.
func (r *NodeRecord) Marshal() ([]byte, error) {
	if len(r.Signature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("identity: marshal node record: signature of %d bytes", len(r.Signature))
	}
	b := make([]byte, 0, 1+r.bodySize()+2+ed25519.SignatureSize)
	b = append(b, r.arrayHeader())
	b, err := r.appendBody(b)
	if err != nil {
		return nil, fmt.Errorf("identity: marshal node record: %w", err)
	}
	return canon.AppendBin(b, r.Signature), nil
}

func (r *NodeRecord) arrayHeader() byte {
	switch {
	case len(r.Retired) > 0:
		return recordArrayRetired
	case r.GCVersion != 0:
		return recordArrayGC
	}
	return recordArray
}

// body encodes the signed fields, in order: all of the array but its
// header and the signature.
func (r *NodeRecord) body() ([]byte, error) {
	return r.appendBody(make([]byte, 0, r.bodySize()))
}

// bodySize bounds the size of the body, for its buffer.
func (r *NodeRecord) bodySize() int {
	return 1 + (2 + len(r.ID)) + (2 + len(r.PublicKey)) + (2 + len(r.Addr)) + (2 + len(r.Alias)) + 9 + 9 + 1 +
		(2 + len(r.BeatChain)) + (3 + len(r.Certificate)) + 9 + 1 + len(r.Retired)*(1+(2+ed25519.PublicKeySize)+9+9)
}

func (r *NodeRecord) appendBody(b []byte) ([]byte, error) {
	switch {
	case r.ID == "" || len(r.ID) > MaxIDBytes:
		return nil, fmt.Errorf("id of %d bytes: want 1 to %d", len(r.ID), MaxIDBytes)
	case len(r.PublicKey) != ed25519.PublicKeySize:
		return nil, fmt.Errorf("public key of %d bytes", len(r.PublicKey))
	case r.Addr == "" || len(r.Addr) > MaxAddrBytes:
		return nil, fmt.Errorf("addr of %d bytes: want 1 to %d", len(r.Addr), MaxAddrBytes)
	case len(r.Alias) > MaxIDBytes:
		return nil, fmt.Errorf("alias of %d bytes: at most %d", len(r.Alias), MaxIDBytes)
	case len(r.BeatChain) > MaxBeatChainBytes:
		return nil, fmt.Errorf("beat chain of %d bytes: at most %d", len(r.BeatChain), MaxBeatChainBytes)
	case len(r.Certificate) > MaxCertificateSize:
		return nil, fmt.Errorf("certificate of %d bytes: at most %d", len(r.Certificate), MaxCertificateSize)
	}
	if err := checkRetired(r.Retired, r.PublicKey); err != nil {
		return nil, err
	}
	b = append(b, NodeRecordVersion) // positive fixint
	b = canon.AppendStr(b, r.ID)
	b = canon.AppendBin(b, r.PublicKey)
	b = canon.AppendStr(b, r.Addr)
	b = canon.AppendStr(b, r.Alias)
	b = canon.AppendUint(b, r.Generation)
	b = canon.AppendUint(b, r.Seq)
	b = appendBool(b, r.Leaving)
	b = canon.AppendBin(b, r.BeatChain)
	if len(r.Certificate) == 0 {
		b = append(b, msgpackNil)
	} else {
		b = canon.AppendBin(b, r.Certificate)
	}
	if r.GCVersion != 0 || len(r.Retired) > 0 {
		b = canon.AppendUint(b, r.GCVersion)
	}
	if len(r.Retired) > 0 {
		b = appendRetired(b, r.Retired)
	}
	return b, nil
}

// ParseNodeRecord decodes what Marshal encodes, and nothing else: any
// other length, type, version or encoding of a field, trailing bytes, or
// an embedded certificate that is not one, is ErrMalformedRecord. It does
// not check the signature or the key (Verify does). It treats b as
// hostile: it never panics, and it reads at most MaxNodeRecordSize
// bytes.
func ParseNodeRecord(b []byte) (*NodeRecord, error) {
	if len(b) > MaxNodeRecordSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformedRecord, len(b), MaxNodeRecordSize)
	}
	rd := reader{b: b}
	h := rd.byte()
	if h != recordArray && h != recordArrayGC && h != recordArrayRetired {
		return nil, fmt.Errorf("%w: not an array of 11, 12 or 13 (0x%02x)", ErrMalformedRecord, h)
	}
	if v := rd.byte(); v != NodeRecordVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrMalformedRecord, v, NodeRecordVersion)
	}
	r := &NodeRecord{ID: string(rd.str("id"))}
	r.PublicKey = ed25519.PublicKey(bytes.Clone(rd.bin("public key", ed25519.PublicKeySize)))
	r.Addr = string(rd.str("addr"))
	r.Alias = string(rd.str("alias"))
	r.Generation = rd.uint("generation")
	r.Seq = rd.uint("seq")
	r.Leaving = rd.bool("leaving")
	if c := rd.binUpTo("beat chain", MaxBeatChainBytes); len(c) > 0 {
		r.BeatChain = bytes.Clone(c)
	}
	if rd.peek() == msgpackNil {
		rd.byte()
	} else {
		r.Certificate = bytes.Clone(rd.binUpTo("certificate", MaxCertificateSize))
	}
	if h == recordArrayGC || h == recordArrayRetired {
		r.GCVersion = rd.uint("gc horizon")
	}
	if h == recordArrayRetired {
		r.Retired = rd.retired()
	}
	r.Signature = bytes.Clone(rd.bin("signature", ed25519.SignatureSize))
	if rd.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedRecord, rd.err)
	}
	if len(rd.b) > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the record", ErrMalformedRecord, len(rd.b))
	}
	again, err := r.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedRecord, err)
	}
	if !bytes.Equal(again, b) {
		// A field in a longer form than needed, an empty certificate
		// instead of nil, or a GC horizon of 0 in an array of 12:
		// refused, so that one record has one encoding.
		return nil, fmt.Errorf("%w: not in its shortest encoding", ErrMalformedRecord)
	}
	if err := r.checkCertificate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedRecord, err)
	}
	return r, nil
}

// Checker says whether a key speaks for a node id: a Trust, or a
// TrustCache in front of one. Revoked says whether a key is refused
// whatever certifies or pins it: a retired key a record names is taken
// unless revoked.
type Checker interface {
	Check(id string, pub ed25519.PublicKey, cert []byte, now time.Time) error
	Revoked(pub ed25519.PublicKey) bool
}

// Verify checks that r is signed by its key and that trust accepts that
// key for r's id at now. Nothing r says is believed before its signature
// holds. The error is ErrMalformedRecord, ErrRecordSignature, or the
// trust's (ErrUntrusted).
func (r *NodeRecord) Verify(trust Checker, now time.Time) error {
	body, err := r.body()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedRecord, err)
	}
	if !Verify(r.PublicKey, DomainNodeRecord, body, r.Signature) {
		return fmt.Errorf("%w: record of %q", ErrRecordSignature, r.ID)
	}
	if err := trust.Check(r.ID, r.PublicKey, r.Certificate, now); err != nil {
		return fmt.Errorf("identity: node record: %w", err)
	}
	return nil
}

// Newer reports whether r supersedes old, a record of the same id: a
// later generation, or the same generation and a higher seq.
func (r *NodeRecord) Newer(old *NodeRecord) bool {
	if r.Generation != old.Generation {
		return r.Generation > old.Generation
	}
	return r.Seq > old.Seq
}
