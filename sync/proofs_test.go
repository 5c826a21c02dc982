package sync

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"math/rand"
	"testing"

	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/proof"
)

func proofKey(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.Generate(bytes.NewReader(bytes.Repeat([]byte{9}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sealRecs returns n records of origin at versions 1..n and their proof.
func sealRecs(t testing.TB, origin string, gen uint64, n int) ([]Record, *proof.Proof) {
	t.Helper()
	recs := make([]Record, n)
	prs := make([]proof.Record, n)
	for i := range recs {
		recs[i] = Record{Key: fmt.Sprintf("k%d", i), Value: []byte{byte(i)}, Version: uint64(i + 1)}
		prs[i] = proof.Record(recs[i])
	}
	p, _, err := proof.Seal(proofKey(t), origin, gen, prs)
	if err != nil {
		t.Fatal(err)
	}
	return recs, p
}

// checkProofs fails unless ps prove exactly recs: every record in one
// proof's range, each proof matching its records and signed by proofKey.
func checkProofs(t *testing.T, origin string, ps []*proof.Proof, recs []Record) {
	t.Helper()
	n := 0
	for k, p := range ps {
		lo, hi := inRange(p, recs)
		if k > 0 && p.First <= ps[k-1].Last {
			t.Fatalf("proof %d overlaps the one before", k)
		}
		q := *p
		if err := q.Verify(proofKey(t).Public(), leavesOf(origin, recs[lo:hi]), nil); err != nil {
			t.Fatalf("proof %d of records %d to %d: %v", k, lo, hi, err)
		}
		n += hi - lo
	}
	if n != len(recs) {
		t.Fatalf("proofs cover %d of %d records", n, len(recs))
	}
}

func TestCutProofs(t *testing.T) {
	recs, p := sealRecs(t, "a", 1, 8)
	for _, tc := range []struct {
		name string
		keep []int
	}{
		{"all", []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{"none", nil},
		{"a suffix", []int{3, 4, 5, 6, 7}},
		{"holes", []int{0, 2, 5, 7}},
		{"one", []int{6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sub []Record
			for _, i := range tc.keep {
				sub = append(sub, recs[i])
			}
			ps, ok := CutProofs("a", []*proof.Proof{p}, recs, sub)
			if !ok {
				t.Fatal("cut failed")
			}
			if len(sub) == 0 && len(ps) != 0 {
				t.Fatalf("%d proofs of no record", len(ps))
			}
			checkProofs(t, "a", ps, sub)
		})
	}
	// Records that do not match the proof's count: refused.
	if _, ok := CutProofs("a", []*proof.Proof{p}, recs[:7], recs[:3]); ok {
		t.Fatal("a proof of 8 records cut from 7")
	}
}

// TestDeltaProofsCarried: the core hands the store the proofs of exactly
// the records it takes: cut above its watermark, and two slices of one
// batch in one step joined into one proof.
func TestDeltaProofsCarried(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	recs, p := sealRecs(t, "a", 1, 8)
	full := NodeDelta{ID: "a", Generation: 1, From: 0, To: 8, Clean: 8, Records: recs, Proofs: []*proof.Proof{p}}
	leaves := leavesOf("a", recs)
	slice := func(lo, hi int) NodeDelta {
		q, _, err := p.Subset(leaves, []proof.Span{{Lo: lo, Hi: hi}})
		if err != nil {
			t.Fatal(err)
		}
		return NodeDelta{ID: "a", Generation: 1, From: uint64(lo), To: uint64(hi), Clean: uint64(hi),
			Records: recs[lo:hi], Proofs: []*proof.Proof{q}}
	}
	for _, tc := range []struct {
		name   string
		before []Record // taken before, unsigned
		deltas []NodeDelta
		want   []Record
		proofs int
	}{
		{"whole", nil, []NodeDelta{full}, recs, 1},
		{"above the watermark", recs[:3], []NodeDelta{full}, recs[3:], 1},
		{"two slices joined", nil, []NodeDelta{slice(0, 3), slice(3, 8)}, recs, 1},
		{"a slice and the rest", recs[:2], []NodeDelta{slice(0, 5), full}, recs[2:], 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, r := newTestState(t, "a", 1), newTestState(t, "r", 1)
			exchange(t, r, a, rng)
			if len(tc.before) > 0 {
				n := len(tc.before)
				st := r.Handle(&Push{Cluster: "test", From: "a", Hops: 1, Deltas: []NodeDelta{{ID: "a", Generation: 1,
					To: uint64(n), Clean: uint64(n), Records: tc.before}}}, nil)
				commitTo(r, st.Batch)
			}
			st := r.Handle(&Push{Cluster: "test", From: "a", Hops: 1, Deltas: tc.deltas}, nil)
			if st.Batch.Empty() {
				t.Fatal("nothing taken")
			}
			c := st.Batch.Changes[0]
			if len(c.Records) != len(tc.want) || len(c.Proofs) != tc.proofs {
				t.Fatalf("took %d records with %d proofs, want %d with %d", len(c.Records), len(c.Proofs), len(tc.want), tc.proofs)
			}
			checkProofs(t, "a", c.Proofs, c.Records)
			// A push of the change carries its proofs on.
			ds := r.PushDeltas(st.Batch)
			if len(ds) != 1 {
				t.Fatalf("push deltas %+v", ds)
			}
			checkProofs(t, "a", ds[0].Proofs, ds[0].Records)
		})
	}
}

// TestPushDeltasCutProofs: a push carries one record per key, and the
// proof of exactly those.
func TestPushDeltasCutProofs(t *testing.T) {
	a, r := newTestState(t, "a", 1), newTestState(t, "r", 1)
	exchange(t, r, a, rand.New(rand.NewSource(1)))
	recs, _ := sealRecs(t, "a", 1, 6)
	recs[4].Key = recs[1].Key // overwritten within the batch
	prs := make([]proof.Record, len(recs))
	for i := range recs {
		prs[i] = proof.Record(recs[i])
	}
	p, _, err := proof.Seal(proofKey(t), "a", 1, prs)
	if err != nil {
		t.Fatal(err)
	}
	st := r.Handle(&Push{Cluster: "test", From: "a", Hops: 1, Deltas: []NodeDelta{{ID: "a", Generation: 1,
		To: 6, Clean: 6, Records: recs, Proofs: []*proof.Proof{p}}}}, nil)
	ds := r.PushDeltas(st.Batch)
	if len(ds) != 1 || len(ds[0].Records) != 5 {
		t.Fatalf("push deltas %+v", ds)
	}
	checkProofs(t, "a", ds[0].Proofs, ds[0].Records)
	m, _ := r.MakePush(2, ds)
	got := wire(t, m, testPacket).(*Push)
	if len(got.Deltas) != 1 || len(got.Deltas[0].Proofs) != 1 {
		t.Fatalf("push on the wire: %+v", got.Deltas)
	}
}

// provenStore is MemRecords with the proofs of some records: a
// ProofScanner as a store keeps one.
type provenStore struct {
	*MemRecords
	at map[uint64]RecordProof
}

func (ps *provenStore) ScanProofs(view PeerMeta, after uint64, fn func(r *Record, p RecordProof) bool) (uint64, error) {
	return ps.Scan(view, after, func(r *Record) bool { return fn(r, ps.at[r.Version]) })
}

// TestProvenFill: a core that serves proofs reads each record with its
// proof and cuts the proof of what a reply carries, within the budget;
// it serves nothing past a record it holds no proof of.
func TestProvenFill(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proven  int // the first records with a proof, of 300 in batches of 64
		budget  int
		want    int // records served; -1: some, short of the proven ones
		partial bool
	}{
		{"all proven", 300, testMessage, 300, false},
		{"a proven prefix", 100, testMessage, 100, true},
		{"none proven", 0, testMessage, 0, true},
		{"a small message", 300, 2048, -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &provenStore{MemRecords: NewMemRecords(), at: map[uint64]RecordProof{}}
			lim := DefaultLimits
			lim.MaxKeyBytes, lim.MaxValueBytes = 64, 64
			s, err := NewState(Config{Cluster: "test", Self: PeerMeta{ID: "a", Addr: "a:1", Generation: 1}, Heartbeat: 1,
				PacketBudget: testPacket, MessageBudget: tc.budget, Limits: lim, Storage: store, RecordProofs: true})
			if err != nil {
				t.Fatal(err)
			}
			var recs []Record
			for i := range 300 {
				recs = append(recs, Record{Key: fmt.Sprintf("key-%04d", i), Value: bytes.Repeat([]byte{1}, 20), Version: uint64(i + 1)})
			}
			b, err := s.LocalWrite(recs)
			if err != nil {
				t.Fatal(err)
			}
			store.Apply(b)
			s.Commit(b)
			for lo := 0; lo < tc.proven; lo += 64 {
				hi := min(lo+64, tc.proven)
				prs := make([]proof.Record, hi-lo)
				for i := range prs {
					prs[i] = proof.Record(recs[lo+i])
				}
				p, leaves, err := proof.Seal(proofKey(t), "a", 1, prs)
				if err != nil {
					t.Fatal(err)
				}
				tree, err := proof.NewTree(p, leaves)
				if err != nil {
					t.Fatal(err)
				}
				for i := lo; i < hi; i++ {
					store.at[recs[i].Version] = RecordProof{Tree: tree, Pos: i - lo}
				}
			}
			syn := &Syn{Cluster: "test", From: "r", Digest: []DigestEntry{
				{ID: "r", Addr: "r:1", Generation: 1, Heartbeat: 1}, {ID: "a", Addr: "a:1", Generation: 1, Heartbeat: 1}}}
			st := s.Handle(syn, rand.New(rand.NewSource(1)))
			ack, ok := st.Reply.(*SynAck)
			if !ok {
				t.Fatalf("reply %T", st.Reply)
			}
			ack = wire(t, ack, tc.budget).(*SynAck)
			var got *NodeDelta
			for i := range ack.Deltas {
				if ack.Deltas[i].ID == "a" {
					got = &ack.Deltas[i]
				}
			}
			n := 0
			if got != nil {
				n = len(got.Records)
				if got.To != got.Records[n-1].Version && !(got.To == 300 && n == 300) {
					t.Fatalf("delta to %d, last record %d", got.To, got.Records[n-1].Version)
				}
				for _, p := range got.Proofs {
					lo, hi := inRange(p, got.Records)
					if err := p.Verify(proofKey(t).Public(), leavesOf("a", got.Records[lo:hi]), nil); err != nil {
						t.Fatal(err)
					}
				}
				checkProofs(t, "a", got.Proofs, got.Records)
			}
			switch {
			case tc.want >= 0 && n != tc.want:
				t.Fatalf("served %d records, want %d", n, tc.want)
			case tc.want < 0 && (n == 0 || n >= tc.proven):
				t.Fatalf("served %d records in a datagram", n)
			case ack.More != tc.partial:
				t.Fatalf("more = %v, want %v", ack.More, tc.partial)
			}
		})
	}
}
