package engine

import (
	"errors"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/proof"
	"github.com/leviathan-gossip/leviathan/sync/wire"
)

// TestStepProven: a driver checks a message's record proofs outside the
// engine's lock (ProofKeys, Check), and StepProven takes each delta on
// that check, unless the check was made against a key that no longer
// speaks for the delta's origin, or of another delta: then it checks
// again.
func TestStepProven(t *testing.T) {
	s := newSignedSet(t, "a", "p", "m")
	errCheck := errors.New("checked: bad")
	for _, tc := range []struct {
		name   string
		forged bool                                      // the delta's proof is m's, not p's
		check  func(pv *Proven, msg *lsync.Push) *Proven // after Check
		taken  bool
	}{
		{"a delta checked good", false, nil, true},
		{"a forged delta checked", true, nil, false},
		{"not checked at all", true, func(*Proven, *lsync.Push) *Proven { return nil }, false},
		{"a failed check is taken as made", false, func(pv *Proven, _ *lsync.Push) *Proven {
			pv.deltas[0].err = errCheck
			return pv
		}, false},
		{"checked against another key: checked again", true, func(pv *Proven, _ *lsync.Push) *Proven {
			pv.deltas[0].keys.pub, pv.deltas[0].err = s.keys["m"].Public(), nil
			return pv
		}, false},
		{"the delta changed since its check: checked again", true, func(pv *Proven, m *lsync.Push) *Proven {
			pv.deltas[0].err = nil
			m.Deltas[0].Records = m.Deltas[0].Records[:5]
			m.Deltas[0].To, m.Deltas[0].Clean = 5, 5
			return pv
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, p := s.provingEngine(t, "a", true), s.provingEngine(t, "p", true)
			m := s.provingEngine(t, "m", true)
			deliver(t, a, t0, "p:1", p.helloMsg())
			deliver(t, a, t0, "m:1", m.helloMsg())
			key := s.keys["p"]
			if tc.forged {
				key = s.keys["m"]
			}
			recs, pr := provenRecords(t, key, "p", 6)
			msg := decoded(t, &lsync.Push{Cluster: "test", From: "m", Hops: 1, Deltas: []lsync.NodeDelta{pDelta(recs, pr)}})
			pv := a.ProofKeys(msg)
			if pv == nil || len(pv.deltas) != 1 || pv.deltas[0].keys.pub == nil {
				t.Fatalf("no key to check p's delta against: %+v", pv)
			}
			pv.Check(msg)
			if tc.check != nil {
				pv = tc.check(pv, msg)
			}
			rd := a.StepProven(t0.Add(time.Millisecond), "m:1", msg, pv)
			a.Commit(&rd)
			v, _ := a.State().View("p")
			if taken := v.MaxVersion > 0; taken != tc.taken {
				t.Fatalf("taken %v, want %v; rejected %+v", taken, tc.taken, rd.Rejected)
			}
			if !tc.taken && (len(rd.Rejected) != 1 || rd.Rejected[0].Reason != BadRecordProof) {
				t.Fatalf("refusals %+v, want one of p's delta", rd.Rejected)
			}
			if tc.taken {
				for _, q := range rd.Batch.Changes[0].Proofs {
					if q.Header.Root == (proof.Hash{}) {
						t.Fatal("a proof reaches the store without its root")
					}
				}
			}
		})
	}
}

// TestProofKeysNone: nothing to check outside the lock for a message
// without records, or an engine that does not check record proofs.
func TestProofKeysNone(t *testing.T) {
	s := newSignedSet(t, "a", "p")
	recs, pr := provenRecords(t, s.keys["p"], "p", 3)
	withRecords := &lsync.Push{Cluster: "test", From: "p", Hops: 1, Deltas: []lsync.NodeDelta{pDelta(recs, pr)}}
	for _, tc := range []struct {
		name    string
		records bool
		msg     lsync.Message
	}{
		{"a Syn", true, &lsync.Syn{Cluster: "test", From: "p"}},
		{"a watermark alone", true, &lsync.Ack{Cluster: "test", From: "p", Deltas: []lsync.NodeDelta{{ID: "p", Generation: 1, To: 3}}}},
		{"record proofs off", false, withRecords},
	} {
		a, p := s.provingEngine(t, "a", tc.records), s.provingEngine(t, "p", tc.records)
		deliver(t, a, t0, "p:1", p.helloMsg())
		if pv := a.ProofKeys(tc.msg); pv != nil {
			t.Errorf("%s: keys %+v", tc.name, pv)
		}
	}
}

// decoded is m through the codec, as a driver receives it.
func decoded(t *testing.T, m *lsync.Push) *lsync.Push {
	t.Helper()
	b, err := wire.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	dm, err := wire.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return dm.(*lsync.Push)
}
