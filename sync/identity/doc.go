// Package identity gives each node an ed25519 key pair and tells which
// public keys speak for which node ids, so that what a node signs can be
// told apart from a forgery by another member.
//
// # Keys
//
// A node's key lives in its own file (LoadOrCreate creates it on first
// start), apart from the data directory: wiping the data keeps the
// identity. The file is PEM of PKCS#8 ("PRIVATE KEY"), mode 0600, and a
// file the group or others can access is refused, as ssh refuses one.
// Public keys are PEM of PKIX ("PUBLIC KEY") or, in a config file, the
// base64 of their 32 bytes (FormatPublicKey). `openssl pkey` reads both
// PEM forms. A cluster CA's key is a Key too.
//
// # Signatures
//
// Key.Sign and Verify sign for one purpose, a domain (DomainHeartbeat,
// DomainVote...): the signed bytes are "leviathan signature v1\x00", the
// domain's length as a uvarint, the domain, then the message. A
// signature made for one domain never verifies for another, nor for
// anything else the key might sign.
//
// # Certificates
//
// A certificate is a CA's signature that an id owns a public key until a
// time. Encoded, it is a msgpack array in shortest forms:
//
//	[1, id (str, 1-255 bytes), public key (bin 32),
//	 not-after (uint, Unix seconds), CA key id (bin 8), signature (bin 64)]
//
// The CA key id is the first 8 bytes of the SHA-256 of the CA's public
// key (KeyID). The signature is the CA key's, in domain "leviathan node
// certificate v1", of the encoded array between its header and the
// signature. A certificate is 128 bytes for a 10-byte id, at most
// MaxCertificateSize. Files wrap it in PEM ("LEVIATHAN NODE
// CERTIFICATE").
//
// # Node records
//
// A NodeRecord is what a node says about itself: its id, its public key,
// address, alias, generation, a seq that rises with each record it
// signs, whether it is leaving and an opaque beat chain commitment, with
// its certificate when it has one. The owner signs it in
// DomainNodeRecord and others relay it verbatim. Encoded, it is a msgpack
// array in shortest forms, as a certificate is:
//
//	[1, id (str, 1-255 bytes), public key (bin 32), addr (str, 1-255),
//	 alias (str, 0-255), generation (uint), seq (uint), leaving (bool),
//	 beat chain (bin, 0-64), certificate (bin, or nil), signature (bin 64)]
//
// or, for a node that has collected tombstones, an array of 12 with its
// GC horizon (uint, not 0) between the certificate and the signature,
// signed over the array between its header and the signature, at most
// MaxNodeRecordSize bytes. A record that names retired keys (keys that
// signed the node's records before its current one, RetiredKey) is an
// array of 13: the horizon (0 for none), then an array of 1 to
// MaxRetiredKeys arrays [public key (bin 32), generation (uint), through
// (uint)], before the signature. A KeyHistory, kept in the node's data directory, tells the
// node which keys those are. NodeRecord.Verify checks the signature and
// then that a Checker (a Trust, or a TrustCache in front of one) accepts
// the key for the id.
//
// # Trust
//
// A Trust answers Check(id, key, certificate, now): a CA trust accepts a
// key that a certificate of one of its CA keys binds to the id and that
// has not expired; a pinned trust accepts the keys its config lists for
// the id. Several keys may be valid for one id at once, which is how a
// key is rotated without a gap. There is no trust on first use. A
// TrustCache remembers Check's acceptances per (id, key) until the
// certificate expires, bounded in count. The package reads no clock:
// time comes in as an argument.
//
// # Heartbeat chains
//
// A node proves its heartbeats with a one-way hash chain rather than a
// signature per beat: 16 bytes a heartbeat, checked with a few hashes.
// BeatChain, the owner's side, derives the chain from the node's key, id,
// generation, base B and length K, and commits to its last value, the
// anchor, in a BeatCommitment its signed node record carries. Heartbeat
// B+d is proven by the chain's value K-d hashes below the anchor. Every
// hash is SHA-256 truncated to 16 bytes over a tag naming the chain, the
// step's index and the value, so a value of one chain proves nothing in
// another. The commitment is a msgpack array in shortest forms:
//
//	[1, base (uint), length (uint), anchor heartbeat - base (uint),
//	 anchor (bin 16)]
//
// at most MaxBeatCommitmentSize bytes; the id and generation are the
// record's. A BeatCache verifies proofs against the commitments of
// records that verified, hashing from the highest heartbeat it verified
// of each chain, and refuses, unhashed, a claim further from it than its
// step bound.
package identity
