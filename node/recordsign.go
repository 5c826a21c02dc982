package node

import (
	"cmp"
	"errors"
	"slices"
	gosync "sync"
	"sync/atomic"

	"github.com/leviathan-gossip/leviathan/internal/engine"
	"github.com/leviathan-gossip/leviathan/store"
	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/proof"
)

// With signed = true a node signs its own records off its write path: a
// write is durable, and its writer answered, before any signature. The
// signer, a goroutine of its own, wakes after each local commit and seals
// every own record written since the last sealed one as one batch
// (proof.Seal): the busier the writers, the larger the batch and the
// cheaper each record. It stores the proof (AddProof), and sends the
// pushes of those writes, which wait for it, with the proof of exactly
// the records each carries, cut from the batches it sealed last. Until a
// record is sealed, exchanges do not serve it (the store holds no proof
// of it), and no node would take it.

// ProofStore is a store that keeps its records' proofs (store.Badger):
// with signed = true, a node needs one to sign and serve its records
// with their proofs.
type ProofStore interface {
	ScanProofs(view lsync.PeerMeta, after uint64, fn func(r *lsync.Record, p lsync.RecordProof) bool) (uint64, error)
	AddProof(p *proof.Proof, recs []lsync.Record) (int, error)
	Resign(id string, sign func(h proof.Header) (proof.Signed, error)) (int, error)
	Rekey(id string, sign func(h proof.Header) (proof.Signed, error)) (int, error)
}

// sealedKept bounds the own batches the signer keeps in memory to prove
// pushes with: at least twice what a push reaches back over (the
// engine's ring of own records).
const (
	sealedKeptRecords = 1 << 14
	sealedKeptBatches = 1024
)

// recordSigner signs the node's own records; see above.
type recordSigner struct {
	n     *Node
	key   *identity.Key
	store ProofStore
	wake  chan struct{}

	mu      gosync.Mutex
	recs    []lsync.Record      // committed, not sealed yet, ascending
	pushes  [][]engine.Outgoing // own pushes waiting for proofs, in commit order
	toStore []toStore           // sealed, their proofs not stored yet

	// The storer goroutine stores sealed proofs (storeLoop), apart from
	// the signer, so that a store that is slow never holds a push back:
	// a write's pushes may reach the signer after its records were sealed,
	// and would otherwise wait behind their proof's store. storeMu orders
	// those stores before a re-signing of the stored proofs.
	storeWake chan struct{}
	storeMu   gosync.Mutex

	// The goroutine's own.
	sealed  []sealedBatch // ascending
	kept    int           // records in sealed
	gen     uint64        // the generation sealed at last
	through uint64        // the newest own version sealed at gen

	// After a key rotation (keyhistory.go): sign the stored proofs again,
	// then save history, its mark cleared, to historyCopies.
	rekey         bool
	history       identity.KeyHistory
	historyCopies keyHistoryCopies

	batches, records, unproven atomic.Uint64
}

// sealedBatch is one batch the signer sealed: its tree and versions.
type sealedBatch struct {
	tree     *proof.Tree
	versions []uint64
}

func (n *Node) newRecordSigner() *recordSigner {
	if !n.cfg.Signed || n.ident == nil || n.disk == nil {
		return nil
	}
	ps, ok := n.store.(ProofStore)
	if !ok {
		return nil
	}
	return &recordSigner{n: n, key: n.ident.key, store: ps, wake: make(chan struct{}, 1), storeWake: make(chan struct{}, 1)}
}

// committed takes the own records of a committed local write. The caller
// holds n.mu, so that records are taken in commit order. It does not wake
// the signer: send, which follows every commit, does, once the write's
// pushes wait beside its records. Woken here, the signer would seal the
// records alone and store their proof before it came back for the
// pushes, which would wait for the store.
func (s *recordSigner) committed(b *lsync.Batch) {
	for i := range b.Changes {
		if c := &b.Changes[i]; c.Meta.ID == s.n.id && len(c.Records) > 0 {
			s.mu.Lock()
			s.recs = append(s.recs, c.Records...)
			s.mu.Unlock()
		}
	}
}

// send sends out, holding back the pushes of own records for the signer
// to prove and send, in the order they come, and wakes the signer for
// them and for the records committed before.
func (s *recordSigner) send(out []engine.Outgoing) {
	var now, later []engine.Outgoing
	for _, o := range out {
		if s.needsProof(o.Msg) {
			later = append(later, o)
		} else {
			now = append(now, o)
		}
	}
	s.n.sendAll(now)
	s.mu.Lock()
	if len(later) > 0 {
		s.pushes = append(s.pushes, later)
	}
	wake := len(s.recs) > 0 || len(s.pushes) > 0
	s.mu.Unlock()
	if wake {
		s.kick()
	}
}

