package sync

// inflight remembers, per requesting node, the deltas recently sent to it
// on the stream path and not yet reflected in its digests. A node far
// behind asks again every round and on every "More" from each of the peers
// it syncs with, and each of those peers pushes to it in its own rounds
// too; without this, every request would fetch the same next chunk and the
// node would spend its time decoding duplicates. With it, a second request
// continues where the chunk in flight ends: the stream path is ordered and
// reliable, so the receiver applies the chunks in sequence. If a chunk is
// lost after all, the receiver refuses the next as a gap until the entry
// expires, and the range is sent again.
//
// Entries are per incarnation of the requester: one that restarted empty
// (a new generation) has received none of what its predecessor had in
// flight, and skipping it would stall its catch-up until the entries
// expire.
//
// Chunks are recorded by State.NoteSent, under the lock the core's owner
// holds, once DeltaFill.Read (outside it) has read them.
type inflight struct {
	to map[string]*sentTo // requester id -> what was sent to it
}

type sentTo struct {
	gen   uint64               // the requester's generation
	nodes map[string]sentDelta // node id -> what was sent
}

type sentDelta struct {
	gen, upTo uint64
	at        uint64 // ms
}

// inflightTTL is how long a chunk is assumed on its way (ms of the time
// given to SetTime): long enough for a few megabytes to be sent and applied,
// short enough that a lost one is sent again within a couple of rounds.
const inflightTTL = 3000

// maxInflightRequesters bounds the requesters tracked: the requester is the
// unauthenticated From of a Syn, so a flood of made-up ids must not grow
// the map. Past the bound, expired entries are swept; if all are live, a
// new requester is not tracked (it may get a duplicate chunk, nothing more).
const maxInflightRequesters = 1024

// SetTime tells the core the current time (unix ms); it only times out
// in-flight deltas. A core that is never told the time tracks nothing.
func (s *State) SetTime(nowMs uint64) { s.now = nowMs }

func (f *inflight) record(to string, toGen uint64, ds []NodeDelta, now uint64) {
	if now == 0 || to == "" {
		return
	}
	if f.to == nil {
		f.to = make(map[string]*sentTo)
	}
	st := f.to[to]
	if st == nil && len(f.to) >= maxInflightRequesters {
		f.sweep(now)
		if len(f.to) >= maxInflightRequesters {
			return
		}
	}
	if st == nil || st.gen != toGen {
		st = &sentTo{gen: toGen, nodes: make(map[string]sentDelta)}
		f.to[to] = st
	}
	for _, nd := range ds {
		at := now
		if old, ok := st.nodes[nd.ID]; ok && old.gen == nd.Generation && nd.From == old.upTo && now-old.at <= inflightTTL {
			// A chunk sent on from the end of one in flight keeps its
			// start time: if that one was lost (refused as a gap, say
			// after two exchanges' chunks crossed), sending on would
			// otherwise keep the entry young for as long as the node
			// writes, and the receiver would refuse every chunk as a gap.
			at = old.at
		}
		st.nodes[nd.ID] = sentDelta{gen: nd.Generation, upTo: nd.To, at: at}
	}
}

// skipSent moves each candidate's start past what is already in flight to
// the requester, and drops candidates with nothing left to send.
func (f *inflight) skipSent(to string, toGen uint64, cands []candidate, now uint64) []candidate {
	st := f.to[to]
	if st == nil {
		return cands
	}
	if st.gen != toGen {
		delete(f.to, to)
		return cands
	}
	m := st.nodes
	kept := cands[:0]
	for _, c := range cands {
		sent, ok := m[c.p.meta.ID]
		switch {
		case !ok:
		case now-sent.at > inflightTTL || sent.gen != c.p.meta.Generation:
			delete(m, c.p.meta.ID)
		case sent.upTo >= c.p.meta.MaxVersion:
			continue // all of it is on its way
		case sent.upTo > c.from:
			// A refill or introduction in flight continues as a plain
			// delta from where the first chunk ends.
			c.from, c.reset, c.unknown = sent.upTo, false, false
		}
		kept = append(kept, c)
	}
	if len(m) == 0 {
		delete(f.to, to)
	}
	return kept
}

// sweep forgets what has been in flight for longer than inflightTTL.
func (f *inflight) sweep(now uint64) {
	for to, st := range f.to {
		for id, sent := range st.nodes {
			if now-sent.at > inflightTTL {
				delete(st.nodes, id)
			}
		}
		if len(st.nodes) == 0 {
			delete(f.to, to)
		}
	}
}
