package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/proof"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// The header: magic "LV" (0x4c56), protocol version, message type.
const (
	Magic           uint16 = 0x4c56
	ProtocolVersion uint8  = 1
	HeaderSize             = 4
)

// Decoding errors. A decoder returns one of them, wrapped with detail.
var (
	ErrBadMagic    = errors.New("wire: not a leviathan message (bad magic)")
	ErrBadVersion  = errors.New("wire: unsupported protocol version")
	ErrUnknownType = errors.New("wire: unknown message type")
	ErrMalformed   = errors.New("wire: malformed message")
	// ErrLimitExceeded is the core's own, so that one errors.Is covers a
	// record refused on receipt and one refused on a local write.
	ErrLimitExceeded  = lsync.ErrLimitExceeded
	ErrUnexpectedType = errors.New("wire: unexpected message type")
)

// maxSkipDepth bounds the nesting of unknown trailing fields a decoder
// skips: skipping recurses, and a deeply nested array of one-byte headers
// would otherwise cost about 128 bytes of stack per byte of message
// (hundreds of MB for a 4 MiB frame).
const maxSkipDepth = 8

// Encode serialises m behind the header.
func Encode(m lsync.Message) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(256)
	if err := EncodeTo(&buf, m); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// EncodeTo appends the encoding of m to buf.
func EncodeTo(buf *bytes.Buffer, m lsync.Message) error {
	var hdr [HeaderSize]byte
	binary.BigEndian.PutUint16(hdr[:2], Magic)
	hdr[2] = ProtocolVersion
	hdr[3] = byte(m.Type())
	buf.Write(hdr[:])
	enc := msgpack.NewEncoder(buf)
	var err error
	switch v := m.(type) {
	case *lsync.Syn:
		err = encodeSyn(enc, v)
	case *lsync.SynAck:
		err = encodeSynAck(enc, v)
	case *lsync.Ack:
		err = encodeAck(enc, v)
	case *lsync.BadCluster:
		err = encodeBadCluster(enc, v)
	case *lsync.Beat:
		err = encodeBeat(enc, v)
	case *lsync.Suspect:
		err = encodeSuspect(enc, v)
	case *lsync.Members:
		err = encodeMembers(enc, v)
	case *lsync.Push:
		err = encodePush(enc, v)
	default:
		err = fmt.Errorf("%w: %T", ErrUnknownType, m)
	}
	if err != nil {
		return fmt.Errorf("wire: encode %s: %w", m.Type(), err)
	}
	return nil
}

// PeekType reads the header only: what a message is, before paying for it.
func PeekType(b []byte) (lsync.MsgType, error) {
	if len(b) < HeaderSize {
		return 0, fmt.Errorf("%w: %d bytes, header needs %d", ErrMalformed, len(b), HeaderSize)
	}
	if m := binary.BigEndian.Uint16(b[:2]); m != Magic {
		return 0, fmt.Errorf("%w: %#04x", ErrBadMagic, m)
	}
	if v := b[2]; v != ProtocolVersion {
		return 0, fmt.Errorf("%w: %d (this node speaks %d)", ErrBadVersion, v, ProtocolVersion)
	}
	t := lsync.MsgType(b[3])
	switch t {
	case lsync.MsgSyn, lsync.MsgSynAck, lsync.MsgAck, lsync.MsgBadCluster, lsync.MsgBeat, lsync.MsgSuspect, lsync.MsgMembers, lsync.MsgPush:
		return t, nil
	}
	return 0, fmt.Errorf("%w: %d", ErrUnknownType, b[3])
}

// Decode parses a message with sync.DefaultLimits.
func Decode(b []byte) (lsync.Message, error) { return DecodeWith(b, lsync.DefaultLimits) }