func (s *recordSigner) needsProof(m lsync.Message) bool {
	p, ok := m.(*lsync.Push)
	if !ok {
		return false
	}
	for i := range p.Deltas {
		if p.Deltas[i].ID == s.n.id && len(p.Deltas[i].Records) > 0 && len(p.Deltas[i].Proofs) == 0 {
			return true
		}
	}
	return false
}

func (s *recordSigner) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the signer's goroutine: it seals what was left unsealed by an
// earlier run, then whatever each commit brings.
func (s *recordSigner) run() {
	defer s.n.wg.Done()
	s.rekeyStored()
	s.sealStored()
	for {
		select {
		case <-s.n.stop:
			return
		case <-s.wake:
		}
		s.mu.Lock()
		recs, pushes := s.recs, s.pushes
		s.recs, s.pushes = nil, nil
		s.mu.Unlock()
		if len(recs) == 0 {
			// Woken for a new generation (renewChain): the stored proofs
			// are signed again now, or peers that dropped the old
			// generation could not refill the new one until a write.
			s.generation()
		}
		s.queueStore(s.seal(recs))
		for _, out := range pushes {
			s.n.sendAll(s.prove(out))
		}
	}
}

// queueStore hands sealed proofs to the storer.
func (s *recordSigner) queueStore(sealed []toStore) {
	if len(sealed) == 0 {
		return
	}
	s.mu.Lock()
	s.toStore = append(s.toStore, sealed...)
	s.mu.Unlock()
	select {
	case s.storeWake <- struct{}{}:
	default:
	}
}

// storeLoop is the storer goroutine. Proofs still queued at the stop are
// not lost: their records have none stored, and the next start seals them
// again (sealStored).
func (s *recordSigner) storeLoop() {
	defer s.n.wg.Done()
	for {
		select {
		case <-s.n.stop:
			return
		case <-s.storeWake:
			s.flushStore()
		}
	}
}

// flushStore stores every proof queued.
func (s *recordSigner) flushStore() {
	s.storeMu.Lock()
	defer s.storeMu.Unlock()
	s.mu.Lock()
	sealed := s.toStore
	s.toStore = nil
	s.mu.Unlock()
	s.storeProofs(sealed)
}

// generation is the node's generation now: what its records are sealed
// at. A new one (a refutation relabels the node's records) signs the
// stored proofs again, and the batches kept in memory are dropped.
func (s *recordSigner) generation() uint64 {
	s.n.mu.Lock()
	gen := s.n.eng.Self().Generation
	s.n.mu.Unlock()
	if s.gen != 0 && gen != s.gen {
		s.flushStore()
		sign := func(h proof.Header) (proof.Signed, error) { return proof.Sign(s.key, h) }
		if _, err := s.store.Resign(s.n.id, sign); err != nil {
			s.n.log.Error().Err(err).Msg("record proofs not signed again for the new generation")
		}
		s.sealed, s.kept = nil, 0
	}
	if gen != s.gen {
		s.through = 0
	}
	s.gen = gen
	return gen
}

// toStore is a sealed batch's proof, for the store.
type toStore struct {
	p    *proof.Proof
	recs []lsync.Record
}

// seal signs recs, own records committed in this order, in batches of
// at most proof.MaxLeaves, keeps them to prove pushes with, and returns
// the proofs for the store.
func (s *recordSigner) seal(recs []lsync.Record) []toStore {
	if len(recs) == 0 {
		return nil
	}
	gen := s.generation()
	// Own records are sealed in version order, each once: a record both
	// read by sealStored and handed by a commit at start is sealed by
	// whichever comes first. Two batches over the same versions would make
	// every delta that reaches both carry overlapping proofs, which no
	// receiver takes.
	skip, _ := slices.BinarySearchFunc(recs, s.through, func(r lsync.Record, v uint64) int {
		return cmp.Compare(r.Version, v+1)
	})
	recs = recs[skip:]
	var out []toStore
	for len(recs) > 0 {
		k := min(len(recs), proof.MaxLeaves)
		if p := s.sealOne(gen, recs[:k]); p != nil {
			out = append(out, toStore{p, recs[:k]})
		}
		s.through = recs[k-1].Version
		recs = recs[k:]
	}
	return out
}

// storeProofs stores the proofs seal made. Pushes do not wait for it:
// they carry their proofs, and a write on the store, behind the writers'
// lock, would add its latency to every push; an exchange serves the
// records only once the store holds their proof.
func (s *recordSigner) storeProofs(sealed []toStore) {
	for _, t := range sealed {
		if _, err := s.store.AddProof(t.p, t.recs); err != nil && !errors.Is(err, store.ErrClosed) {
			s.n.log.Warn().Err(err).Msg("own records' proof not stored; pushes still carry it")
		}
	}
}

