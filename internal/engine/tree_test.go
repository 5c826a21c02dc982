package engine

import (
	"slices"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

func linksIn(rd *Ready) map[string]lsync.Link {
	out := map[string]lsync.Link{}
	for _, o := range rd.Send {
		if p, ok := o.Msg.(*lsync.Push); ok && p.Link != lsync.LinkNone {
			out[o.To] = p.Link
		}
	}
	return out
}

// The push tree's links: a push that was news makes its sender eager; a
// second copy prunes the link at both ends, and pushes still on their way
// from the pruned peer do not make it again; a graft makes one, up to
// treeMax, beyond which the grafting peer is pruned.
func TestPushTreeLinks(t *testing.T) {
	a := pushEngine(t, "a", 2, 0, "b:1", "c:1")
	wr, _ := a.Write(t0, []lsync.Record{{Key: "k", Value: []byte("v")}})
	commitPush(a, &wr)
	_, m := pushesIn(&wr)

	b := pushEngine(t, "b", 2, 0, "a:1", "c:1", "d:1", "e:1", "f:1", "g:1", "h:1", "i:1", "j:1")
	knowA(b)
	rd := b.Step(t0, "c:1", m)
	commitPush(b, &rd)
	if !slices.Contains(b.eager, "c:1") || len(linksIn(&rd)) != 0 {
		t.Fatalf("after news from c: eager %v, links %v", b.eager, linksIn(&rd))
	}
	rd = b.Step(t0, "d:1", m)
	commitPush(b, &rd)
	if l := linksIn(&rd); l["d:1"] != lsync.LinkPrune || slices.Contains(b.eager, "d:1") {
		t.Fatalf("a second copy from d: links %v, eager %v; want d pruned", l, b.eager)
	}
	rd = b.Step(t0.Add(time.Millisecond), "d:1", m)
	if slices.Contains(b.eager, "d:1") || len(linksIn(&rd)) != 0 {
		t.Fatal("a push in flight from a pruned peer made the link again, or was pruned twice")
	}
	// A graft is followed even from a pruned peer, until the node is full.
	for _, p := range []string{"d:1", "e:1", "f:1", "g:1", "h:1", "i:1", "j:1"} {
		rd = b.Step(t0, p, &lsync.Push{Cluster: "test", From: p, Link: lsync.LinkGraft})
		full := len(b.eager) >= b.treeMax() && !slices.Contains(b.eager, p)
		if got := linksIn(&rd)[p]; full != (got == lsync.LinkPrune) {
			t.Fatalf("graft from %s with eager %v: answered %v", p, b.eager, got)
		}
	}
	if len(b.eager) != b.treeMax() {
		t.Fatalf("eager %v, want %d", b.eager, b.treeMax())
	}
	// A prune drops the link, and what waited in the outbox for it.
	b.out = outbox{}
	b.queuePush(&Ready{now: t0}, "e:1", m)
	b.Step(t0, "e:1", &lsync.Push{Cluster: "test", From: "e", Link: lsync.LinkPrune})
	if slices.Contains(b.eager, "e:1") || b.out.by["e:1"] != nil || slices.Contains(b.out.order, "e:1") {
		t.Fatalf("after e's prune: eager %v, outbox %v", b.eager, b.out.order)
	}
}

// A push held for its gap is not a second copy: it keeps the link.
func TestHeldPushKeepsTheLink(t *testing.T) {
	a := pushEngine(t, "a", 2, 0, "b:1", "c:1")
	var pushes []*lsync.Push
	for i, k := range []string{"k1", "k2"} {
		wr, _ := a.Write(t0.Add(time.Duration(i)*time.Second), []lsync.Record{{Key: k, Value: []byte("v")}})
		commitPush(a, &wr)
		_, m := pushesIn(&wr)
		pushes = append(pushes, m)
	}
	b := pushEngine(t, "b", 2, 0, "a:1", "c:1", "d:1")
	knowA(b)
	rd := b.Step(t0, "c:1", pushes[1])
	commitPush(b, &rd)
	if !rd.Batch.Empty() || len(linksIn(&rd)) != 0 || !slices.Contains(b.eager, "c:1") {
		t.Fatalf("held push: batch %v, links %v, eager %v", rd.Batch, linksIn(&rd), b.eager)
	}
	rd = b.Step(t0, "c:1", pushes[0])
	commitPush(b, &rd)
	if v, _ := b.state.View("a"); v.MaxVersion != 2 {
		t.Fatalf("b holds a to %d after the gap filled, want 2", v.MaxVersion)
	}
}

// An exchange that brings records of a writer no push has brought for
// missedAfter rounds grafts its sender; one that brings a writer's
// records while pushes of it arrive does not.
func TestExchangeGraftsWhenPushesMiss(t *testing.T) {
	cases := []struct {
		name   string
		pushed bool // a push of a's records arrived just before
		graft  bool
	}{
		{name: "no push lately", graft: true},
		{name: "pushes arriving", pushed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := pushEngine(t, "a", 2, 0, "b:1", "c:1")
			var pushes []*lsync.Push
			for i, k := range []string{"k1", "k2"} {
				wr, _ := a.Write(t0.Add(time.Duration(i)*time.Second), []lsync.Record{{Key: k, Value: []byte("v")}})
				commitPush(a, &wr)
				_, m := pushesIn(&wr)
				pushes = append(pushes, m)
			}
			b := pushEngine(t, "b", 2, 0, "a:1", "c:1", "d:1")
			knowA(b)
			b.eager, b.treeDrawn = []string{"d:1"}, true
			now := t0.Add(10 * time.Second)
			if tc.pushed {
				rd := b.Step(now, "d:1", pushes[0])
				commitPush(b, &rd)
			}
			ack := &lsync.Ack{Cluster: "test", From: "c", Deltas: pushes[1].Deltas}
			if !tc.pushed {
				ack.Deltas = append(append([]lsync.NodeDelta(nil), pushes[0].Deltas...), pushes[1].Deltas...)
			}
			rd := b.Step(now.Add(time.Millisecond), "c:1", ack)
			commitPush(b, &rd)
			if rd.Batch.Empty() {
				t.Fatal("the exchange brought nothing")
			}
			if got := linksIn(&rd)["c:1"] == lsync.LinkGraft; got != tc.graft || slices.Contains(b.eager, "c:1") != tc.graft {
				t.Fatalf("graft sent %v, c eager %v; want %v", got, b.eager, tc.graft)
			}
		})
	}
}
