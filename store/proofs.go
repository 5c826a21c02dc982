package store

import (
	"encoding/binary"
	"fmt"

	"github.com/leviathan-gossip/leviathan/sync/proof"
)

// proofPrefix keys what the store holds of each signed batch of a node's
// records (package sync/proof): the proof of the batch's records it
// holds, their versions and leaf hashes.
//
//	s/<u16 BE len(id)><id><u64 BE last><u64 BE first> ->
//	    uvarint generation, root (32 bytes),
//	    uvarint n, the proof's wire form (n bytes, proof.AppendWire),
//	    versions: 0 when each held record's version is first plus its
//	    index in the batch, else 1 and one uvarint gap per held record
//	    (from first for the first), then a leaf hash (32 bytes) per held
//	    record, in version order
//
// Keyed by its last version like a run of the version index, a seek to
// version v lands on the batch that can hold v. The leaf hashes are what
// lets the store cut the proof of any slice of the batch without reading
// the batch's other records; the root, that it rebuilds the batch's tree
// without hashing the records' leaves into it once more to check them.
//
// A proof entry is written in the transaction that writes the records it
// adds, so no crash leaves a record written with its proof readable
// without it, nor a proof of a record never written. Records overwritten
// or collected later stay in their batch's entry until the proof sweep
// (GC) cuts them out or deletes the entry: a reader serves a record's
// proof only if the record is there at that version and its leaf hash
// is the one the entry holds, so an entry is a hint, like the index.
const proofPrefix = "s/"

// proofKeyExtra is how much a proof key adds to its peer prefix.
const proofKeyExtra = 16

// leafSize is the size of a stored leaf hash.
const leafSize = len(proof.Hash{})

func appendProofPeerPrefix(dst []byte, peer string) []byte {
	dst = append(dst, proofPrefix...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(peer)))
	return append(dst, peer...)
}

func proofPeerPrefix(peer string) []byte {
	return appendProofPeerPrefix(make([]byte, 0, len(proofPrefix)+2+len(peer)), peer)
}

func proofKey(peer string, last, first uint64) []byte {
	k := appendProofPeerPrefix(make([]byte, 0, len(proofPrefix)+2+len(peer)+proofKeyExtra), peer)
	k = binary.BigEndian.AppendUint64(k, last)
	return binary.BigEndian.AppendUint64(k, first)
}

// proofSeekKey sorts before every proof key of peer whose last version is
// v or above.
func proofSeekKey(peer string, v uint64) []byte {
	return binary.BigEndian.AppendUint64(proofPeerPrefix(peer), v)
}

// splitProofKey returns the peer, last and first versions of a proof key.
func splitProofKey(k []byte) (peer string, last, first uint64, err error) {
	rest := k[len(proofPrefix):]
	if len(rest) < 2 {
		return "", 0, 0, fmt.Errorf("%w: proof key %q too short", ErrCorrupt, k)
	}
	n := int(binary.BigEndian.Uint16(rest))
	if len(rest) != 2+n+proofKeyExtra {
		return "", 0, 0, fmt.Errorf("%w: proof key %q has the wrong length", ErrCorrupt, k)
	}
	peer = string(rest[2 : 2+n])
	last = binary.BigEndian.Uint64(rest[2+n:])
	first = binary.BigEndian.Uint64(rest[2+n+8:])
	return peer, last, first, nil
}

// heldBatch is what the store holds of one signed batch: the proof of the
// records it holds, with its root, and their versions and leaf hashes in
// version order.
type heldBatch struct {
	p        *proof.Proof
	versions []uint64
	leaves   []proof.Hash
}

func (h *heldBatch) key() []byte { return proofKey(h.p.Origin, h.p.Last, h.p.First) }

// indexed reports whether each held record's version is the batch's first
// plus its index in the batch, as a counter's batches have it: then the
// versions need not be stored.
func (h *heldBatch) indexed() bool {
	j := 0
	for _, s := range h.p.Held {
		for i := s.Lo; i < s.Hi; i++ {
			if h.versions[j] != h.p.First+uint64(i) {
				return false
			}
			j++
		}
	}
	return true
}

func (h *heldBatch) encode() ([]byte, error) {
	indexed := h.indexed()
	wire := h.p.WireSize()
	n := 2*binary.MaxVarintLen64 + leafSize + wire + 1 + len(h.leaves)*leafSize
	if !indexed {
		n += len(h.versions) * binary.MaxVarintLen64
	}
	b := make([]byte, 0, n)
	b = binary.AppendUvarint(b, h.p.Generation)
	b = append(b, h.p.Header.Root[:]...)
	b = binary.AppendUvarint(b, uint64(wire))
	b, err := h.p.AppendWire(b)
	if err != nil {
		return nil, err
	}
	if indexed {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		prev := h.p.First
		for _, v := range h.versions {
			b = binary.AppendUvarint(b, v-prev)
			prev = v
		}
	}
	for i := range h.leaves {
		b = append(b, h.leaves[i][:]...)
	}
	return b, nil
}

