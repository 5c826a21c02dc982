package sync

import (
	"cmp"
	"slices"
	"strings"
)

// PushDeltas returns, as node deltas, the records that committing b adds
// to what this node holds: what an eager push of b carries. Call it before
// Commit(b), while the watermarks are still those the deltas start from.
//
// Only plain additions are pushed. A change that resets, relabels, removes
// or collects tombstones of a node is left to anti-entropy: its meaning
// depends on the receiver's copy (a reset drops data, a collection is
// judged against horizons), which a digest exchange compares and a push
// does not. The records come from b, already in memory, so building a
// push never reads the storage.
func (s *State) PushDeltas(b *Batch) []NodeDelta {
	if b.Empty() {
		return nil
	}
	var out []NodeDelta
	for i := range b.Changes {
		c := &b.Changes[i]
		if c.Remove || c.Reset || c.Relabel != 0 || len(c.Drop) > 0 || len(c.Records) == 0 {
			continue
		}
		p := s.peers[c.Meta.ID]
		if p == nil || p.meta.Generation != c.Meta.Generation || c.Meta.MaxVersion <= p.meta.MaxVersion {
			continue
		}
		from, to := p.meta.MaxVersion, c.Meta.MaxVersion
		recs := LastPerKey(c.Records)
		if !ascendingWithin(recs, from, to) {
			continue
		}
		proofs, ok := CutProofs(c.Meta.ID, c.Proofs, c.Records, recs)
		if !ok {
			continue
		}
		out = append(out, NodeDelta{ID: c.Meta.ID, Generation: c.Meta.Generation, From: from, To: to,
			GCVersion: min(c.Meta.GCVersion, s.horizonCap(p)), Clean: max(to, c.Meta.GCVersion), Records: recs, Proofs: proofs})
	}
	return out
}

// LastPerKey keeps the newest record of each key, in version order: a
// group of local writes may set one key twice, and the older record is
// not what the sender holds.
func LastPerKey(recs []Record) []Record {
	if len(recs) < 2 {
		return recs
	}
	last := make(map[string]int, len(recs))
	for i := range recs {
		last[recs[i].Key] = i
	}
	if len(last) == len(recs) {
		return recs
	}
	out := make([]Record, 0, len(last))
	for i := range recs {
		if last[recs[i].Key] == i {
			out = append(out, recs[i])
		}
	}
	return out
}

func ascendingWithin(recs []Record, from, to uint64) bool {
	prev := from
	for i := range recs {
		if recs[i].Version <= prev || recs[i].Version > to {
			return false
		}
		prev = recs[i].Version
	}
	return true
}

// MakePush builds a push of the deltas that fit one datagram (the packet
// budget), whole: a delta cut short would leave the receiver at a
// watermark between two of the sender's writes, fine for scuttlebutt but
// no faster than the anti-entropy that carries the rest anyway. It
// returns nil, and the number of records left out, when nothing fits.
func (s *State) MakePush(hops uint8, ds []NodeDelta) (m *Push, left int) {
	room := s.cfg.PacketBudget - pushHeadSize(s.cfg.Cluster, s.cfg.Self.ID)
	var kept []NodeDelta
	for i := range ds {
		size := deltaHeadSize(&ds[i]) + proofsSize(ds[i].Proofs)
		if ds[i].ID == s.cfg.Self.ID && len(ds[i].Proofs) == 0 {
			size += s.cfg.PushProofReserve
		}
		for j := range ds[i].Records {
			size += recordSize(&ds[i].Records[j])
		}
		if size > room {
			left += len(ds[i].Records)
			continue
		}
		room -= size
		kept = append(kept, ds[i])
	}
	if len(kept) == 0 {
		return nil, left
	}
	return &Push{Cluster: s.cfg.Cluster, From: s.cfg.Self.ID, Hops: hops, Deltas: kept}, left
}

// MergePushes joins pushes received together into one, so that a node
// takes them in one step and persists them in one batch: a store write
// costs about the same for one record as for a hundred. The deltas are
// ordered by node and start, as the core takes a node's deltas in turn:
// one that continues another, or overlaps it, applies after it. The merged
// push goes as far as the farthest-reaching of them.
func MergePushes(ps []*Push) *Push {
	if len(ps) == 0 {
		return nil
	}
	m := &Push{Cluster: ps[0].Cluster, From: ps[0].From}
	n := 0
	for _, p := range ps {
		n += len(p.Deltas)
	}
	m.Deltas = make([]NodeDelta, 0, n)
	for _, p := range ps {
		m.Hops = max(m.Hops, p.Hops)
		m.Deltas = append(m.Deltas, p.Deltas...)
	}
	slices.SortStableFunc(m.Deltas, func(a, b NodeDelta) int {
		return cmp.Or(strings.Compare(a.ID, b.ID), cmp.Compare(a.From, b.From), cmp.Compare(b.To, a.To))
	})
	return m
}
