package sync

import (
	"math/rand"
	"strings"
	"testing"
)

// A push carries what a batch adds, from the watermark it was made
// against, one record per key, and fits one datagram through the codec.
func TestPushDeltasOfALocalWrite(t *testing.T) {
	a := newTestState(t, "a", 1)
	write(t, a, "x", "1")
	b, err := a.LocalWrite([]Record{{Key: "k", Value: []byte("old"), Version: 2},
		{Key: "y", Value: []byte("2"), Version: 3}, {Key: "k", Value: []byte("new"), Version: 4}})
	if err != nil {
		t.Fatal(err)
	}
	ds := a.PushDeltas(b)
	if len(ds) != 1 || ds[0].From != 1 || ds[0].To != 4 || ds[0].Clean != 4 || len(ds[0].Records) != 2 ||
		ds[0].Records[0].Key != "y" || string(ds[0].Records[1].Value) != "new" {
		t.Fatalf("push deltas %+v", ds)
	}
	m, left := a.MakePush(7, ds)
	if m == nil || left != 0 {
		t.Fatalf("push %+v, %d left", m, left)
	}
	got := wire(t, m, testPacket).(*Push)
	commitTo(a, b)

	// A peer that knows a takes it, and takes it only once.
	r := newTestState(t, "r", 1)
	exchange(t, r, a, rand.New(rand.NewSource(1)))
	r2 := newTestState(t, "r2", 1)
	st := r2.Handle(wire(t, a.MakeSyn(rand.New(rand.NewSource(1))), testPacket), rand.New(rand.NewSource(1)))
	commitTo(r2, st.Batch)
	if _, ok := r2.View("a"); !ok {
		t.Fatal("r2 did not learn of a")
	}
	st = r2.Handle(got, nil)
	if !st.Batch.Empty() {
		t.Fatalf("a peer not holding a's first record took a push starting after it: %+v", st.Batch)
	}
	if st := r.Handle(got, nil); !st.Batch.Empty() || st.Reply != nil {
		t.Fatalf("a peer holding the records took them again: %+v", st)
	}
}

func TestPushLeavesOutWhatDoesNotFit(t *testing.T) {
	a := newTestState(t, "a", 1)
	big := strings.Repeat("v", 2*testPacket)
	b, err := a.LocalWrite([]Record{{Key: "k", Value: []byte(big), Version: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if m, left := a.MakePush(3, a.PushDeltas(b)); m != nil || left != 1 {
		t.Fatalf("push of a record over the packet: %v, %d left", m != nil, left)
	}
	// Changes a push cannot express are left to anti-entropy.
	reset := &Batch{Changes: []PeerChange{{Meta: PeerMeta{ID: "a", Generation: 1, MaxVersion: 1}, Reset: true,
		Records: []Record{{Key: "k", Version: 1}}}}}
	if ds := a.PushDeltas(reset); len(ds) != 0 {
		t.Fatalf("a reset was pushed: %+v", ds)
	}
}

// Pushes received together and joined apply as they would one by one in
// the best order: a push that continues another, or overlaps it, applies
// after it whichever arrived first, and a gap stays a gap.
func TestMergedPushesApplyInTurn(t *testing.T) {
	rec := func(v uint64) Record { return Record{Key: "k" + string(rune('a'+v)), Value: []byte("v"), Version: v} }
	delta := func(from, to uint64) NodeDelta {
		d := NodeDelta{ID: "a", Generation: 1, From: from, To: to, Clean: to}
		for v := from + 1; v <= to; v++ {
			d.Records = append(d.Records, rec(v))
		}
		return d
	}
	tests := []struct {
		name   string
		deltas [][]NodeDelta // one push each, in arrival order
		want   uint64        // a's watermark after the joined push
	}{
		{"in order", [][]NodeDelta{{delta(1, 2)}, {delta(2, 4)}}, 4},
		{"reversed", [][]NodeDelta{{delta(2, 4)}, {delta(1, 2)}}, 4},
		{"overlapping", [][]NodeDelta{{delta(3, 6)}, {delta(1, 4)}}, 6},
		{"duplicate", [][]NodeDelta{{delta(1, 3)}, {delta(1, 3)}}, 3},
		{"a gap", [][]NodeDelta{{delta(4, 6)}, {delta(1, 2)}}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestState(t, "a", 1)
			write(t, a, "x", "1")
			r := newTestState(t, "r", 1)
			exchange(t, r, a, rand.New(rand.NewSource(1))) // r holds a up to 1
			var ps []*Push
			for i, ds := range tc.deltas {
				ps = append(ps, &Push{Cluster: "test", From: "a", Hops: uint8(i + 1), Deltas: ds})
			}
			m := MergePushes(ps)
			if m.Hops != uint8(len(ps)) {
				t.Fatalf("joined push goes %d hops, want the farthest, %d", m.Hops, len(ps))
			}
			st := r.Handle(m, nil)
			commitTo(r, st.Batch)
			if v, _ := r.View("a"); v.MaxVersion != tc.want {
				t.Fatalf("r holds a up to %d, want %d", v.MaxVersion, tc.want)
			}
		})
	}
}
