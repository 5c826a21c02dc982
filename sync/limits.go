package sync

import "errors"

// ErrLimitExceeded is returned for anything over Limits: a local write, or
// a received message rejected by the decoder in package sync/wire, which
// returns this same error so that one errors.Is covers both.
var ErrLimitExceeded = errors.New("sync: message exceeds a size limit")

// Limits bound what the decoder (package sync/wire) accepts, so that a few
// hostile bytes cannot make a node allocate much more than the message
// itself. The core checks the deltas it receives and local writes against
// them as well (Config.Limits).
//
// Every length a message declares — of a string, a value, a list — is
// checked against these limits and against the bytes actually left in the
// message before anything is allocated for it, so decoding a message costs
// at most a small multiple of its own size whatever it claims.
type Limits struct {
	MaxKeyBytes   int // longest key
	MaxValueBytes int // longest value
	MaxIDBytes    int // longest node id, alias, address or cluster name
	// MaxDigestEntries bounds the digest of one message; 0 means
	// DefaultMaxDigestEntries. A digest is sized to fit a datagram, so a
	// legitimate one never has more than transport.MaxUDPPayload/7 entries.
	MaxDigestEntries int
	// MaxNodeDeltas bounds the node deltas (one per node) of one message;
	// 0 means DefaultMaxNodeDeltas.
	MaxNodeDeltas int
}

// Defaults of the list limits: far above what a legitimate message carries.
const (
	DefaultMaxDigestEntries = 16384
	DefaultMaxNodeDeltas    = 65536
)

// DefaultLimits are the decoder limits unless configured otherwise.
var DefaultLimits = Limits{MaxKeyBytes: 4 << 10, MaxValueBytes: 1 << 20, MaxIDBytes: 255,
	MaxDigestEntries: DefaultMaxDigestEntries, MaxNodeDeltas: DefaultMaxNodeDeltas}
