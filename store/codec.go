package store

import (
	"encoding/binary"
	"fmt"
	"math"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Key prefixes. They are one byte plus a slash so that a prefix scan of one
// kind never runs into another and a hex dump of the store stays readable.
const (
	selfKey    = "m/self"
	cleanKey   = "m/clean" // present while the store is closed after a clean shutdown
	indexedKey = "m/runs"  // every record is named by a run of the version index (see ensureIndex)
	// legacyIndexedKey marked the index of one entry per record.
	legacyIndexedKey = "m/indexed"
	metaPrefix       = "p/"
	recordPrefix     = "r/"
	// removedPrefix marks peers removed (x/<id> -> generation, heartbeat).
	removedPrefix = "x/"
)

// flagTombstone is the only flag bit defined so far. Unknown bits are
// rejected on decode: a store written by a newer format must not be served
// as if we understood it.
const (
	flagTombstone byte = 1 << 0
	knownFlags         = flagTombstone
)

// maxIDLen is what the u16 length in a record key can describe.
const maxIDLen = math.MaxUint16

func metaKey(id string) []byte {
	k := make([]byte, 0, len(metaPrefix)+len(id))
	k = append(k, metaPrefix...)
	return append(k, id...)
}

// recordKeyLen is the encoded length of a record key; used to carve all keys
// of a batch out of one allocation.
func recordKeyLen(peer, key string) int {
	return len(recordPrefix) + 2 + len(peer) + len(key)
}

// appendPeerPrefix appends r/<u16 len><peer>. The length makes the prefixes
// of two peers prefix-free, so a prefix scan of "a" never yields records of
// "ab".
func appendPeerPrefix(dst []byte, peer string) []byte {
	dst = append(dst, recordPrefix...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(peer)))
	return append(dst, peer...)
}

func peerPrefix(peer string) []byte {
	return appendPeerPrefix(make([]byte, 0, len(recordPrefix)+2+len(peer)), peer)
}

func appendRecordKey(dst []byte, peer, key string) []byte {
	return append(appendPeerPrefix(dst, peer), key...)
}

