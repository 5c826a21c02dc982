// Package sync is Leviathan's scuttlebutt anti-entropy protocol: digests,
// deltas, the messages that carry them and the State that reconciles them.
//
// The protocol core (State) is a deterministic state machine in the style of
// etcd's raft: it opens no sockets, starts no goroutines and never reads the
// wall clock. Randomness comes in as a *rand.Rand, time as arguments, and
// everything that must be made durable leaves the core as a Batch that the
// caller persists before handing it back through Commit. Messages enter and
// leave as values, sized to the budgets in Config, so the core does not
// know what carries them: package sync/wire encodes and decodes them,
// package sync/transport moves the bytes over UDP/TCP or an in-memory
// network and seals them with a shared keyring, and the node package owns
// the goroutines, timers and I/O around them.
//
// A three-way exchange reconciles two nodes:
//
//	A → B  Syn{cluster, digest of A}
//	B → A  SynAck{digest of what B lacks, deltas A lacks}
//	A → B  Ack{deltas B lacks}
//
// A node of another cluster is answered BadCluster and nothing it sent is
// applied.
package sync

import "github.com/leviathan-gossip/leviathan/sync/proof"

// Record is one key of one node as last written by that node. Versions are
// issued by the owner and strictly increase across all keys of a node, so a
// node's state up to a version is a well-defined prefix.
type Record struct {
	Key       string
	Value     []byte
	Version   uint64
	Tombstone bool
}

// DigestEntry summarises what a node knows of one peer: enough for the other
// side to tell which deltas it is missing and whether the peer is alive.
type DigestEntry struct {
	ID         string
	Alias      string // empty when equal to ID, to keep digests small
	Addr       string // host:port the peer gossips on
	Generation uint64 // changes when the peer's data is wiped
	Heartbeat  uint64 // bumped by the peer itself; feeds failure detection
	MaxVersion uint64 // every record of the peer up to this version is held
	// GCVersion is the peer's tombstone collection horizon as the sender
	// knows it: tombstones up to it are gone for good, and the sender holds
	// no key deleted by one of them.
	GCVersion uint64
	// Leaving is set by a peer shutting down on purpose: it is gone, not
	// suspect.
	Leaving bool
	// RecordSeq is the seq of the peer's signed node record the sender
	// holds, 0 for none (a cluster without signing): a receiver holding
	// an older one asks the sender for it, one holding a newer one sends
	// it (see Members.Records).
	RecordSeq uint64
	// BeatProof proves Heartbeat in a cluster that signs node records:
	// the value of the node's heartbeat chain for it, relayed verbatim
	// as the node revealed it (zero: none).
	BeatProof BeatProof
}

// BeatProof is the value of a node's heartbeat chain that proves one of
// its heartbeats (identity.BeatValue): anyone holding the node's signed
// record checks it with a few hashes, and no one but the node can make
// one above the highest it revealed. The zero value is no proof.
type BeatProof [16]byte

// IsZero reports whether p is no proof.
func (p *BeatProof) IsZero() bool { return *p == BeatProof{} }

// NodeDelta carries records of one node that cover the version range
// (From, To]: every record the sender holds in that range is included, in
// ascending version order. A receiver whose watermark for the node is below
// From must not apply it, or it would skip versions it never saw.
//
// Reset marks a delta that starts the node over from version 0: the
// receiver was so far behind that tombstones it never saw have since been
// collected, so it drops what it holds of the node and refills from the
// sender's current state, which holds no deleted key.
type NodeDelta struct {
	ID         string
	Generation uint64
	From       uint64
	To         uint64
	// GCVersion is the node's tombstone collection horizon as the sender
	// knows it.
	GCVersion uint64
	// Clean is the version up to which the sender's copy is known to hold
	// no key deleted by a collected tombstone: max(its watermark, its
	// GCVersion). A receiver that was reset up to a horizon only takes
	// deltas from senders at least as clean.
	Clean   uint64
	Reset   bool
	Records []Record
	// Proofs, in a cluster that signs records, prove Records to their
	// origin, ID: each is the proof of exactly the records of Records in
	// its version range, in order, at Generation, ascending by version
	// and not overlapping (as PeerChange.Proofs). The codec parses them
	// without their roots; a receiver verifies them (which sets the
	// roots) before the core takes them, and drops them otherwise.
	Proofs []*proof.Proof
}

// MsgType tags a message on the wire.
type MsgType uint8

// Message types. Values are part of the wire format: never renumber.
const (
	MsgSyn        MsgType = 1
	MsgSynAck     MsgType = 2
	MsgAck        MsgType = 3
	MsgBadCluster MsgType = 4
	MsgBeat       MsgType = 5
	MsgSuspect    MsgType = 6
	MsgMembers    MsgType = 7
	MsgPush       MsgType = 8
)

func (t MsgType) String() string {
	switch t {
	case MsgSyn:
		return "syn"
	case MsgSynAck:
		return "synack"
	case MsgAck:
		return "ack"
	case MsgBadCluster:
		return "badcluster"
	case MsgBeat:
		return "beat"
	case MsgSuspect:
		return "suspect"
	case MsgMembers:
		return "members"
	case MsgPush:
		return "push"
	}
	return "unknown"
}

// Message is implemented by the four protocol messages.
type Message interface {
	Type() MsgType
}

