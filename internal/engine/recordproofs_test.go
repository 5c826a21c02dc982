package engine

import (
	"errors"
	"fmt"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/proof"
)

// provingEngine is s's engine of id with record proofs on (or off).
func (s *signedSet) provingEngine(t *testing.T, id string, records bool) *Engine {
	t.Helper()
	e := newEngineWith(t, id, func(c *Config) {
		c.Signing = &Signing{Key: s.keys[id], Trust: identity.NewTrustCache(s.trust, 16),
			Chain: s.chain(t, id, c.Self.Generation, c.Boot<<32), Records: records}
	})
	if _, err := e.SignRecord(t0); err != nil {
		t.Fatal(err)
	}
	return e
}

// provenRecords are n records of origin at versions 1..n, sealed with
// key at generation 1.
func provenRecords(t *testing.T, key *identity.Key, origin string, n int) ([]lsync.Record, *proof.Proof) {
	t.Helper()
	recs := make([]lsync.Record, n)
	prs := make([]proof.Record, n)
	for i := range recs {
		recs[i] = lsync.Record{Key: fmt.Sprintf("k%d", i), Value: []byte(fmt.Sprint("v", i)), Version: uint64(i + 1)}
		prs[i] = proof.Record(recs[i])
	}
	p, _, err := proof.Seal(key, origin, 1, prs)
	if err != nil {
		t.Fatal(err)
	}
	return recs, p
}

// TestRecordProofsGate: with record proofs, a delta of P is taken only
// with P's proof of every record it carries, whoever relays it; a member
// holding the cluster key and a trusted key of its own cannot make a node
// take records in P's name. Without them, deltas are taken as they come
// and proofs dropped.
func TestRecordProofsGate(t *testing.T) {
	s := newSignedSet(t, "a", "p", "m")
	for _, tc := range []struct {
		name    string
		records bool // the receiver checks record proofs
		delta   func(recs []lsync.Record, p *proof.Proof) lsync.NodeDelta
		taken   bool
	}{
		{"relayed with P's proof", true, func(recs []lsync.Record, p *proof.Proof) lsync.NodeDelta {
			return pDelta(recs, p)
		}, true},
		{"a slice with its proof", true, func(recs []lsync.Record, p *proof.Proof) lsync.NodeDelta {
			q := cut(t, p, recs, 0, 3)
			d := pDelta(recs[:3], q)
			d.To, d.Clean = 3, 3
			return d
		}, true},
		{"signed by the member's key", true, func(recs []lsync.Record, _ *proof.Proof) lsync.NodeDelta {
			_, forged := provenRecords(t, s.keys["m"], "p", len(recs))
			return pDelta(recs, forged)
		}, false},
		{"a value altered in flight", true, func(recs []lsync.Record, p *proof.Proof) lsync.NodeDelta {
			alt := append([]lsync.Record(nil), recs...)
			alt[2].Value = []byte("forged")
			return pDelta(alt, p)
		}, false},
		{"a record added", true, func(recs []lsync.Record, p *proof.Proof) lsync.NodeDelta {
			d := pDelta(append(append([]lsync.Record(nil), recs...), lsync.Record{Key: "x", Value: []byte("y"), Version: 9}), p)
			d.To, d.Clean = 9, 9
			return d
		}, false},
		{"a record dropped from under its proof", true, func(recs []lsync.Record, p *proof.Proof) lsync.NodeDelta {
			d := pDelta(recs[:4], p)
			d.To, d.Clean = 4, 4
			return d
		}, false},
		{"no proof", true, func(recs []lsync.Record, _ *proof.Proof) lsync.NodeDelta {
			return pDelta(recs, nil)
		}, false},
		{"unsigned: no proof", false, func(recs []lsync.Record, _ *proof.Proof) lsync.NodeDelta {
			return pDelta(recs, nil)
		}, true},
		{"unsigned: a forged proof is dropped, not checked", false, func(recs []lsync.Record, _ *proof.Proof) lsync.NodeDelta {
			_, forged := provenRecords(t, s.keys["m"], "p", len(recs))
			return pDelta(recs, forged)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, p := s.provingEngine(t, "a", tc.records), s.provingEngine(t, "p", tc.records)
			m := s.provingEngine(t, "m", tc.records)
			deliver(t, a, t0, "p:1", p.helloMsg())
			deliver(t, a, t0, "m:1", m.helloMsg())
			recs, pr := provenRecords(t, s.keys["p"], "p", 6)
			d := tc.delta(recs, pr)
			rd := deliver(t, a, t0.Add(time.Millisecond), "m:1", &lsync.Push{Cluster: "test", From: "m", Hops: 1, Deltas: []lsync.NodeDelta{d}})
			v, _ := a.State().View("p")
			if taken := v.MaxVersion == d.To; taken != tc.taken {
				t.Fatalf("taken %v (p at %d), want %v; rejected %+v", taken, v.MaxVersion, tc.taken, rd.Rejected)
			}
			refused := 0
			for _, r := range rd.Rejected {
				if r.Reason == BadRecordProof && r.ID == "p" && r.From == "m:1" {
					refused++
				}
			}
			if want := map[bool]int{true: 0, false: 1}[tc.taken]; refused != want {
				t.Fatalf("%d refusals counted, want %d: %+v", refused, want, rd.Rejected)
			}
			if st := a.RecordStats(); st.BadRecordProofs != uint64(refused) {
				t.Fatalf("stats count %d refusals", st.BadRecordProofs)
			}
			if !tc.taken {
				if !rd.Batch.Empty() || len(rd.Send) > 0 && hasPush(rd) {
					t.Fatalf("a refused delta was stored or pushed: %+v", rd.Batch)
				}
				return
			}
			c := rd.Batch.Changes[0]
			if tc.records != (len(c.Proofs) > 0) {
				t.Fatalf("the store gets %d proofs", len(c.Proofs))
			}
			for _, q := range c.Proofs {
				if q.Header.Root == (proof.Hash{}) {
					t.Fatal("a proof reaches the store without its root")
				}
			}
		})
	}
}