// DecodeWith parses a message, rejecting anything over lim. It never panics
// on any input.
func DecodeWith(b []byte, lim lsync.Limits) (lsync.Message, error) {
	t, err := PeekType(b)
	if err != nil {
		return nil, err
	}
	d := &decoder{body: b[HeaderSize:], r: bytes.NewReader(b[HeaderSize:]), lim: lim}
	if d.lim.MaxDigestEntries <= 0 {
		d.lim.MaxDigestEntries = lsync.DefaultMaxDigestEntries
	}
	if d.lim.MaxNodeDeltas <= 0 {
		d.lim.MaxNodeDeltas = lsync.DefaultMaxNodeDeltas
	}
	// A *bytes.Reader is an io.ByteScanner, so msgpack reads it directly
	// without buffering ahead: d.r's position is the decoder's, and the
	// length checks below can peek at d.body there.
	d.dec = msgpack.NewDecoder(d.r)
	var m lsync.Message
	switch t {
	case lsync.MsgSyn:
		m, err = d.syn()
	case lsync.MsgSynAck:
		m, err = d.synAck()
	case lsync.MsgAck:
		m, err = d.ack()
	case lsync.MsgBadCluster:
		m, err = d.badCluster()
	case lsync.MsgBeat:
		m, err = d.beat()
	case lsync.MsgSuspect:
		m, err = d.suspect()
	case lsync.MsgMembers:
		m, err = d.members()
	case lsync.MsgPush:
		m, err = d.push()
	}
	if err != nil {
		return nil, fmt.Errorf("wire: decode %s: %w", t, err)
	}
	return m, nil
}

func encodeSyn(e *msgpack.Encoder, m *lsync.Syn) error {
	return firstErr(
		e.EncodeArrayLen(5),
		e.EncodeString(m.Cluster),
		e.EncodeString(m.From),
		e.EncodeBool(m.Complete),
		encodeDigest(e, m.Digest),
		e.EncodeUint(m.Summary),
	)
}

func encodeSynAck(e *msgpack.Encoder, m *lsync.SynAck) error {
	return firstErr(
		e.EncodeArrayLen(5),
		e.EncodeString(m.Cluster),
		e.EncodeString(m.From),
		encodeDigest(e, m.Digest),
		encodeDeltas(e, m.Deltas),
		e.EncodeBool(m.More),
	)
}

func encodeAck(e *msgpack.Encoder, m *lsync.Ack) error {
	return firstErr(
		e.EncodeArrayLen(4),
		e.EncodeString(m.Cluster),
		e.EncodeString(m.From),
		encodeDeltas(e, m.Deltas),
		e.EncodeBool(m.More),
	)
}

func encodePush(e *msgpack.Encoder, m *lsync.Push) error {
	return firstErr(
		e.EncodeArrayLen(4),
		e.EncodeString(m.Cluster),
		e.EncodeString(m.From),
		e.EncodeUint(uint64(m.Hops)),
		encodeDeltas(e, m.Deltas),
	)
}

func encodeBadCluster(e *msgpack.Encoder, m *lsync.BadCluster) error {
	return firstErr(e.EncodeArrayLen(1), e.EncodeString(m.Cluster))
}

func encodeBeat(e *msgpack.Encoder, m *lsync.Beat) error {
	// The proof is a trailing field, written only when set: an unsigned
	// beat is the five fields it always was.
	fields := 5
	if !m.Proof.IsZero() {
		fields = 6
	}
	if err := firstErr(
		e.EncodeArrayLen(fields),
		e.EncodeString(m.Cluster),
		e.EncodeString(m.From),
		e.EncodeUint(m.Generation),
		e.EncodeUint(m.Heartbeat),
		e.EncodeBool(m.Release),
	); err != nil || fields == 5 {
		return err
	}
	return e.EncodeBytes(m.Proof[:])
}

func encodeSuspect(e *msgpack.Encoder, m *lsync.Suspect) error {
	if err := firstErr(
		e.EncodeArrayLen(3),
		e.EncodeString(m.Cluster),
		e.EncodeString(m.From),
		e.EncodeArrayLen(len(m.Votes)),
	); err != nil {
		return err
	}
	for i := range m.Votes {
		v := &m.Votes[i]
		fields := 4
		switch {
		case len(v.Sig) > 0:
			fields = 7 // trailing fields: older decoders skip them
		case !v.Proof.IsZero():
			fields = 5
		}
		if err := firstErr(
			e.EncodeArrayLen(fields),
			e.EncodeString(v.ID),
			e.EncodeUint(v.Generation),
			e.EncodeUint(v.Heartbeat),
			e.EncodeString(v.By),
		); err != nil {
			return err
		}
		if fields >= 5 {
			if err := e.EncodeBytes(v.Proof[:]); err != nil {
				return err
			}
		}
		if fields == 7 {
			if err := firstErr(e.EncodeUint(v.Seq), e.EncodeBytes(v.Sig)); err != nil {
				return err
			}
		}
	}
	return nil
}