// Syn opens an exchange. Complete says whether Digest lists every peer the
// sender knows; when it does, a peer missing from it is one the sender has
// never heard of and is sent first.
//
// A Syn with a Summary is a quiet round's or a probe's: Summary stands
// for the sender's digest (State.Summary). A receiver whose own summary
// is the same has nothing to trade and does not answer. One whose summary
// differs answers a quiet round's (empty digest) with a Syn of its own
// digest, which opens an ordinary exchange the other way, and a probe's
// (the entries the sender had news of) as an ordinary Syn.
type Syn struct {
	Cluster  string
	From     string // sender's node ID
	Complete bool
	Digest   []DigestEntry
	Summary  uint64
}

// SynAck answers a Syn with the deltas the initiator lacks and the digest
// entries the responder wants deltas (or heartbeats) for.
type SynAck struct {
	Cluster string
	From    string
	Digest  []DigestEntry
	Deltas  []NodeDelta
	// More is set when deltas the initiator lacks were left out for lack
	// of room: the initiator opens another exchange at once instead of
	// waiting a round, so bulk catch-up runs at the speed of the disk.
	More bool
}

// Ack closes an exchange with the deltas the responder asked for.
type Ack struct {
	Cluster string
	From    string
	Deltas  []NodeDelta
	More    bool // as in SynAck, for the responder
}

// BadCluster tells a sender that it gossiped to a node of another cluster.
type BadCluster struct {
	Cluster string // the responder's cluster, for the sender's log
}

// Type implements Message.
func (*Syn) Type() MsgType { return MsgSyn }

// Type implements Message.
func (*SynAck) Type() MsgType { return MsgSynAck }

// Type implements Message.
func (*Ack) Type() MsgType { return MsgAck }

// Type implements Message.
func (*BadCluster) Type() MsgType { return MsgBadCluster }

// Beat is a node's heartbeat sent straight to one of the few peers that
// monitor it, every heartbeat interval: its monitors judge it by these
// regular arrivals rather than by heartbeats relayed in digests, whose
// spacing grows and scatters with the cluster. Release tells a monitor
// that the sender stopped beating to it (its ring of monitors changed), so
// that the silence that follows is not taken for a crash. It needs no
// answer.
type Beat struct {
	Cluster    string
	From       string
	Generation uint64
	Heartbeat  uint64
	Release    bool
	// Proof proves Heartbeat when the cluster signs node records.
	Proof BeatProof
}

// Vote says that By, a monitor of node ID, has heard nothing from it
// directly for long enough to suspect it, and that the highest heartbeat
// of ID it knew was Heartbeat. A vote by ID about itself (By == ID) is a
// refutation: ID is alive at Heartbeat. A newer heartbeat of ID makes a
// vote stale.
type Vote struct {
	ID         string
	Generation uint64
	Heartbeat  uint64
	By         string
	// Proof is ID's proof of Heartbeat, when the voter holds it and the
	// cluster signs node records: a vote can then claim no heartbeat ID
	// never reached.
	Proof BeatProof
	// Seq and Sig, when the cluster signs node records: By's signature
	// of the vote (identity.VoteClaim, the cluster name included), and
	// By's sequence number, which rises with each vote it signs.
	Seq uint64
	Sig []byte
}

// Suspect carries monitors' votes: a lone vote goes straight to the peer's
// other monitors and the peer, and the votes of a verdict are broadcast by
// each node they convince (and queued beside rounds' Syns). A node suspects
// a peer once a quorum of its monitors agree at the newest heartbeat it
// knows of it. It needs no answer.
type Suspect struct {
	Cluster string
	From    string
	Votes   []Vote
}

// Type implements Message.
func (*Beat) Type() MsgType { return MsgBeat }

// Type implements Message.
func (*Suspect) Type() MsgType { return MsgSuspect }

// Members carries a node's member list. A node that is joining sends one
// with Request set (and its own entry) to a seed, beside its round's Syn;
// the seed answers with every member it holds up, so the joiner learns the
// whole cluster in one exchange instead of 31 digest entries a round. A
// node back with a new generation sends one with its own entry to every
// member: its own word for the new generation, which peers require before
// they drop its old data. It needs no answer unless Request is set.
//
// Up says how many of the leading entries the sender holds alive (its own
// entry, first, included): the joiner takes them as alive at once rather
// than waiting to see each one's heartbeat rise.
//
// In a cluster that signs node records, Records carries encoded records
// (each verbatim as its owner signed it) and Wants the ids whose records
// the sender asks for; a Members message with neither a request nor
// members carries only those.
type Members struct {
	Cluster string
	From    string
	Request bool
	Members []DigestEntry
	Up      int
	Records [][]byte
	Wants   []string
}

// Bounds of Members.Records and Members.Wants in one message.
const (
	MaxMessageRecords = 1024
	MaxMessageWants   = 1024
)

// Type implements Message.
func (*Members) Type() MsgType { return MsgMembers }

// Push carries node deltas a sender has just committed, to a few live
// peers at once rather than at their next exchange. A receiver that takes
// something new from it passes it on with Hops one lower; one that already
// held it, or that got it with Hops at 1, stops it there. It needs no
// answer: a push that is lost, cut or stopped is repaired by anti-entropy.
type Push struct {
	Cluster string
	From    string
	Hops    uint8
	Deltas  []NodeDelta
}

// Type implements Message.
func (*Push) Type() MsgType { return MsgPush }
