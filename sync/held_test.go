package sync

import (
	"fmt"
	"math/rand"
	"testing"
)

// heldSetup returns a writer a with one record that r holds, and the
// pushes of a's next n single-record batches, 2 … n+1, through the codec.
func heldSetup(t *testing.T, n int) (a, r *State, pushes []*Push) {
	t.Helper()
	a = newTestState(t, "a", 1)
	r = newTestState(t, "r", 1)
	write(t, a, "k0", "v")
	exchange(t, r, a, rand.New(rand.NewSource(1)))
	if v, _ := r.View("a"); v.MaxVersion != 1 {
		t.Fatalf("r holds a to %d, not 1", v.MaxVersion)
	}
	for i := 1; i <= n; i++ {
		v := a.Self().MaxVersion + 1
		b, err := a.LocalWrite([]Record{{Key: fmt.Sprintf("k%d", i), Value: []byte("v"), Version: v}})
		if err != nil {
			t.Fatal(err)
		}
		m, _ := a.MakePush(3, a.PushDeltas(b))
		commitTo(a, b)
		pushes = append(pushes, wire(t, m, testPacket).(*Push))
	}
	return a, r, pushes
}

// TestPushesOutOfOrderAreHeld: a push that arrives ahead of the one before
// it waits for it, within the bounds, instead of waiting for a round.
func TestPushesOutOfOrderAreHeld(t *testing.T) {
	cases := []struct {
		name  string
		n     int
		order []int  // indexes into the pushes, delivered in this order
		wait  uint64 // ms between the first delivery and the rest
		want  []uint64
		held  uint64 // HeldDeltas after the deliveries
		gaps  uint64 // GapDeltas
	}{
		{name: "in order", n: 3, order: []int{0, 1, 2}, want: []uint64{2, 3, 4}},
		{name: "reversed", n: 3, order: []int{2, 1, 0}, want: []uint64{1, 1, 4}, held: 2},
		{name: "one late", n: 3, order: []int{1, 2, 0}, want: []uint64{1, 1, 4}, held: 2},
		{name: "duplicates held once", n: 2, order: []int{1, 1, 1, 0}, want: []uint64{1, 1, 1, 3}, held: 1},
		{name: "expired", n: 2, order: []int{1, 0}, wait: heldTTL + 1, want: []uint64{1, 2}, held: 1},
		{name: "over the bound per node", n: heldPerNode + 2, order: heldOrder(heldPerNode + 2),
			want: heldWant(heldPerNode + 2), held: heldPerNode, gaps: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, r, pushes := heldSetup(t, tc.n)
			r.SetTime(1000)
			for i, k := range tc.order {
				if i == 1 {
					r.SetTime(1000 + tc.wait)
				}
				st := r.Handle(pushes[k], nil)
				commitTo(r, st.Batch)
				if v, _ := r.View("a"); v.MaxVersion != tc.want[i] {
					t.Fatalf("after push %d (#%d), r holds a to %d, want %d", k, i, v.MaxVersion, tc.want[i])
				}
			}
			st := r.Stats()
			if st.HeldDeltas != tc.held || st.GapDeltas != tc.gaps {
				t.Fatalf("held %d, gaps %d; want %d, %d", st.HeldDeltas, st.GapDeltas, tc.held, tc.gaps)
			}
			if r.held.count < 0 || r.held.bytes < 0 || (r.held.count == 0) != (len(r.held.by) == 0) {
				t.Fatalf("held accounting off: %d deltas, %d bytes, %d nodes", r.held.count, r.held.bytes, len(r.held.by))
			}
		})
	}
}

// heldOrder delivers every push but the first, then the first.
func heldOrder(n int) []int {
	out := make([]int, 0, n)
	for i := 1; i < n; i++ {
		out = append(out, i)
	}
	return append(out, 0)
}

// heldWant is what r holds of a along heldOrder when one push beyond the
// bound is not held: the first arrives last and releases all held ones,
// stopping at the gap the refused push left.
func heldWant(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = 1
	}
	out[n-1] = uint64(heldPerNode) + 2
	return out
}

// A gap in an exchange's delta is not held: its sender answers a digest,
// and the next exchange starts from the watermark.
func TestExchangeGapsAreNotHeld(t *testing.T) {
	_, r, pushes := heldSetup(t, 2)
	ack := &Ack{Cluster: "test", From: "a", Deltas: pushes[1].Deltas}
	commitTo(r, r.Handle(wire(t, ack, testMessage), nil).Batch)
	if st := r.Stats(); st.HeldDeltas != 0 || st.GapDeltas != 1 || r.held.count != 0 {
		t.Fatalf("an Ack's gap: held %d, gaps %d", st.HeldDeltas, st.GapDeltas)
	}
}