func encodeMembers(e *msgpack.Encoder, m *lsync.Members) error {
	// Records and wants are trailing fields, written only when there are
	// some: a decoder that predates them skips them, and a cluster that
	// does not sign sends the five fields it always did.
	fields := 5
	if len(m.Records) > 0 || len(m.Wants) > 0 {
		fields = 7
	}
	if err := firstErr(
		e.EncodeArrayLen(fields),
		e.EncodeString(m.Cluster),
		e.EncodeString(m.From),
		e.EncodeBool(m.Request),
		encodeDigest(e, m.Members),
		e.EncodeUint(uint64(m.Up)),
	); err != nil || fields == 5 {
		return err
	}
	if err := e.EncodeArrayLen(len(m.Records)); err != nil {
		return err
	}
	for _, r := range m.Records {
		if err := e.EncodeBytes(r); err != nil {
			return err
		}
	}
	if err := e.EncodeArrayLen(len(m.Wants)); err != nil {
		return err
	}
	for _, id := range m.Wants {
		if err := e.EncodeString(id); err != nil {
			return err
		}
	}
	return nil
}

func encodeDigest(e *msgpack.Encoder, d []lsync.DigestEntry) error {
	if err := e.EncodeArrayLen(len(d)); err != nil {
		return err
	}
	for i := range d {
		x := &d[i]
		// Trailing fields, written only when set: older decoders skip
		// them, and an unsigned cluster's entries are the eight fields
		// they always were. A proof needs the record seq before it.
		fields := 8
		switch {
		case !x.BeatProof.IsZero():
			fields = 10
		case x.RecordSeq != 0:
			fields = 9
		}
		if err := firstErr(
			e.EncodeArrayLen(fields),
			e.EncodeString(x.ID),
			e.EncodeString(x.Alias),
			e.EncodeString(x.Addr),
			e.EncodeUint(x.Generation),
			e.EncodeUint(x.Heartbeat),
			e.EncodeUint(x.MaxVersion),
			e.EncodeUint(x.GCVersion),
			e.EncodeBool(x.Leaving),
		); err != nil {
			return err
		}
		if fields >= 9 {
			if err := e.EncodeUint(x.RecordSeq); err != nil {
				return err
			}
		}
		if fields == 10 {
			if err := e.EncodeBytes(x.BeatProof[:]); err != nil {
				return err
			}
		}
	}
	return nil
}

func encodeDeltas(e *msgpack.Encoder, ds []lsync.NodeDelta) error {
	if err := e.EncodeArrayLen(len(ds)); err != nil {
		return err
	}
	for i := range ds {
		nd := &ds[i]
		// The proofs are a trailing field, written only when there are
		// some: an unsigned cluster's deltas are the eight fields they
		// always were, and older decoders skip it.
		fields := 8
		if len(nd.Proofs) > 0 {
			fields = 9
		}
		if err := firstErr(
			e.EncodeArrayLen(fields),
			e.EncodeString(nd.ID),
			e.EncodeUint(nd.Generation),
			e.EncodeUint(nd.From),
			e.EncodeUint(nd.To),
			e.EncodeUint(nd.GCVersion),
			e.EncodeUint(nd.Clean),
			e.EncodeBool(nd.Reset),
			e.EncodeArrayLen(len(nd.Records)),
		); err != nil {
			return err
		}
		for j := range nd.Records {
			r := &nd.Records[j]
			if err := firstErr(
				e.EncodeArrayLen(4),
				e.EncodeString(r.Key),
				e.EncodeBytes(r.Value),
				e.EncodeUint(r.Version),
				e.EncodeBool(r.Tombstone),
			); err != nil {
				return err
			}
		}
		if fields == 9 {
			if err := encodeRecordProofs(e, nd.Proofs); err != nil {
				return err
			}
		}
	}
	return nil
}

