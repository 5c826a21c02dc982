// Package wire is the binary encoding of the sync protocol's messages:
// Encode turns a sync.Message into the bytes a transport carries, and
// Decode (DecodeWith) turns received bytes back into one, treating them as
// hostile.
//
// # Format
//
// Every message starts with a 4-byte header (HeaderSize): the magic "LV"
// (Magic, 0x4c56), the protocol version (ProtocolVersion) and the message
// type (a sync.MsgType). PeekType reads the header alone, so that a
// receiver can route or drop a message before paying to decode it, and a
// foreign packet or one of another protocol version is rejected there.
//
// The message follows as a msgpack array of its fields in declaration
// order, and every struct inside it (digest entry, node delta, record,
// vote) is an array of its fields in turn: no field names on the wire. A
// decoder skips trailing fields it does not know, so fields are added at
// the end of a message without a new protocol version. Anything an older
// node cannot decode needs a new ProtocolVersion.
//
// The sync core fills messages to byte budgets with its own arithmetic of
// these sizes, since it cannot import this package (which imports it); its
// tests check that arithmetic against Encode.
//
// # Limits
//
// Decoding never panics, and it costs at most a small multiple of the
// message's own size whatever the message claims. Every length a message
// declares — of a string, a value, a list — is checked against the bytes
// actually left and against sync.Limits before anything is allocated for
// it: keys, values and ids (node id, alias, address, cluster name) by
// length; digests by MaxDigestEntries, node deltas by MaxNodeDeltas, the
// votes of a Suspect by MaxVotes; unknown trailing fields by the bytes
// left and a nesting depth. A message over a limit fails with
// ErrLimitExceeded, a truncated or inconsistent one with ErrMalformed.
//
// # Fuzzing
//
// FuzzDecode feeds arbitrary bytes to Decode, and FuzzDecodeSyn,
// FuzzDecodeSynAck and the other FuzzDecode<Type> targets feed arbitrary
// bodies behind a valid header of one type with small limits: nothing may
// panic, what decodes must respect the limits, and it must re-encode to
// bytes that decode to the same message. Their corpora are in
// testdata/fuzz, and CI runs each target for a bounded time (.ci/run).
// FuzzHandle, in package sync, feeds whatever decodes to the protocol core.
package wire
