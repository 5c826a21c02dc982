// Package transport carries the encoded messages of the sync protocol
// between nodes. It holds what the protocol core must stay free of —
// goroutines, sockets, timers, name resolution and the cluster's secret
// keys — so that package sync remains a pure state machine: sync turns
// received bytes into replies and batches, and a Transport moves the bytes.
//
// A Transport sends a message to an advertised host:port, best effort and
// at most once, and yields received messages as Packets on a channel. It has
// three implementations:
//
//   - NetTransport (ListenNet) is the real one: UDP for messages of up to
//     PacketSize bytes and TCP streams, on the same port, for larger ones up
//     to MaxMessageSize. Its queues are bounded in messages and in bytes,
//     and NetConfig.AllowStream keeps spoofed datagrams from turning it into
//     a reflector of large replies. CanonicalAddr gives every endpoint the
//     one spelling its addresses are compared in.
//   - MemTransport, attached to a MemNetwork, runs many nodes in one process
//     without sockets. The network can drop, delay, duplicate, reorder,
//     block and partition messages, with faults drawn from one seed.
//   - Encrypted (Encrypt) wraps either of them: it seals every outgoing
//     message with the primary key of a Keyring (AES-GCM, bound to the
//     sender's address) and delivers only what an installed key
//     authenticates. The Keyring's Install, Use and Remove rotate keys
//     across a live cluster.
//
// Package node listens with ListenNet on its configured address unless
// node.WithTransport hands it another Transport (tests pass a MemTransport),
// wraps it with Encrypt when node.WithKeyring or encrypt_keys provide a
// Keyring, and sizes the sync core's messages to the transport's PacketSize
// and MaxMessageSize. Its receive loop decodes each Packet and hands the
// message to the protocol engine; its gossip loop sends what the engine
// produces.
package transport