// encodeRecordProofs writes a delta's proofs: an array of bins, each a
// proof's wire form (proof.AppendWire).
func encodeRecordProofs(e *msgpack.Encoder, ps []*proof.Proof) error {
	if err := e.EncodeArrayLen(len(ps)); err != nil {
		return err
	}
	var buf []byte
	for _, p := range ps {
		var err error
		if buf, err = p.AppendWire(buf[:0]); err != nil {
			return err
		}
		if err := e.EncodeBytes(buf); err != nil {
			return err
		}
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// decoder wraps msgpack's with the bounds checks a network input needs.
type decoder struct {
	body []byte // the message after the header
	r    *bytes.Reader
	dec  *msgpack.Decoder
	lim  lsync.Limits
}

// peekLen returns the length that the str, bin or ext header at the current
// position declares (0 for nil), and the size of that header, without
// consuming anything. ok is false for any other type.
func (d *decoder) peekLen() (n, hdr int, ok bool, err error) {
	rest := d.body[len(d.body)-d.r.Len():]
	if len(rest) == 0 {
		return 0, 0, false, fmt.Errorf("%w: unexpected end of message", ErrMalformed)
	}
	size := func(width, extra int) (int, int, bool, error) {
		if len(rest) < 1+width {
			return 0, 0, false, fmt.Errorf("%w: truncated length", ErrMalformed)
		}
		var v uint64
		for _, c := range rest[1 : 1+width] {
			v = v<<8 | uint64(c)
		}
		return int(v) + extra, 1 + width, true, nil
	}
	switch c := rest[0]; {
	case c == msgpcode.Nil:
		return 0, 1, true, nil
	case msgpcode.IsFixedString(c):
		return int(c & msgpcode.FixedStrMask), 1, true, nil
	case c == msgpcode.Str8, c == msgpcode.Bin8:
		return size(1, 0)
	case c == msgpcode.Str16, c == msgpcode.Bin16:
		return size(2, 0)
	case c == msgpcode.Str32, c == msgpcode.Bin32:
		return size(4, 0)
	case c == msgpcode.Ext8:
		return size(1, 1) // the type byte follows the length
	case c == msgpcode.Ext16:
		return size(2, 1)
	case c == msgpcode.Ext32:
		return size(4, 1)
	}
	return 0, 0, false, nil
}

// checkLen rejects a str or bin at the current position that is longer than
// max or than the bytes left, before msgpack allocates for it (it would
// allocate the declared length of a bin in full).
func (d *decoder) checkLen(max int, what string) error {
	n, hdr, ok, err := d.peekLen()
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	case !ok:
		return nil // not a string: msgpack reports the type error
	case n > max:
		return fmt.Errorf("%w: %s of %d bytes (max %d)", ErrLimitExceeded, what, n, max)
	case n > d.r.Len()-hdr:
		return fmt.Errorf("%w: %s of %d bytes, only %d left", ErrMalformed, what, n, d.r.Len()-hdr)
	}
	return nil
}

// array reads an array header of a struct with at least min fields and
// returns how many trailing fields to skip.
func (d *decoder) array(min int) (extra int, err error) {
	n, err := d.dec.DecodeArrayLen()
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if n < min {
		return 0, fmt.Errorf("%w: %d fields, want %d", ErrMalformed, n, min)
	}
	return n - min, nil
}

// list reads the length of a list whose elements take at least minElem
// bytes each: a count the remaining bytes cannot hold is rejected before
// anything is allocated for it.
func (d *decoder) list(minElem int) (int, error) {
	n, err := d.dec.DecodeArrayLen()
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if n < 0 {
		return 0, nil // nil list
	}
	if n*minElem > d.r.Len() {
		return 0, fmt.Errorf("%w: list of %d does not fit in %d bytes", ErrMalformed, n, d.r.Len())
	}
	return n, nil
}

// boundedList is list with a maximum count as well.
func (d *decoder) boundedList(minElem, max int, what string) (int, error) {
	n, err := d.list(minElem)
	if err == nil && n > max {
		return 0, fmt.Errorf("%w: %d %s (max %d)", ErrLimitExceeded, n, what, max)
	}
	return n, err
}

// skip skips n trailing fields a newer sender may have added.
func (d *decoder) skip(n int) error {
	for i := 0; i < n; i++ {
		if err := d.skipValue(0); err != nil {
			return err
		}
	}
	return nil
}

// skipValue skips one value with the same bounds as decoding: counts and
// lengths checked against the bytes left, nesting at most maxSkipDepth.
func (d *decoder) skipValue(depth int) error {
	if depth > maxSkipDepth {
		return fmt.Errorf("%w: unknown field nested deeper than %d", ErrMalformed, maxSkipDepth)
	}
	c, err := d.dec.PeekCode()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	elems := 0
	switch {
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := d.dec.DecodeArrayLen()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		elems = n
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := d.dec.DecodeMapLen()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		elems = 2 * n
	default:
		if n, hdr, ok, err := d.peekLen(); err != nil {
			return err
		} else if ok && n > d.r.Len()-hdr {
			return fmt.Errorf("%w: field of %d bytes, only %d left", ErrMalformed, n, d.r.Len()-hdr)
		}
		if err := d.dec.Skip(); err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return nil
	}
	if elems > d.r.Len() {
		return fmt.Errorf("%w: %d elements do not fit in %d bytes", ErrMalformed, elems, d.r.Len())
	}
	for i := 0; i < elems; i++ {
		if err := d.skipValue(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) str(max int, what string) (string, error) {
	if err := d.checkLen(max, what); err != nil {
		return "", err
	}
	s, err := d.dec.DecodeString()
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	if len(s) > max {
		return "", fmt.Errorf("%w: %s of %d bytes (max %d)", ErrLimitExceeded, what, len(s), max)
	}
	return s, nil
}

func (d *decoder) uint(what string) (uint64, error) {
	v, err := d.dec.DecodeUint64()
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	return v, nil
}

func (d *decoder) bool(what string) (bool, error) {
	v, err := d.dec.DecodeBool()
	if err != nil {
		return false, fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	return v, nil
}

func (d *decoder) syn() (*lsync.Syn, error) {
	extra, err := d.array(4)
	if err != nil {
		return nil, err
	}
	m := &lsync.Syn{}
	if m.Cluster, m.From, err = d.route(); err != nil {
		return nil, err
	}
	if m.Complete, err = d.bool("complete"); err != nil {
		return nil, err
	}
	if m.Digest, err = d.digest(); err != nil {
		return nil, err
	}
	if extra > 0 {
		// A Syn of four fields (no summary) is an ordinary one.
		if m.Summary, err = d.uint("summary"); err != nil {
			return nil, err
		}
		extra--
	}
	return m, d.skip(extra)
}

func (d *decoder) members() (*lsync.Members, error) {
	extra, err := d.array(5)
	if err != nil {
		return nil, err
	}
	m := &lsync.Members{}
	if m.Cluster, m.From, err = d.route(); err != nil {
		return nil, err
	}
	if m.Request, err = d.bool("request"); err != nil {
		return nil, err
	}
	if m.Members, err = d.digest(); err != nil {
		return nil, err
	}
	up, err := d.uint("up")
	if err != nil {
		return nil, err
	}
	m.Up = int(min(up, uint64(len(m.Members))))
	if extra > 0 {
		if m.Records, err = d.nodeRecords(); err != nil {
			return nil, err
		}
		extra--
	}
	if extra > 0 {
		if m.Wants, err = d.wants(); err != nil {
			return nil, err
		}
		extra--
	}
	return m, d.skip(extra)
}

// nodeRecords reads Members.Records: each an opaque node record, bounded
// in size here and parsed by whoever checks it.
func (d *decoder) nodeRecords() ([][]byte, error) {
	n, err := d.boundedList(minNodeRecordBytes, lsync.MaxMessageRecords, "node records")
	if err != nil || n == 0 {
		return nil, err
	}
	out := make([][]byte, n)
	for i := range out {
		if err := d.checkLen(identity.MaxNodeRecordSize, "node record"); err != nil {
			return nil, fmt.Errorf("node record %d: %w", i, err)
		}
		if out[i], err = d.dec.DecodeBytes(); err != nil {
			return nil, fmt.Errorf("%w: node record %d: %v", ErrMalformed, i, err)
		}
		if len(out[i]) > identity.MaxNodeRecordSize {
			return nil, fmt.Errorf("%w: node record %d of %d bytes (max %d)", ErrLimitExceeded, i, len(out[i]), identity.MaxNodeRecordSize)
		}
	}
	return out, nil
}

// wants reads Members.Wants: node ids.
func (d *decoder) wants() ([]string, error) {
	n, err := d.boundedList(1, lsync.MaxMessageWants, "wanted records")
	if err != nil || n == 0 {
		return nil, err
	}
	out := make([]string, n)
	for i := range out {
		if out[i], err = d.str(d.lim.MaxIDBytes, "wanted id"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (d *decoder) synAck() (*lsync.SynAck, error) {
	extra, err := d.array(5)
	if err != nil {
		return nil, err
	}
	m := &lsync.SynAck{}
	if m.Cluster, m.From, err = d.route(); err != nil {
		return nil, err
	}
	if m.Digest, err = d.digest(); err != nil {
		return nil, err
	}
	if m.Deltas, err = d.deltas(); err != nil {
		return nil, err
	}
	if m.More, err = d.bool("more"); err != nil {
		return nil, err
	}
	return m, d.skip(extra)
}

func (d *decoder) ack() (*lsync.Ack, error) {
	extra, err := d.array(4)
	if err != nil {
		return nil, err
	}
	m := &lsync.Ack{}
	if m.Cluster, m.From, err = d.route(); err != nil {
		return nil, err
	}
	if m.Deltas, err = d.deltas(); err != nil {
		return nil, err
	}
	if m.More, err = d.bool("more"); err != nil {
		return nil, err
	}
	return m, d.skip(extra)
}

func (d *decoder) push() (*lsync.Push, error) {
	extra, err := d.array(4)
	if err != nil {
		return nil, err
	}
	m := &lsync.Push{}
	if m.Cluster, m.From, err = d.route(); err != nil {
		return nil, err
	}
	hops, err := d.uint("hops")
	if err != nil {
		return nil, err
	}
	if hops > 255 {
		return nil, fmt.Errorf("%w: %d hops", ErrMalformed, hops)
	}
	m.Hops = uint8(hops)
	if m.Deltas, err = d.deltas(); err != nil {
		return nil, err
	}
	return m, d.skip(extra)
}

// route reads the cluster and sender every message but BadCluster starts with.
func (d *decoder) route() (cluster, from string, err error) {
	if cluster, err = d.str(d.lim.MaxIDBytes, "cluster"); err != nil {
		return "", "", err
	}
	from, err = d.str(d.lim.MaxIDBytes, "from")
	return cluster, from, err
}

func (d *decoder) badCluster() (*lsync.BadCluster, error) {
	extra, err := d.array(1)
	if err != nil {
		return nil, err
	}
	m := &lsync.BadCluster{}
	if m.Cluster, err = d.str(d.lim.MaxIDBytes, "cluster"); err != nil {
		return nil, err
	}
	return m, d.skip(extra)
}

func (d *decoder) beat() (*lsync.Beat, error) {
	extra, err := d.array(5)
	if err != nil {
		return nil, err
	}
	m := &lsync.Beat{}
	if m.Cluster, m.From, err = d.route(); err != nil {
		return nil, err
	}
	if m.Generation, err = d.uint("generation"); err != nil {
		return nil, err
	}
	if m.Heartbeat, err = d.uint("heartbeat"); err != nil {
		return nil, err
	}
	if m.Release, err = d.bool("release"); err != nil {
		return nil, err
	}
	if extra > 0 {
		if err := d.proof(&m.Proof); err != nil {
			return nil, err
		}
		extra--
	}
	return m, d.skip(extra)
}

// MaxVotes bounds the votes of one Suspect message; a sender puts far
// fewer in one datagram.
const MaxVotes = 256

func (d *decoder) suspect() (*lsync.Suspect, error) {
	extra, err := d.array(3)
	if err != nil {
		return nil, err
	}
	m := &lsync.Suspect{}
	if m.Cluster, m.From, err = d.route(); err != nil {
		return nil, err
	}
	n, err := d.boundedList(minVoteBytes, MaxVotes, "votes")
	if err != nil {
		return nil, err
	}
	if n > 0 {
		m.Votes = make([]lsync.Vote, n)
	}
	for i := range m.Votes {
		if err := d.vote(&m.Votes[i]); err != nil {
			return nil, fmt.Errorf("vote %d: %w", i, err)
		}
	}
	return m, d.skip(extra)
}

func (d *decoder) vote(v *lsync.Vote) error {
	extra, err := d.array(4)
	if err != nil {
		return err
	}
	if v.ID, err = d.str(d.lim.MaxIDBytes, "id"); err != nil {
		return err
	}
	if v.Generation, err = d.uint("generation"); err != nil {
		return err
	}
	if v.Heartbeat, err = d.uint("heartbeat"); err != nil {
		return err
	}
	if v.By, err = d.str(d.lim.MaxIDBytes, "by"); err != nil {
		return err
	}
	if extra > 0 {
		if err := d.proof(&v.Proof); err != nil {
			return err
		}
		extra--
	}
	if extra >= 2 {
		if v.Seq, err = d.uint("vote seq"); err != nil {
			return err
		}
		if err := d.checkLen(MaxVoteSigBytes, "vote signature"); err != nil {
			return err
		}
		if v.Sig, err = d.dec.DecodeBytes(); err != nil {
			return fmt.Errorf("%w: vote signature: %v", ErrMalformed, err)
		}
		if len(v.Sig) > MaxVoteSigBytes {
			return fmt.Errorf("%w: vote signature of %d bytes (max %d)", ErrLimitExceeded, len(v.Sig), MaxVoteSigBytes)
		}
		extra -= 2
	}
	return d.skip(extra)
}

// MaxVoteSigBytes bounds a vote's signature: an ed25519 signature is 64
// bytes; what a signature is, is the engine's to judge.
const MaxVoteSigBytes = 64

// Smallest encodings, used to bound list lengths before allocating.
const (
	minEntryBytes  = 9 // fixarray + 3 empty strings + 4 fixints + bool
	minDeltaBytes  = 9
	minRecordBytes = 5
	minVoteBytes   = 5 // fixarray + 2 empty strings + 2 fixints
	// minNodeRecordBytes is a bin header: what a node record is, is not
	// the codec's to judge.
	minNodeRecordBytes = 1
)

func (d *decoder) digest() ([]lsync.DigestEntry, error) {
	n, err := d.boundedList(minEntryBytes, d.lim.MaxDigestEntries, "digest entries")
	if err != nil || n == 0 {
		return nil, err
	}
	out := make([]lsync.DigestEntry, n)
	for i := range out {
		if err := d.entry(&out[i]); err != nil {
			return nil, fmt.Errorf("digest entry %d: %w", i, err)
		}
	}
	return out, nil
}

func (d *decoder) entry(x *lsync.DigestEntry) error {
	extra, err := d.array(8)
	if err != nil {
		return err
	}
	if x.ID, err = d.str(d.lim.MaxIDBytes, "id"); err != nil {
		return err
	}
	if x.Alias, err = d.str(d.lim.MaxIDBytes, "alias"); err != nil {
		return err
	}
	if x.Addr, err = d.str(d.lim.MaxIDBytes, "addr"); err != nil {
		return err
	}
	if x.Generation, err = d.uint("generation"); err != nil {
		return err
	}
	if x.Heartbeat, err = d.uint("heartbeat"); err != nil {
		return err
	}
	if x.MaxVersion, err = d.uint("max version"); err != nil {
		return err
	}
	if x.GCVersion, err = d.uint("gc version"); err != nil {
		return err
	}
	if x.Leaving, err = d.bool("leaving"); err != nil {
		return err
	}
	if extra > 0 {
		if x.RecordSeq, err = d.uint("record seq"); err != nil {
			return err
		}
		extra--
	}
	if extra > 0 {
		if err := d.proof(&x.BeatProof); err != nil {
			return err
		}
		extra--
	}
	return d.skip(extra)
}

// proof reads a heartbeat proof: a bin of exactly its size.
func (d *decoder) proof(p *lsync.BeatProof) error {
	if err := d.checkLen(len(p), "beat proof"); err != nil {
		return err
	}
	b, err := d.dec.DecodeBytes()
	if err != nil {
		return fmt.Errorf("%w: beat proof: %v", ErrMalformed, err)
	}
	if len(b) != len(p) {
		return fmt.Errorf("%w: beat proof of %d bytes, want %d", ErrMalformed, len(b), len(p))
	}
	copy(p[:], b)
	return nil
}

func (d *decoder) deltas() ([]lsync.NodeDelta, error) {
	n, err := d.boundedList(minDeltaBytes, d.lim.MaxNodeDeltas, "node deltas")
	if err != nil || n == 0 {
		return nil, err
	}
	out := make([]lsync.NodeDelta, n)
	for i := range out {
		if err := d.delta(&out[i]); err != nil {
			return nil, fmt.Errorf("delta %d: %w", i, err)
		}
	}
	return out, nil
}

func (d *decoder) delta(nd *lsync.NodeDelta) error {
	extra, err := d.array(8)
	if err != nil {
		return err
	}
	if nd.ID, err = d.str(d.lim.MaxIDBytes, "id"); err != nil {
		return err
	}
	if nd.Generation, err = d.uint("generation"); err != nil {
		return err
	}
	if nd.From, err = d.uint("from"); err != nil {
		return err
	}
	if nd.To, err = d.uint("to"); err != nil {
		return err
	}
	if nd.GCVersion, err = d.uint("gc version"); err != nil {
		return err
	}
	if nd.Clean, err = d.uint("clean"); err != nil {
		return err
	}
	if nd.Reset, err = d.bool("reset"); err != nil {
		return err
	}
	n, err := d.list(minRecordBytes)
	if err != nil {
		return err
	}
	if n > 0 {
		nd.Records = make([]lsync.Record, n)
		for i := range nd.Records {
			if err := d.record(&nd.Records[i]); err != nil {
				return fmt.Errorf("record %d: %w", i, err)
			}
		}
	}
	if extra > 0 {
		if nd.Proofs, err = d.recordProofs(nd); err != nil {
			return err
		}
		extra--
	}
	return d.skip(extra)
}

// minProofBytes is the smallest proof: a bin header and the wire form's
// fixed part (an array header, three one-byte integers, the signature's
// bin, an empty-but-for-one-span list and an empty hashes bin).
const minProofBytes = 2 + 1 + 3 + 2 + proof.SignatureSize + 3 + 2

// recordProofs reads a delta's proofs, each parsed for the delta's node
// and generation. Each proves at least one record, so a delta holds no
// more proofs than records.
func (d *decoder) recordProofs(nd *lsync.NodeDelta) ([]*proof.Proof, error) {
	n, err := d.boundedList(minProofBytes, len(nd.Records), "record proofs")
	if err != nil || n == 0 {
		return nil, err
	}
	out := make([]*proof.Proof, n)
	for i := range out {
		if err := d.checkLen(d.r.Len(), "record proof"); err != nil {
			return nil, fmt.Errorf("record proof %d: %w", i, err)
		}
		b, err := d.dec.DecodeBytes()
		if err != nil {
			return nil, fmt.Errorf("%w: record proof %d: %v", ErrMalformed, i, err)
		}
		if out[i], err = proof.Parse(b, nd.ID, nd.Generation); err != nil {
			return nil, fmt.Errorf("%w: record proof %d: %v", ErrMalformed, i, err)
		}
	}
	return out, nil
}

func (d *decoder) record(r *lsync.Record) error {
	extra, err := d.array(4)
	if err != nil {
		return err
	}
	if r.Key, err = d.str(d.lim.MaxKeyBytes, "key"); err != nil {
		return err
	}
	if err := d.checkLen(d.lim.MaxValueBytes, "value"); err != nil {
		return err
	}
	v, err := d.dec.DecodeBytes()
	if err != nil {
		return fmt.Errorf("%w: value: %v", ErrMalformed, err)
	}
	if len(v) > d.lim.MaxValueBytes {
		return fmt.Errorf("%w: value of %d bytes (max %d)", ErrLimitExceeded, len(v), d.lim.MaxValueBytes)
	}
	r.Value = v
	if r.Version, err = d.uint("version"); err != nil {
		return err
	}
	if r.Tombstone, err = d.bool("tombstone"); err != nil {
		return err
	}
	return d.skip(extra)
}
