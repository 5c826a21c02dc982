package sync

// DeltaFill is the deltas of one reply (a SynAck or an Ack), chosen by the
// core but not read yet. Reading them is the disk I/O of answering a
// message (a refutation aside), and it can take long: a stream-path chunk
// holds megabytes, and a store that is flushing or compacting serves reads
// slowly. So the core only plans under its driver's lock, and the driver
// calls Read after releasing it: a node busy with its disk keeps taking
// messages and beats meanwhile, and is not suspected for it.
//
// Read touches nothing of the State, only the Storage (whose reads may run
// beside a writer: Badger's are transactions) and the DeltaFill itself:
// what it sent on the stream path and whether a read failed stay here
// until the driver, back under its lock, hands the fill to State.NoteSent.
// The core's own records (Config.Storage nil) are not safe beside its
// writes, and reading them is memory only, so planDeltas reads those at
// once, under the lock, and Read has nothing left to do.
//
// The views it reads are the metas at planning time; a store that has
// moved on since (newer records, a reset) serves a gap-free prefix or
// nothing, as Scan promises, and the peer asks again.
type DeltaFill struct {
	reply  Message // *SynAck or *Ack: Read sets its Deltas and More
	store  Storage
	to     string
	toGen  uint64
	now    uint64
	budget int
	packet int
	plans  []plannedDelta
	// proofs, when the core serves records with their proofs
	// (Config.RecordProofs), is the storage's ScanProofs.
	proofs ProofScanner

	// Set by the read, for NoteSent: done once read, send for a reply
	// worth sending, sent the deltas that went on the stream path (their
	// ID, Generation, From and To only), errs the failed storage reads.
	done bool
	send bool
	sent []NodeDelta
	errs int
}

// plannedDelta is one node's delta as planned: its meta when chosen, and
// where the other side stands on it.
type plannedDelta struct {
	view  PeerMeta
	from  uint64
	reset bool
	clean uint64
}

// Reply is the message whose deltas Read fills.
func (f *DeltaFill) Reply() Message { return f.reply }

// Read reads the planned deltas from the storage into the reply, within
// its budget, and reports whether the reply is worth sending: a SynAck
// always is (it carries a digest), an Ack only with deltas or with more to
// come. A fill read already (the core's own records) is not read again.
func (f *DeltaFill) Read() bool {
	if !f.done {
		f.read()
	}
	return f.send
}

func (f *DeltaFill) read() {
	f.done = true
	var out []NodeDelta
	more, budget, total := false, f.budget, 0
	for i := range f.plans {
		nd, used, complete := f.delta(&f.plans[i], budget)
		if used == 0 {
			more = true
			continue
		}
		out = append(out, nd)
		budget -= used
		total += used
		more = more || !complete
	}
	if total > f.packet {
		// Too large for a datagram: it travels on the ordered, reliable
		// stream path, so what follows can build on it (NoteSent).
		f.sent = make([]NodeDelta, len(out))
		for i, nd := range out {
			f.sent[i] = NodeDelta{ID: nd.ID, Generation: nd.Generation, From: nd.From, To: nd.To}
		}
	}
	switch m := f.reply.(type) {
	case *SynAck:
		m.Deltas, m.More = out, more
		f.send = true
	case *Ack:
		m.Deltas, m.More = out, more
		f.send = len(out) > 0 || more
	}
}

// NoteSent takes what a read fill sent and found into the core: the
// chunks on the stream path are remembered as in flight to the requester
// (so that its next request continues where they end), and failed reads
// count in Stats.StorageErrors. The driver calls it under its lock after
// Read and before sending; a fill is noted once, and one not read yet
// notes nothing.
func (s *State) NoteSent(f *DeltaFill) {
	if f == nil || !f.done {
		return
	}
	s.stats.StorageErrors += uint64(f.errs)
	f.errs = 0
	if len(f.sent) > 0 {
		s.inflight.record(f.to, f.toGen, f.sent, f.now)
		f.sent = nil
	}
}

// delta reads one node's records above pl.from within budget bytes; used
// is 0 when not even its first record fits (or the storage had nothing
// servable to give now).
func (f *DeltaFill) delta(pl *plannedDelta, budget int) (nd NodeDelta, used int, complete bool) {
	view := &pl.view
	nd = NodeDelta{ID: view.ID, Generation: view.Generation, From: pl.from, To: view.MaxVersion,
		GCVersion: view.GCVersion, Clean: pl.clean, Reset: pl.reset}
	used = deltaHeadSize(&nd)
	if used > budget {
		return NodeDelta{}, 0, false
	}
	if f.proofs != nil {
		return f.provenDelta(pl, nd, used, budget)
	}
	through, err := f.store.Scan(*view, pl.from, func(r *Record) bool {
		sz := recordSize(r)
		if used+sz > budget || len(nd.Records) == 1<<16-1 {
			return false
		}
		nd.Records = append(nd.Records, *r)
		used += sz
		return true
	})
	if err != nil {
		f.errs++
		through = pl.from
		if len(nd.Records) > 0 {
			through = nd.Records[len(nd.Records)-1].Version
		}
	}
	if through >= view.MaxVersion {
		return nd, used, true
	}
	if len(nd.Records) == 0 {
		// Nothing fits, or the storage is ahead of the view: later.
		return NodeDelta{}, 0, false
	}
	// A gap-free prefix: every servable record in (from, through] is in.
	nd.To = through
	return nd, used, false
}

// worth reports whether an Ack for the plan may carry anything.
func (f *DeltaFill) worth() bool { return len(f.plans) > 0 }

// readNow reads a step's deltas at once and notes them, for callers that
// hold no lock worth releasing (Handle, HandleFrom); the reply is dropped
// if Read finds it not worth sending.
func (s *State) readNow(st *Step) {
	if st.Fill == nil {
		return
	}
	if !st.Fill.Read() {
		st.Reply = nil
	}
	s.NoteSent(st.Fill)
	st.Fill = nil
}