func pDelta(recs []lsync.Record, p *proof.Proof) lsync.NodeDelta {
	d := lsync.NodeDelta{ID: "p", Generation: 1, To: 6, Clean: 6, Records: recs}
	if p != nil {
		d.Proofs = []*proof.Proof{p}
	}
	return d
}

func cut(t *testing.T, p *proof.Proof, recs []lsync.Record, lo, hi int) *proof.Proof {
	t.Helper()
	leaves := make([]proof.Hash, len(recs))
	for i := range recs {
		leaves[i] = proof.LeafHash("p", (*proof.Record)(&recs[i]))
	}
	q, _, err := p.Subset(leaves, []proof.Span{{Lo: lo, Hi: hi}})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func hasPush(rd Ready) bool {
	for _, o := range rd.Send {
		if _, ok := o.Msg.(*lsync.Push); ok {
			return true
		}
	}
	return false
}

// TestVerifyDeltaErrors: what verifyDelta reports, for the log.
func TestVerifyDeltaErrors(t *testing.T) {
	s := newSignedSet(t, "p")
	recs, p := provenRecords(t, s.keys["p"], "p", 4)
	d := pDelta(recs, nil)
	if err := verifyDelta(&d, originKeys{pub: s.keys["p"].Public()}, nil); !errors.Is(err, errUnproven) {
		t.Fatalf("unproven delta: %v", err)
	}
	d = pDelta(recs, p)
	d.Generation = 2
	if err := verifyDelta(&d, originKeys{pub: s.keys["p"].Public()}, nil); !errors.Is(err, proof.ErrMismatch) {
		t.Fatalf("proof of another generation: %v", err)
	}
}

// TestRecordProofsRetiredKey: after P rotates its key, a proof that P's
// old key signed is taken as long as P's record, signed by its current
// key, names the old one as retired for the proof's generation and
// versions, and the receiver has not revoked it; the receiver need not
// trust the old key for P at all.
func TestRecordProofsRetiredKey(t *testing.T) {
	s := newSignedSet(t, "a", "p", "m", "old")
	old := s.keys["old"] // P's key before; pinned for P nowhere
	retired := func(gen, through uint64) []identity.RetiredKey {
		return []identity.RetiredKey{{PublicKey: old.Public(), Generation: gen, Through: through}}
	}
	for _, tc := range []struct {
		name    string
		retired []identity.RetiredKey
		signer  *identity.Key
		revoked bool
		taken   bool
	}{
		{"named retired", retired(1, 6), old, false, true},
		{"named retired, through later versions", retired(1, 1<<40), old, false, true},
		{"the current key, old named", retired(1, 6), s.keys["p"], false, true},
		{"not named", nil, old, false, false},
		{"named through an earlier version", retired(1, 5), old, false, false},
		{"named for another generation", retired(2, 6), old, false, false},
		{"named, but revoked by the receiver", retired(1, 6), old, true, false},
		{"another key, old named", retired(1, 6), s.keys["m"], false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trust := s.trust
			if tc.revoked {
				trust = trust.WithRevoked(old.Public())
			}
			a := newEngineWith(t, "a", func(c *Config) {
				c.Signing = &Signing{Key: s.keys["a"], Trust: identity.NewTrustCache(trust, 16),
					Chain: s.chain(t, "a", c.Self.Generation, c.Boot<<32), Records: true}
			})
			if _, err := a.SignRecord(t0); err != nil {
				t.Fatal(err)
			}
			p := s.provingEngine(t, "p", true)
			p.SetRetiredKeys(tc.retired)
			if _, err := p.SignRecord(t0.Add(time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			deliver(t, a, t0, "p:1", p.helloMsg())
			if r, ok := a.Record("p"); !ok || len(r.Retired) != len(tc.retired) {
				t.Fatalf("a holds p's record %+v", r)
			}
			recs, pr := provenRecords(t, tc.signer, "p", 6)
			rd := deliver(t, a, t0.Add(2*time.Millisecond), "m:1", &lsync.Push{Cluster: "test", From: "m", Hops: 1, Deltas: []lsync.NodeDelta{pDelta(recs, pr)}})
			v, _ := a.State().View("p")
			if taken := v.MaxVersion == 6; taken != tc.taken {
				t.Fatalf("taken %v (p at %d), want %v; rejected %+v", taken, v.MaxVersion, tc.taken, rd.Rejected)
			}
			if st := a.RecordStats(); st.BadRecordProofs != map[bool]uint64{true: 0, false: 1}[tc.taken] {
				t.Fatalf("%d refusals counted", st.BadRecordProofs)
			}
		})
	}
}
