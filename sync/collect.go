package sync

// TombstoneScan is one collection of the local node's tombstones: the
// core plans it (PlanCollect), the driver reads the storage for it outside
// its lock (Read), and the core turns what was found into a batch
// (FinishCollect). Like DeltaFill it keeps the disk read away from the
// lock that messages and beats need, so a node whose disk is slow keeps
// answering while it collects.
//
// Collection goes in version order, up to the first tombstone still
// young, so that the published horizon (GCVersion) means "every tombstone
// up to here is gone". A tombstone's value holds its deletion time in unix
// milliseconds (see TombstoneValue).
type TombstoneScan struct {
	store          Storage
	view           PeerMeta // the local node's committed meta when planned
	start          uint64
	nowMs, graceMs uint64

	read    bool
	err     error
	drop    []string
	horizon uint64
	through uint64
	young   bool
	floor   uint64 // when young: the version below the first young tombstone
}

// collectScanLimit bounds the records one scan reads. The next scan
// resumes where this one stopped (State.tombFloor), so after a restart a
// node passes a million own records in a few minutes of collections, far
// inside any tombstone grace, and no single read is long.
const collectScanLimit = 1 << 12

// PlanCollect plans the collection of the local node's tombstones older
// than graceMs at nowMs, or returns nil when it holds none.
func (s *State) PlanCollect(nowMs, graceMs uint64) *TombstoneScan {
	p := s.self
	if s.counts(p).Tombstones == 0 {
		return nil
	}
	t := &TombstoneScan{store: s.store, view: p.meta, start: max(p.meta.GCVersion, s.tombFloor),
		nowMs: nowMs, graceMs: graceMs, horizon: p.meta.GCVersion}
	if s.mem != nil {
		// The core's own records may not be read beside Commit; they
		// are memory, read here under the owner's lock (bounded by
		// collectScanLimit), and Read has nothing left to do.
		t.Read()
	}
	return t
}

// Read scans the local node's records from where the last scan stopped.
// It touches nothing of the State, so the driver calls it without its
// lock. A scan of the core's own records is read as it is planned, and
// not read again.
func (t *TombstoneScan) Read() {
	if t.read {
		return
	}
	read := 0
	t.through, t.err = t.store.Scan(t.view, t.start, func(r *Record) bool {
		if read == collectScanLimit {
			return false
		}
		read++
		if !r.Tombstone {
			return true
		}
		if deletedAt(r.Value)+t.graceMs > t.nowMs {
			t.young, t.floor = true, r.Version-1
			return false
		}
		t.drop = append(t.drop, r.Key)
		t.horizon = r.Version
		return true
	})
	t.read = true
}

// FinishCollect returns the batch that collects what t found, or nil for
// nothing to collect. A scan not read, or planned on a view of the local
// node that has changed since (a write, a refutation), is dropped: a key
// it found deleted may have been written again. The next one reads anew.
func (s *State) FinishCollect(t *TombstoneScan) *Batch {
	p := s.self
	if t == nil || !t.read || !sameView(p.meta, t.view) {
		return nil
	}
	if t.err != nil {
		s.stats.StorageErrors++
		return nil
	}
	// What was read needs no second reading: it holds no tombstone but
	// those this batch collects (were it lost, they would stay on disk,
	// never served, until Load deletes them).
	switch {
	case t.young:
		s.tombFloor = max(s.tombFloor, t.floor)
	default:
		s.tombFloor = max(s.tombFloor, t.through)
	}
	if len(t.drop) == 0 {
		return nil
	}
	meta := p.meta
	meta.GCVersion = t.horizon
	return &Batch{Changes: []PeerChange{{Meta: meta, Drop: t.drop}}}
}

// CollectTombstones plans, reads and finishes a collection at once, for
// callers that hold no lock around the core (tests).
func (s *State) CollectTombstones(nowMs, graceMs uint64) *Batch {
	t := s.PlanCollect(nowMs, graceMs)
	if t == nil {
		return nil
	}
	t.Read()
	return s.FinishCollect(t)
}

func sameView(a, b PeerMeta) bool {
	return a.Generation == b.Generation && a.MaxVersion == b.MaxVersion && a.GCVersion == b.GCVersion
}