func (s *recordSigner) sealOne(gen uint64, recs []lsync.Record) *proof.Proof {
	prs := make([]proof.Record, len(recs))
	versions := make([]uint64, len(recs))
	for i := range recs {
		prs[i] = proof.Record(recs[i])
		versions[i] = recs[i].Version
	}
	p, leaves, err := proof.Seal(s.key, s.n.id, gen, prs)
	if err != nil {
		s.n.log.Error().Err(err).Msg("own records not signed")
		return nil
	}
	tree, err := proof.NewTree(p, leaves)
	if err != nil {
		s.n.log.Error().Err(err).Msg("own records not signed")
		return nil
	}
	s.batches.Add(1)
	s.records.Add(uint64(len(recs)))
	s.sealed = append(s.sealed, sealedBatch{tree: tree, versions: versions})
	s.kept += len(versions)
	for len(s.sealed) > 1 && (s.kept > sealedKeptRecords || len(s.sealed) > sealedKeptBatches) {
		s.kept -= len(s.sealed[0].versions)
		s.sealed = slices.Delete(s.sealed, 0, 1)
	}
	return p
}

// prove adds to each push of out the proofs of its own delta's records,
// and returns the pushes it could prove: one that reaches back past the
// batches kept is left to the rounds.
func (s *recordSigner) prove(out []engine.Outgoing) []engine.Outgoing {
	kept := out[:0]
	done := make(map[lsync.Message]bool)
	for _, o := range out {
		ok, seen := done[o.Msg]
		if !seen {
			ok = s.provePush(o.Msg.(*lsync.Push))
			done[o.Msg] = ok
		}
		if ok {
			kept = append(kept, o)
		} else {
			s.unproven.Add(1)
		}
	}
	return kept
}

func (s *recordSigner) provePush(m *lsync.Push) bool {
	for i := range m.Deltas {
		d := &m.Deltas[i]
		if d.ID != s.n.id || len(d.Records) == 0 || len(d.Proofs) > 0 {
			continue
		}
		ps, ok := s.proofsOf(d.Records)
		if !ok {
			return false
		}
		d.Proofs = ps
	}
	return true
}

// proofsOf cuts the proofs of recs (ascending) from the batches kept.
func (s *recordSigner) proofsOf(recs []lsync.Record) ([]*proof.Proof, bool) {
	var out []*proof.Proof
	b := -1
	var spans []proof.Span
	flush := func() bool {
		if b < 0 {
			return true
		}
		p, _, err := s.sealed[b].tree.Subset(spans)
		if err != nil {
			return false
		}
		out = append(out, p)
		return true
	}
	for _, r := range recs {
		at, ok := s.find(r.Version)
		if !ok {
			return nil, false
		}
		if at.batch != b {
			if !flush() {
				return nil, false
			}
			b, spans = at.batch, nil
		}
		if k := len(spans) - 1; k >= 0 && spans[k].Hi == at.pos {
			spans[k].Hi++
		} else {
			spans = append(spans, proof.Span{Lo: at.pos, Hi: at.pos + 1})
		}
	}
	if !flush() {
		return nil, false
	}
	return out, true
}

type sealedAt struct{ batch, pos int }

// find locates version v among the batches kept.
func (s *recordSigner) find(v uint64) (sealedAt, bool) {
	b, _ := slices.BinarySearchFunc(s.sealed, v, func(sb sealedBatch, v uint64) int {
		switch last := sb.versions[len(sb.versions)-1]; {
		case last < v:
			return -1
		case sb.versions[0] > v:
			return 1
		}
		return 0
	})
	if b == len(s.sealed) {
		return sealedAt{}, false
	}
	pos, ok := slices.BinarySearch(s.sealed[b].versions, v)
	return sealedAt{b, pos}, ok
}

// sealStored seals the own records the store holds no proof of: those
// written before signing was turned on, or written by a run that stopped
// before it sealed them.
func (s *recordSigner) sealStored() {
	s.n.mu.Lock()
	view := s.n.eng.Self()
	s.n.mu.Unlock()
	s.gen = view.Generation
	after := uint64(0)
	for {
		var recs []lsync.Record
		through, err := s.store.ScanProofs(view, after, func(r *lsync.Record, p lsync.RecordProof) bool {
			if len(recs) == proof.MaxLeaves {
				return false
			}
			if p.Tree == nil {
				recs = append(recs, *r)
			}
			return true
		})
		if err != nil {
			s.n.log.Warn().Err(err).Msg("own records not read for signing")
			return
		}
		s.storeProofs(s.seal(recs))
		if through >= view.MaxVersion || through <= after {
			return
		}
		after = through
		select {
		case <-s.n.stop:
			return
		default:
		}
	}
}
