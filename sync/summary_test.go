package sync

import (
	"math/rand"
	"testing"
)

// converged returns two nodes that know each other and hold the same
// data.
func converged(t *testing.T) (a, b *State, rng *rand.Rand) {
	t.Helper()
	rng = rand.New(rand.NewSource(1))
	a, b = newTestState(t, "a", 1), newTestState(t, "b", 1)
	write(t, a, "k", "v")
	write(t, b, "x", "y")
	for range 3 {
		exchange(t, a, b, rng)
		exchange(t, b, a, rng)
	}
	if err := sameData(a, b); err != nil {
		t.Fatal(err)
	}
	return a, b, rng
}

// TestSummaryFollowsDataNotHeartbeats: two nodes in step have the same
// summary whatever their heartbeats; a write, a leave or a new member
// makes it differ until an exchange brings them back in step.
func TestSummaryFollowsDataNotHeartbeats(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, a, b *State)
		differ bool
	}{
		{name: "heartbeats only", change: func(_ *testing.T, a, _ *State) { a.Beat(); a.Beat() }},
		{name: "a write", change: func(t *testing.T, a, _ *State) { write(t, a, "k", "w") }, differ: true},
		{name: "a leave", change: func(_ *testing.T, a, _ *State) { a.Leave() }, differ: true},
		{name: "a new member", change: func(t *testing.T, a, _ *State) {
			c := newTestState(t, "c", 1)
			write(t, c, "c", "1")
			exchange(t, c, a, rand.New(rand.NewSource(2)))
		}, differ: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, rng := converged(t)
			if a.Summary() != b.Summary() {
				t.Fatal("nodes in step have different summaries")
			}
			tc.change(t, a, b)
			if got := a.Summary() != b.Summary(); got != tc.differ {
				t.Fatalf("summaries differ: %v, want %v", got, tc.differ)
			}
			for range 3 {
				exchange(t, a, b, rng)
				exchange(t, b, a, rng)
			}
			if a.Summary() != b.Summary() {
				t.Fatal("summaries still differ after exchanges")
			}
		})
	}
}

// TestSummarySynAnswered: a quiet round's Syn costs one datagram when the
// two are in step; when they are not, the receiver answers with its full
// digest and the exchange that follows brings the sender what it lacked.
func TestSummarySynAnswered(t *testing.T) {
	a, b, rng := converged(t)
	syn := wire(t, a.SummarySyn(), testPacket).(*Syn)
	if len(syn.Digest) != 0 || syn.Summary == 0 {
		t.Fatalf("summary syn = %+v, want an empty digest and a summary", syn)
	}
	if st := b.Handle(syn, rng); st.Reply != nil {
		t.Fatalf("in step, yet answered with %s", st.Reply.Type())
	}

	write(t, b, "new", "1")
	st := b.Handle(wire(t, a.SummarySyn(), testPacket), rng)
	back, ok := st.Reply.(*Syn)
	if !ok || back.Summary != 0 || len(back.Digest) < 2 {
		t.Fatalf("out of step, answered %+v, want a full Syn", st.Reply)
	}
	// The answer opens an exchange the other way: a answers b's Syn, b
	// acks.
	st = a.Handle(wire(t, back, testPacket), rng)
	commitTo(a, st.Batch)
	st = b.Handle(wire(t, st.Reply, testMessage), rng)
	commitTo(b, st.Batch)
	if st.Reply != nil {
		commitTo(a, a.Handle(wire(t, st.Reply, testMessage), rng).Batch)
	}
	if r, ok := a.Get("b", "new"); !ok || string(r.Value) != "1" {
		t.Fatal("a did not get b's write through the answered summary")
	}
	if a.Summary() != b.Summary() {
		t.Fatal("still out of step")
	}
}
