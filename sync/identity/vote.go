package identity

import (
	"crypto/ed25519"
	"encoding/binary"
)

// VoteClaim is what a signed vote says: that By, in cluster Cluster,
// holds node ID silent at Generation and Heartbeat (proven by Proof, a
// value of ID's heartbeat chain, zero for none), as of By's own Seq. A
// vote by ID about itself is a refutation. The signature covers every
// field, so a relay can change none of them, and Seq, which rises with
// each vote its signer makes, lets a receiver refuse an old vote
// replayed after a newer one.
type VoteClaim struct {
	Cluster    string
	ID         string
	Generation uint64
	Heartbeat  uint64
	Proof      [16]byte
	By         string
	Seq        uint64
}

// Marshal is the canonical encoding a vote's signature covers: each
// string behind its length (a uvarint), each number in 8 bytes big-endian
// and the proof's 16 bytes, in the order of the fields.
func (c *VoteClaim) Marshal() []byte {
	b := make([]byte, 0, 3*binary.MaxVarintLen64+len(c.Cluster)+len(c.ID)+len(c.By)+3*8+len(c.Proof))
	b = appendString(b, c.Cluster)
	b = appendString(b, c.ID)
	b = binary.BigEndian.AppendUint64(b, c.Generation)
	b = binary.BigEndian.AppendUint64(b, c.Heartbeat)
	b = append(b, c.Proof[:]...)
	b = appendString(b, c.By)
	return binary.BigEndian.AppendUint64(b, c.Seq)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// SignVote signs c with k in DomainVote.
func SignVote(k *Key, c *VoteClaim) []byte { return k.Sign(DomainVote, c.Marshal()) }

// VerifyVote reports whether sig is pub's signature of c.
func VerifyVote(pub ed25519.PublicKey, c *VoteClaim, sig []byte) bool {
	return Verify(pub, DomainVote, c.Marshal(), sig)
}
