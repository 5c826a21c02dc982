package engine

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/proof"
)

// Record proofs. With Signing.Records set, each record a node takes from
// the network must come with its origin's proof (package sync/proof): a
// delta of node P is taken only if its proofs cover every record it
// carries and verify against the key of P's newest verified node record,
// or against a key that record names as retired for the batch's
// generation and versions (a key rotation), whoever relays it. A delta that fails is refused whole (BadRecordProof)
// before the core sees it, so nothing of it reaches the store, the
// detector or an event. The proofs then travel with the records: the
// core hands them to the store, which serves them on, and pushes them on
// (sync's proofs.go). Relays forward the origin's proofs and never sign
// for others; a node signs its own records off its write path (the
// driver, with SealOwn's key).

// BadRecordProof: a delta whose records its proofs do not cover, or
// whose proofs do not verify against its origin's key.
const BadRecordProof RejectReason = "bad_record_proof"

// verifiedHeaders is how many batch headers an engine remembers having
// verified: a batch cut over many messages, or pushed by several peers,
// costs one signature check while it is remembered.
const verifiedHeaders = 4096

// pushProofReserve is the room a push keeps for the proofs of the node's
// own delta, which the driver adds once signed: a few batches sent whole.
const pushProofReserve = 256

// recordProofs reports whether records travel with their proofs.
func (e *Engine) recordProofs() bool { return e.recs != nil && e.recs.sign.Records }

// gateDeltas keeps the deltas whose records their origins' proofs bear
// out, and refuses the rest. A delta checked already (pv, see Proven)
// against the key that speaks for its origin now is taken on that check.
func (e *Engine) gateDeltas(ds []lsync.NodeDelta, from string, pv *Proven, rd *Ready) []lsync.NodeDelta {
	out := ds[:0]
	for i := range ds {
		nd := &ds[i]
		if len(nd.Records) == 0 {
			nd.Proofs = nil // a watermark alone: nothing to prove
			out = append(out, *nd)
			continue
		}
		keys := e.originKeys(nd.ID)
		if keys.pub == nil {
			e.recs.stats.Unbacked++ // its record is on its way, or it has none
			continue
		}
		var err error
		if d := pv.checked(i, nd, keys); d != nil {
			err = d.err
		} else {
			err = verifyDelta(nd, keys, e.recs.verified)
		}
		if err != nil {
			e.reject(rd, from, nd.ID, BadRecordProof, err)
			continue
		}
		out = append(out, *nd)
	}
	return out
}

// originKeys are the keys that speak for id's records: its newest
// verified record's, and the retired keys that record names which the
// trust has not revoked (a stolen old key is revoked everywhere).
type originKeys struct {
	pub     ed25519.PublicKey
	retired []identity.RetiredKey
	trust   identity.Checker // nil: none revoked
}

func (e *Engine) originKeys(id string) originKeys {
	rec := e.recs.own.rec
	if id != e.cfg.Self.ID {
		rec = nil
		if h, ok := e.recs.held[id]; ok {
			rec = h.rec
		}
	}
	if rec == nil {
		return originKeys{}
	}
	return originKeys{pub: rec.PublicKey, retired: rec.Retired, trust: e.recs.sign.Trust}
}

// verify checks p with the current key, and, when that signature fails,
// with each retired key that covers p's batch: at most MaxRetiredKeys
// more checks, and only for a batch at a retired key's generation and
// within its versions.
func (k originKeys) verify(p *proof.Proof, leaves []proof.Hash, cache *proof.Verified) error {
	err := p.Verify(k.pub, leaves, cache)
	if err == nil || !errors.Is(err, proof.ErrBadSignature) {
		return err
	}
	for i := range k.retired {
		r := &k.retired[i]
		if !r.Covers(p.Generation, p.Last) || k.trust != nil && k.trust.Revoked(r.PublicKey) {
			continue
		}
		if p.Verify(r.PublicKey, leaves, cache) == nil {
			return nil
		}
	}
	return err
}

// errUnproven: a record no proof of its delta covers.
var errUnproven = errors.New("engine: record without its origin's proof")

// verifyDelta checks that nd's proofs, ascending and not overlapping,
// each cover exactly the records of nd in its version range, cover them
// all, and verify against keys; a proof that verifies gets its root.
func verifyDelta(nd *lsync.NodeDelta, keys originKeys, cache *proof.Verified) error {
	recs := nd.Records
	j := 0
	for k, p := range nd.Proofs {
		switch {
		case p == nil || p.Origin != nd.ID || p.Generation != nd.Generation:
			return fmt.Errorf("%w: proof %d is not of the delta's node and generation", proof.ErrMismatch, k)
		case k > 0 && p.First <= nd.Proofs[k-1].Last:
			return fmt.Errorf("%w: proof %d overlaps the one before", proof.ErrMalformed, k)
		case j < len(recs) && recs[j].Version < p.First:
			return fmt.Errorf("%w: version %d", errUnproven, recs[j].Version)
		}
		lo := j
		for j < len(recs) && recs[j].Version <= p.Last {
			j++
		}
		if j-lo != p.Len() {
			return fmt.Errorf("%w: proof %d of %d records, the delta has %d in its range", proof.ErrMismatch, k, p.Len(), j-lo)
		}
		leaves := make([]proof.Hash, j-lo)
		for i := range leaves {
			leaves[i] = proof.LeafHash(nd.ID, (*proof.Record)(&recs[lo+i]))
		}
		if err := keys.verify(p, leaves, cache); err != nil {
			return fmt.Errorf("proof %d: %w", k, err)
		}
	}
	if j < len(recs) {
		return fmt.Errorf("%w: version %d", errUnproven, recs[j].Version)
	}
	return nil
}

// gateProofs runs a message's deltas past their proofs when records are
// signed, and drops any proofs otherwise: only a verified proof may reach
// the core, which hands it to the store.
func (e *Engine) gateProofs(m lsync.Message, from string, pv *Proven, rejected []Rejected) []Rejected {
	ds := deltasOf(m)
	if ds == nil {
		return rejected
	}
	if e.recordProofs() {
		rd := Ready{Rejected: rejected}
		*ds = e.gateDeltas(*ds, from, pv, &rd)
		return rd.Rejected
	}
	for i := range *ds {
		(*ds)[i].Proofs = nil
	}
	return rejected
}

// deltasOf is the deltas a message carries: nil for a message that has
// none to carry.
func deltasOf(m lsync.Message) *[]lsync.NodeDelta {
	switch v := m.(type) {
	case *lsync.Push:
		return &v.Deltas
	case *lsync.SynAck:
		return &v.Deltas
	case *lsync.Ack:
		return &v.Deltas
	}
	return nil
}

// pushReserve is sync.Config.PushProofReserve for s.
func pushReserve(s *Signing) int {
	if s != nil && s.Records {
		return pushProofReserve
	}
	return 0
}
