package engine

import (
	"bytes"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/proof"
)

// Checking a large message's record proofs hashes every record it
// carries and rebuilds each batch's root: tens of milliseconds for a
// catch-up message of megabytes. A driver that holds a lock around the
// engine takes that work out of it in three steps:
//
//	pv := e.ProofKeys(msg) // under the lock: the keys to check against
//	pv.Check(msg)          // without it: the hashing and signatures
//	rd := e.StepProven(now, from, msg, pv) // under the lock again
//
// StepProven takes each delta on its check if the key that speaks for
// its origin is still the one it was checked against, and checks it
// again otherwise (a newer record taken meanwhile). Step alone checks
// everything itself.

// Proven is the record-proof checks of one message's deltas, made
// outside the engine's lock.
type Proven struct {
	cache  *proof.Verified
	deltas []provenDelta
}

// provenDelta is one delta's check: which delta (its node, generation
// and record count, at its index), the key it was checked against, and
// the outcome. key is nil for a delta not checked.
type provenDelta struct {
	id      string
	gen     uint64
	records int
	keys    originKeys
	err     error
	done    bool
}

// ProofKeys returns the keys msg's deltas are to be checked against,
// for Check: nil when msg carries no records to prove, or the engine
// does not check record proofs. Call it under the engine's lock.
func (e *Engine) ProofKeys(msg lsync.Message) *Proven {
	if !e.recordProofs() {
		return nil
	}
	ds := deltasOf(msg)
	if ds == nil {
		return nil
	}
	var pv *Proven
	for i := range *ds {
		nd := &(*ds)[i]
		if len(nd.Records) == 0 {
			continue
		}
		keys := e.originKeys(nd.ID)
		if keys.pub == nil {
			continue
		}
		if pv == nil {
			pv = &Proven{cache: e.recs.verified, deltas: make([]provenDelta, len(*ds))}
		}
		pv.deltas[i] = provenDelta{id: nd.ID, gen: nd.Generation, records: len(nd.Records), keys: keys}
	}
	return pv
}

// Check checks msg's deltas against the keys ProofKeys found. It touches
// no engine state (the cache of verified headers is safe for concurrent
// use), so the driver calls it without the engine's lock; msg must be
// the message given to ProofKeys, unchanged. A nil Proven checks nothing.
func (pv *Proven) Check(msg lsync.Message) {
	if pv == nil {
		return
	}
	ds := deltasOf(msg)
	if ds == nil || len(*ds) != len(pv.deltas) {
		pv.deltas = nil
		return
	}
	for i := range pv.deltas {
		d := &pv.deltas[i]
		if d.keys.pub != nil && d.matches(&(*ds)[i]) {
			d.err, d.done = verifyDelta(&(*ds)[i], d.keys, pv.cache), true
		}
	}
}

func (d *provenDelta) matches(nd *lsync.NodeDelta) bool {
	return d.id == nd.ID && d.gen == nd.Generation && d.records == len(nd.Records)
}

// checked is the check of delta i, nd, against keys: nil if it was not
// checked, or against other keys.
func (pv *Proven) checked(i int, nd *lsync.NodeDelta, keys originKeys) *provenDelta {
	if pv == nil || i >= len(pv.deltas) {
		return nil
	}
	d := &pv.deltas[i]
	if !d.done || !d.matches(nd) || !d.keys.same(keys) {
		return nil
	}
	return d
}

// StepProven is Step for a message whose record proofs pv checked
// (ProofKeys, Check). A nil pv is Step.
func (e *Engine) StepProven(now time.Time, from string, msg lsync.Message, pv *Proven) Ready {
	return e.step(now, from, msg, pv)
}

// same reports whether k and o speak for the same records: one current
// key, the same retired keys (the trust is the engine's, fixed).
func (k originKeys) same(o originKeys) bool {
	if !bytes.Equal(k.pub, o.pub) || len(k.retired) != len(o.retired) {
		return false
	}
	for i := range k.retired {
		a, b := &k.retired[i], &o.retired[i]
		if !bytes.Equal(a.PublicKey, b.PublicKey) || a.Generation != b.Generation || a.Through != b.Through {
			return false
		}
	}
	return true
}
