package sync

import "testing"

// TestLagFollowsWatermarks: a digest that shows a peer ahead starts its
// lag; the records arriving end it. A relay's watermark beyond the ceiling
// is not taken, and one within it lasts only until the peer speaks for
// itself.
func TestLagFollowsWatermarks(t *testing.T) {
	a, b, rng := converged(t)
	a.SetTime(1000)
	b.SetTime(1000)
	if n, since := a.Lag("b"); n != 0 || since != 0 {
		t.Fatalf("in step, lag = %d since %d", n, since)
	}

	write(t, b, "1", "x", "2", "x", "3", "x")
	st := a.HandleFrom(wire(t, b.MakeSyn(rng), testPacket), "b:1", rng)
	commitTo(a, st.Batch)
	if n, since := a.Lag("b"); n != 3 || since != 1000 {
		t.Fatalf("after b's digest, lag = %d since %d, want 3 since 1000", n, since)
	}
	a.SetTime(2500)
	st = b.Handle(wire(t, st.Reply, testMessage), rng)
	commitTo(b, st.Batch)
	if st.Reply != nil {
		commitTo(a, a.Handle(wire(t, st.Reply, testMessage), rng).Batch)
	}
	if n, since := a.Lag("b"); n != 0 || since != 0 {
		t.Fatalf("after the exchange, lag = %d since %d", n, since)
	}

	held := b.Self().MaxVersion
	relay := func(v uint64) {
		e := b.self.entry()
		e.MaxVersion = v
		commitTo(a, a.HandleFrom(&Syn{Cluster: "test", From: "c", Digest: []DigestEntry{e}}, "c:1", rng).Batch)
	}
	relay(1 << 62) // beyond the ceiling: not a claim anyone could make
	if n, _ := a.Lag("b"); n != 0 {
		t.Fatalf("a watermark beyond the ceiling gave a lag of %d", n)
	}
	relay(held + 1000)
	if n, _ := a.Lag("b"); n != 1000 {
		t.Fatalf("a relayed watermark 1000 ahead gave a lag of %d", n)
	}
	commitTo(a, a.HandleFrom(wire(t, b.MakeSyn(rng), testPacket), "b:1", rng).Batch)
	if n, _ := a.Lag("b"); n != 0 {
		t.Fatalf("b's own word left a lag of %d", n)
	}
}
