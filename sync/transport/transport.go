package transport

import "errors"

// Packet is one message as received, with the advertised gossip address of
// the node that sent it (not the ephemeral port of a stream connection).
type Packet struct {
	From string
	Data []byte
}

// Transport moves encoded messages between nodes. Implementations are safe
// for concurrent use, and Send never blocks for longer than a bounded
// timeout, so a peer that does not answer cannot stall a gossip round.
type Transport interface {
	// Addr is the advertised host:port other nodes send to.
	Addr() string
	// Send delivers b to addr at most once, best effort, and takes
	// ownership of b: the caller must not modify it afterwards. Messages of up to
	// PacketSize bytes travel as one datagram; larger ones, up to
	// MaxMessageSize, on a stream connection. Send may return before
	// delivery; an error means the message was certainly not sent.
	Send(addr string, b []byte) error
	// Recv yields received messages until the transport is closed, when the
	// channel is closed.
	Recv() <-chan Packet
	// PacketSize is the largest message sent as a single datagram.
	PacketSize() int
	// MaxMessageSize is the largest message Send accepts.
	MaxMessageSize() int
	// Close stops every goroutine of the transport and releases its sockets.
	Close() error
}

// Errors a Transport returns.
var (
	ErrTooLarge        = errors.New("transport: message larger than the transport allows")
	ErrTransportClosed = errors.New("transport: transport closed")
	ErrQueueFull       = errors.New("transport: send queue full")
	// ErrTooManyStreams: a message needed a new stream connection while
	// NetConfig.MaxStreams senders were busy and none could be retired in time.
	ErrTooManyStreams = errors.New("transport: too many stream senders")
	// ErrUnknownDestination: a message too large for a datagram was addressed
	// to an address NetConfig.AllowStream refused.
	ErrUnknownDestination = errors.New("transport: stream to an unknown destination")
)
