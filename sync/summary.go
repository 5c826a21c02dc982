package sync

import "math/rand"

// Summary is a hash of what a full digest would tell a peer about data
// and membership: every member's id, address, generation, watermark,
// collection horizon and leave. Two nodes with the same summary have
// nothing to trade, so a quiet round sends the summary instead of a
// digest (docs/design.md, "Quiet rounds").
//
// Heartbeats are left out on purpose: they rise every interval on every
// node, so a summary that held them would never match. Liveness travels
// in beats to monitors.
// Ghosts are left out too: they are one node's guess, not yet shared
// state. The per-member hashes are added, so the order of the walk does
// not matter and no sort is needed.
func (s *State) Summary() uint64 {
	var sum uint64
	for _, p := range s.peers {
		if !p.ghost {
			sum += memberHash(p, s.shownGC(p))
		}
	}
	if sum == 0 {
		sum = 1 // 0 means "no summary" on the wire
	}
	return sum
}

// SummarySyn is a quiet round's Syn: the summary alone. Not even the
// local node's own entry rides along: its heartbeat goes to its monitors
// in beats, and the rest of the entry is in the summary.
func (s *State) SummarySyn() *Syn {
	return &Syn{Cluster: s.cfg.Cluster, From: s.cfg.Self.ID, Summary: s.Summary()}
}

// ProbeSyn is a probe's Syn (after a push): the summary, with the entries
// of the local node and of the nodes whose data changed within RecentMs,
// up to budget bytes. A receiver in step stays silent; one out of step
// takes it as an ordinary Syn, so that a node that missed the push finds
// the pushed node listed, and asks for its records in the SynAck.
func (s *State) ProbeSyn(budget int) *Syn {
	self := s.entryOf(s.self)
	d := []DigestEntry{self}
	budget -= entrySize(&self)
	for _, r := range s.recent {
		if s.cfg.RecentMs > 0 && r.touched+s.cfg.RecentMs < s.now {
			continue
		}
		e := s.entryOf(r.p)
		if sz := entrySize(&e); sz <= budget {
			d = append(d, e)
			budget -= sz
		}
	}
	return &Syn{Cluster: s.cfg.Cluster, From: s.cfg.Self.ID, Digest: d, Summary: s.Summary()}
}

// answerSummary answers a quiet round's Syn whose summary differs from
// the local one: with a full Syn of the local digest, which opens an
// ordinary exchange back to the sender. Full, not quiet-sized: a summary
// that differs means something is out of step, and a digest cut to a few
// entries would rarely show what.
func (s *State) answerSummary(rng *rand.Rand) Message {
	loud := s.loud
	s.loud = true
	syn := s.MakeSyn(rng)
	s.loud = loud
	return syn
}

// memberHash is FNV-1a over one member's summarised fields, with gc its
// horizon as digests show it (watermarks.go: a signed node's own may be
// ahead of what peers take until it signs it), finished with a 64-bit
// mixer so that sums of similar members do not collide in their low bits.
// It must not change between releases of the same protocol version: peers
// compare it.
func memberHash(p *peer, gc uint64) uint64 {
	h := uint64(fnvOffset)
	h = fnvString(h, p.meta.ID)
	h = fnvString(h, p.meta.Addr)
	h = fnvUint(h, p.meta.Generation)
	h = fnvUint(h, p.meta.MaxVersion)
	h = fnvUint(h, gc)
	if p.leaving {
		h = fnvUint(h, 1)
	} else {
		h = fnvUint(h, 0)
	}
	if p.recordSeq != 0 {
		// Only where records are signed: an unsigned cluster's summaries
		// stay as they were.
		h = fnvUint(h, p.recordSeq)
	}
	return mix64(h)
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnvString hashes a string and its length, so that "ab"+"c" and "a"+"bc"
// differ.
func fnvString(h uint64, v string) uint64 {
	for i := 0; i < len(v); i++ {
		h = (h ^ uint64(v[i])) * fnvPrime
	}
	return fnvUint(h, uint64(len(v)))
}

func fnvUint(h, v uint64) uint64 {
	for i := 0; i < 8; i++ {
		h = (h ^ (v & 0xff)) * fnvPrime
		v >>= 8
	}
	return h
}

// mix64 is the finaliser of SplitMix64.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