// splitRecordKey returns the peer id and record key of a record key.
func splitRecordKey(k []byte) (peer, key string, err error) {
	if len(k) < len(recordPrefix)+2 || string(k[:len(recordPrefix)]) != recordPrefix {
		return "", "", fmt.Errorf("%w: record key %q too short", ErrCorrupt, k)
	}
	rest := k[len(recordPrefix):]
	n := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if n > len(rest) {
		return "", "", fmt.Errorf("%w: record key %q: peer id length %d exceeds key", ErrCorrupt, k, n)
	}
	return string(rest[:n]), string(rest[n:]), nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func recordValueLen(gen uint64, r *lsync.Record) int {
	return uvarintLen(gen) + uvarintLen(r.Version) + 1 + len(r.Value)
}

// appendRecordValue encodes generation, version, flags, value. The
// generation lives in the value rather than the key so that a new generation
// overwrites the old record of the same key in place instead of leaving it
// behind for the cleanup.
func appendRecordValue(dst []byte, gen uint64, r *lsync.Record) []byte {
	dst = binary.AppendUvarint(dst, gen)
	dst = binary.AppendUvarint(dst, r.Version)
	var flags byte
	if r.Tombstone {
		flags |= flagTombstone
	}
	dst = append(dst, flags)
	return append(dst, r.Value...)
}

// decodeRecordHeader decodes everything but the value, so that scans that
// only need the generation do not copy values.
func decodeRecordHeader(v []byte) (gen, version uint64, flags byte, rest []byte, err error) {
	gen, n := binary.Uvarint(v)
	if n <= 0 {
		return 0, 0, 0, nil, fmt.Errorf("%w: record generation", ErrCorrupt)
	}
	v = v[n:]
	version, n = binary.Uvarint(v)
	if n <= 0 {
		return 0, 0, 0, nil, fmt.Errorf("%w: record version", ErrCorrupt)
	}
	v = v[n:]
	if len(v) < 1 {
		return 0, 0, 0, nil, fmt.Errorf("%w: record flags missing", ErrCorrupt)
	}
	flags = v[0]
	if flags&^knownFlags != 0 {
		return 0, 0, 0, nil, fmt.Errorf("%w: unknown record flags %#x", ErrCorrupt, flags)
	}
	return gen, version, flags, v[1:], nil
}

// decodeRecordValue decodes a record value; the returned Value is a copy, as
// Badger's value buffers are only valid inside the transaction.
func decodeRecordValue(key string, v []byte) (gen uint64, r lsync.Record, err error) {
	gen, version, flags, rest, err := decodeRecordHeader(v)
	if err != nil {
		return 0, lsync.Record{}, err
	}
	r = lsync.Record{
		Key:       key,
		Version:   version,
		Tombstone: flags&flagTombstone != 0,
	}
	if len(rest) > 0 {
		r.Value = append([]byte(nil), rest...)
	}
	return gen, r, nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decoder reads length-prefixed fields and remembers the first error, so
// the decode functions read as a list of fields.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, field)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(field string) string {
	n := d.uvarint(field)
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: %s: length %d exceeds %d remaining bytes", ErrCorrupt, field, n, len(d.b))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) finish(what string) error {
	if d.err != nil {
		return fmt.Errorf("%s: %w", what, d.err)
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%s: %w: %d trailing bytes", what, ErrCorrupt, len(d.b))
	}
	return nil
}

// The id of a meta lives in its key; it is not repeated in the value.
func encodeMeta(m *lsync.PeerMeta) []byte {
	b := make([]byte, 0, 2+len(m.Alias)+len(m.Addr)+2*binary.MaxVarintLen64)
	b = appendString(b, m.Alias)
	b = appendString(b, m.Addr)
	b = binary.AppendUvarint(b, m.Generation)
	b = binary.AppendUvarint(b, m.MaxVersion)
	return binary.AppendUvarint(b, m.GCVersion)
}

func decodeMeta(id string, v []byte) (lsync.PeerMeta, error) {
	d := decoder{b: v}
	m := lsync.PeerMeta{ID: id}
	m.Alias = d.string("alias")
	m.Addr = d.string("addr")
	m.Generation = d.uvarint("generation")
	m.MaxVersion = d.uvarint("max version")
	m.GCVersion = d.uvarint("gc version")
	if err := d.finish(fmt.Sprintf("peer meta %q", id)); err != nil {
		return lsync.PeerMeta{}, err
	}
	return m, nil
}

func encodeSelf(s *SelfInfo) []byte {
	b := make([]byte, 0, 1+len(s.ID)+2*binary.MaxVarintLen64)
	b = appendString(b, s.ID)
	b = binary.AppendUvarint(b, s.Generation)
	return binary.AppendUvarint(b, s.Boot)
}

func decodeSelf(v []byte) (SelfInfo, error) {
	d := decoder{b: v}
	var s SelfInfo
	s.ID = d.string("id")
	s.Generation = d.uvarint("generation")
	s.Boot = d.uvarint("boot")
	if err := d.finish("self record"); err != nil {
		return SelfInfo{}, err
	}
	return s, nil
}

func removedKey(id string) []byte { return append([]byte(removedPrefix), id...) }

func encodeRemoved(gen, heartbeat uint64) []byte {
	b := binary.AppendUvarint(nil, gen)
	return binary.AppendUvarint(b, heartbeat)
}

func decodeRemoved(v []byte) (gen, heartbeat uint64, err error) {
	d := decoder{b: v}
	gen = d.uvarint("generation")
	heartbeat = d.uvarint("heartbeat")
	return gen, heartbeat, d.finish("removed marker")
}

// servable reports whether a record of generation gen at version ver (a
// tombstone if tomb) is one meta vouches for: of its generation (directly
// or through the node's relabel marker rl, nil if none), at or below its
// watermark, and not a tombstone collected at its horizon.
func servable(meta lsync.PeerMeta, rl *relabel, gen, ver uint64, tomb bool) bool {
	return ofGeneration(gen, meta.Generation, rl) && ver <= meta.MaxVersion && !(tomb && ver <= meta.GCVersion)
}