// decodeHeld decodes a proof entry of peer. It checks the entry's form,
// not its hashes: NewTree does, and a reader that finds them wrong serves
// no proof.
func decodeHeld(peer string, v []byte) (*heldBatch, error) {
	d := decoder{b: v}
	gen := d.uvarint("proof generation")
	if d.err == nil && len(d.b) < leafSize {
		d.err = fmt.Errorf("%w: proof root", ErrCorrupt)
	}
	if d.err != nil {
		return nil, d.err
	}
	var root proof.Hash
	copy(root[:], d.b)
	d.b = d.b[leafSize:]
	wl := d.uvarint("proof length")
	if d.err == nil && wl >= uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: proof of %d bytes in %d", ErrCorrupt, wl, len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	p, err := proof.Parse(d.b[:wl], peer, gen)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	p.Header.Root = root
	d.b = d.b[wl:]
	h := &heldBatch{p: p, versions: make([]uint64, 0, p.Len())}
	flag := d.b[0]
	d.b = d.b[1:]
	switch flag {
	case 0:
		for _, s := range p.Held {
			for i := s.Lo; i < s.Hi; i++ {
				h.versions = append(h.versions, p.First+uint64(i))
			}
		}
	case 1:
		prev := p.First
		for range p.Len() {
			v := prev + d.uvarint("proof version")
			if d.err == nil && (v > p.Last || v < prev || (v == prev && len(h.versions) > 0)) {
				d.err = fmt.Errorf("%w: proof version %d after %d, batch to %d", ErrCorrupt, v, prev, p.Last)
			}
			if d.err != nil {
				return nil, d.err
			}
			h.versions = append(h.versions, v)
			prev = v
		}
	default:
		return nil, fmt.Errorf("%w: proof versions flag %d", ErrCorrupt, flag)
	}
	if len(d.b) != len(h.versions)*leafSize {
		return nil, fmt.Errorf("%w: %d bytes of leaf hashes for %d records", ErrCorrupt, len(d.b), len(h.versions))
	}
	h.leaves = make([]proof.Hash, len(h.versions))
	for i := range h.leaves {
		copy(h.leaves[i][:], d.b[i*leafSize:])
	}
	return h, nil
}

// subset is what h holds of its first k records (0 < k <= len).
func (h *heldBatch) subset(k int) (*heldBatch, error) {
	if k == len(h.versions) {
		return h, nil
	}
	return h.keep([]proof.Span{{Lo: 0, Hi: k}})
}

// keep is what h holds of the records at positions keep.
func (h *heldBatch) keep(keep []proof.Span) (*heldBatch, error) {
	p, leaves, err := h.p.Subset(h.leaves, keep)
	if err != nil {
		return nil, err
	}
	out := &heldBatch{p: p, leaves: leaves, versions: make([]uint64, 0, len(leaves))}
	for _, s := range keep {
		out.versions = append(out.versions, h.versions[s.Lo:s.Hi]...)
	}
	return out, nil
}

// merge is what a and b, two holdings of the same signed batch, hold
// together; nil if they disagree (a batch whose versions do not ascend
// with its indices, which no honest origin signs).
func merge(a, b *heldBatch) *heldBatch {
	p, leaves, err := proof.Merge(a.p, a.leaves, b.p, b.leaves)
	if err != nil {
		return nil
	}
	ai, bi := heldIndices(a.p), heldIndices(b.p)
	av, bv := a.versions, b.versions
	out := &heldBatch{p: p, leaves: leaves, versions: make([]uint64, 0, len(leaves))}
	for len(ai) > 0 || len(bi) > 0 {
		var v uint64
		switch {
		case len(bi) == 0 || len(ai) > 0 && ai[0] < bi[0]:
			v, ai, av = av[0], ai[1:], av[1:]
		case len(ai) == 0 || bi[0] < ai[0]:
			v, bi, bv = bv[0], bi[1:], bv[1:]
		default:
			if av[0] != bv[0] {
				return nil
			}
			v, ai, av, bi, bv = av[0], ai[1:], av[1:], bi[1:], bv[1:]
		}
		if n := len(out.versions); n > 0 && v <= out.versions[n-1] {
			return nil
		}
		out.versions = append(out.versions, v)
	}
	if len(out.versions) != len(out.leaves) {
		return nil
	}
	return out
}

// heldIndices lists the batch indices p holds.
func heldIndices(p *proof.Proof) []int {
	out := make([]int, 0, p.Len())
	for _, s := range p.Held {
		for i := s.Lo; i < s.Hi; i++ {
			out = append(out, i)
		}
	}
	return out
}

// deleteProofs deletes every proof entry of peer. The caller holds wmu.
func (b *Badger) deleteProofs(peer string) error {
	return b.deletePrefix(proofPeerPrefix(peer))
}
