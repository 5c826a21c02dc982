package sync

import (
	"fmt"
	"math/rand"
	"sort"
	"testing"
)

const grace = 1000 // ms

func del(t testing.TB, s *State, nowMs uint64, keys ...string) {
	t.Helper()
	v := s.Self().MaxVersion
	var recs []Record
	for _, k := range keys {
		v++
		recs = append(recs, Record{Key: k, Version: v, Tombstone: true, Value: TombstoneValue(nowMs)})
	}
	b, err := s.LocalWrite(recs)
	if err != nil {
		t.Fatal(err)
	}
	commitTo(s, b)
}

func collect(s *State, nowMs uint64) {
	commitTo(s, s.CollectTombstones(nowMs, grace))
}

// exchangeBudget is exchange with a small message budget, to force cuts.
func exchangeBudget(t testing.TB, a, b *State, rng *rand.Rand, budget int) {
	t.Helper()
	saveA, saveB := a.cfg.MessageBudget, b.cfg.MessageBudget
	a.cfg.MessageBudget, b.cfg.MessageBudget = budget, budget
	defer func() { a.cfg.MessageBudget, b.cfg.MessageBudget = saveA, saveB }()
	exchange(t, a, b, rng)
}

func TestTombstoneReplicatesThenCollected(t *testing.T) {
	bothStorages(t, testTombstoneReplicatesThenCollected)
}

func testTombstoneReplicatesThenCollected(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	a, b := newTestState(t, "a", 1), newTestState(t, "b", 1)
	write(t, a, "k", "v", "j", "w")
	exchange(t, a, b, rng)
	del(t, a, 100, "k")
	exchange(t, a, b, rng)
	if r, ok := b.Get("a", "k"); !ok || !r.Tombstone {
		t.Fatalf("tombstone not replicated: %+v %v", r, ok)
	}
	if keys := b.Keys("a"); len(keys) != 1 || keys[0] != "j" {
		t.Fatalf("b.Keys(a) = %v", keys)
	}
	collect(a, 100+grace-1)
	if a.Self().GCVersion != 0 {
		t.Fatal("collected before the grace period")
	}
	collect(a, 100+grace)
	if a.Self().GCVersion != 3 {
		t.Fatalf("GCVersion = %d, want 3", a.Self().GCVersion)
	}
	if _, ok := a.Get("a", "k"); ok {
		t.Fatal("owner still holds the collected tombstone")
	}
	exchange(t, b, a, rng)
	if _, ok := b.Get("a", "k"); ok {
		t.Fatal("b still holds a tombstone its owner collected")
	}
	if info, _ := b.Peer("a"); info.GCVersion != 3 {
		t.Fatalf("b's horizon for a = %d", info.GCVersion)
	}
}

// TestResetNeverResurrects: a node that missed a delete whose tombstone has
// since been collected is refilled from scratch; no cut of the refill, and
// no stale third node, brings the deleted key back.
func TestResetNeverResurrects(t *testing.T) { bothStorages(t, testResetNeverResurrects) }

func testResetNeverResurrects(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	a, late, stale := newTestState(t, "a", 1), newTestState(t, "late", 1), newTestState(t, "stale", 1)
	for i := 0; i < 40; i++ {
		write(t, a, fmt.Sprintf("k%02d", i), "0123456789012345678901234567890123456789")
	}
	exchange(t, a, late, rng)
	exchange(t, a, stale, rng)
	frozen := newTestState(t, "frozen", 1) // holds a's old copy, never syncs again
	exchange(t, a, frozen, rng)
	// late and stale are away while a deletes and collects.
	del(t, a, 100, "k05", "k17")
	write(t, a, "after", "x")
	collect(a, 100+grace)
	if a.Self().GCVersion == 0 {
		t.Fatal("nothing collected")
	}
	for round := 0; round < 200 && sameData(a, late) != nil; round++ {
		// Cut every refill at a few records; stale keeps offering its copy.
		exchangeBudget(t, late, a, rng, 600)
		exchange(t, late, stale, rng)
		for _, k := range []string{"k05", "k17"} {
			if r, ok := late.Get("a", k); ok && !r.Tombstone {
				t.Fatalf("round %d: deleted key %s is back on late", round, k)
			}
		}
	}
	if err := sameData(a, late); err != nil {
		t.Fatal(err)
	}
	// A sender that does not filter (an older or hostile node) offering its
	// unclean copy is refused by the receiver itself.
	pa := frozen.peers["a"]
	fill := &DeltaFill{store: frozen.store}
	nd, _, _ := fill.delta(&plannedDelta{view: pa.meta, from: 5, clean: pa.clean()}, testMessage)
	before := late.Stats().UncleanDeltas
	st := late.Handle(&Ack{Cluster: "test", From: "stale", Deltas: []NodeDelta{nd}}, rng)
	if st.Batch.Len() != 0 || late.Stats().UncleanDeltas != before+1 {
		t.Fatalf("unclean delta applied: %d records, unclean %d", st.Batch.Len(), late.Stats().UncleanDeltas)
	}
	if late.Stats().Resets == 0 || stale.Stats().Resets == 0 {
		t.Fatal("no reset happened")
	}
	for _, k := range []string{"k05", "k17"} {
		if r, ok := stale.Get("a", k); ok && !r.Tombstone {
			t.Fatalf("stale, refilled through late, still has %s", k)
		}
	}
}

// TestRandomDeletesConverge drives random writes, deletes, collections and
// budget-cut exchanges, then checks that every node ends with exactly each
// owner's live keys and that no applied version ever went backwards.
func TestRandomDeletesConverge(t *testing.T) { bothStorages(t, testRandomDeletesConverge) }

func testRandomDeletesConverge(t *testing.T) {
	for seed := int64(1); seed <= 60; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			nodes := []*State{newTestState(t, "n0", 1), newTestState(t, "n1", 1), newTestState(t, "n2", 1), newTestState(t, "n3", 1)}
			now := uint64(0)
			for step := 0; step < 300; step++ {
				now += uint64(rng.Intn(200))
				for _, n := range nodes {
					n.SetTime(now + 1) // in-flight tracking on, with time moving
				}
				n := nodes[rng.Intn(len(nodes))]
				key := fmt.Sprint("k", rng.Intn(12))
				switch op := rng.Intn(10); {
				case op < 4:
					write(t, n, key, fmt.Sprint(step))
				case op < 6:
					if _, ok := n.Get(n.Self().ID, key); ok {
						del(t, n, now, key)
					}
				case op < 7:
					collect(n, now)
				default:
					m := nodes[rng.Intn(len(nodes))]
					if m != n {
						exchangeBudget(t, n, m, rng, 400+rng.Intn(2000))
					}
				}
			}
			for round := 0; round < 100 && allSame(nodes) != nil; round++ {
				for i := range nodes {
					exchange(t, nodes[i], nodes[(i+1+rng.Intn(3))%len(nodes)], rng)
				}
			}
			if err := allSame(nodes); err != nil {
				t.Fatal(err)
			}
			for _, owner := range nodes {
				want := owner.Keys(owner.Self().ID)
				for _, n := range nodes {
					if got := n.Keys(owner.Self().ID); fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("%s sees %s's keys %v, owner has %v", n.Self().ID, owner.Self().ID, got, want)
					}
				}
			}
		})
	}
}

func TestLeaveRemoveAndCeiling(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	a, b, c := newTestState(t, "a", 1), newTestState(t, "b", 1), newTestState(t, "c", 1)
	exchange(t, a, b, rng)
	exchange(t, c, b, rng)
	a.Leave()
	st := b.Handle(wire(t, a.MakeSyn(rng), testPacket), rng)
	if len(st.Left) != 1 || st.Left[0] != "a" || len(st.Heartbeats) != 0 {
		t.Fatalf("leave not observed: left %v, heartbeats %v", st.Left, st.Heartbeats)
	}
	if info, _ := b.Peer("a"); !info.Leaving {
		t.Fatal("a not marked leaving")
	}
	// b removes a; c's digest still lists a with what it knew: ignored.
	commitTo(b, b.Remove("a"))
	if _, ok := b.Peer("a"); ok {
		t.Fatal("a not removed")
	}
	for _, e := range b.MakeSyn(rng).Digest {
		if e.ID == "a" {
			t.Fatal("a removed but still in b's digest")
		}
	}
	b.Handle(wire(t, c.MakeSyn(rng), testPacket), rng)
	if _, ok := b.Peer("a"); ok {
		t.Fatal("a came back from a stale digest")
	}
	// a restarts (new boot, higher heartbeat): accepted again.
	a2, _ := NewState(Config{Cluster: "test", Self: PeerMeta{ID: "a", Alias: "a", Addr: "a:1", Generation: 1},
		Heartbeat: 2 << 32, PacketBudget: testPacket, MessageBudget: testMessage})
	b.Handle(wire(t, a2.MakeSyn(rng), testPacket), rng)
	if _, ok := b.Peer("a"); !ok {
		t.Fatal("a live again was not accepted")
	}
	// An implausible generation is ignored.
	b.SetGenerationCeiling(1000)
	b.Handle(&Syn{Cluster: "test", From: "z", Digest: []DigestEntry{{ID: "z", Generation: 5000, Heartbeat: 1}}}, rng)
	if _, ok := b.Peer("z"); ok || b.Stats().FutureGen != 1 {
		t.Fatalf("future generation accepted (FutureGen=%d)", b.Stats().FutureGen)
	}
}

func TestMoreFlagPullsAgain(t *testing.T) { bothStorages(t, testMoreFlagPullsAgain) }

func testMoreFlagPullsAgain(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	a, b := newTestState(t, "a", 1), newTestState(t, "b", 1)
	for i := 0; i < 100; i++ {
		write(t, a, fmt.Sprint("k", i), "0123456789012345678901234567890123456789")
	}
	a.cfg.MessageBudget = 2000
	st := a.Handle(wire(t, b.MakeSyn(rng), testPacket), rng)
	ack := st.Reply.(*SynAck)
	if !ack.More {
		t.Fatal("cut SynAck does not say More")
	}
	st = b.Handle(wire(t, ack, 2000), rng)
	if !st.PullAgain {
		t.Fatal("receiver of More not told to pull again")
	}
	commitTo(b, st.Batch)
	pulls := 0
	for ; pulls < 100 && sameData(a, b) != nil; pulls++ {
		st := a.Handle(wire(t, b.MakeSyn(rng), testPacket), rng)
		st2 := b.Handle(wire(t, st.Reply, 2000), rng)
		commitTo(b, st2.Batch)
		if !st2.PullAgain && sameData(a, b) != nil {
			t.Fatal("stopped pulling while behind")
		}
	}
	if err := sameData(a, b); err != nil {
		t.Fatal(err)
	}
	keys := b.Keys("a")
	sort.Strings(keys)
	if len(keys) != 100 {
		t.Fatalf("%d keys", len(keys))
	}
}

// TestInflightChunksNotRepeated: a second request arriving before the first
// chunk was applied gets the next chunk, not the same one again.
func TestInflightChunksNotRepeated(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	a, b := newTestState(t, "a", 1), newTestState(t, "b", 1)
	for i := 0; i < 200; i++ {
		write(t, a, fmt.Sprint("k", i), "0123456789012345678901234567890123456789")
	}
	a.cfg.MessageBudget = 4000 // several datagrams' worth: the stream path
	a.SetTime(1000)
	syn := wire(t, b.MakeSyn(rng), testPacket)
	first := a.Handle(syn, rng).Reply.(*SynAck)
	second := a.Handle(syn, rng).Reply.(*SynAck) // same digest: b has applied nothing yet
	f, s := first.Deltas[0], second.Deltas[0]
	if s.From != f.To {
		t.Fatalf("second chunk starts at %d, want %d (end of the first)", s.From, f.To)
	}
	// Applied in order, both chunks are accepted.
	for _, m := range []Message{first, second} {
		st := b.Handle(wire(t, m, 4000), rng)
		commitTo(b, st.Batch)
	}
	if info, _ := b.Peer("a"); info.MaxVersion != s.To {
		t.Fatalf("b at %d, want %d", info.MaxVersion, s.To)
	}
	// After the TTL the range is sent again (a lost chunk heals).
	a.SetTime(1000 + inflightTTL + 1)
	third := a.Handle(syn, rng).Reply.(*SynAck)
	if third.Deltas[0].From != 0 {
		t.Fatalf("after expiry the chunk starts at %d, want 0", third.Deltas[0].From)
	}
}

// A requester that restarted empty (new generation) gets the first chunk
// again at once: its predecessor's chunks in flight never reach it. Keyed
// by id alone, the new incarnation was sent only what came after them, a
// gap it refused until the entries expired — seconds of stalled catch-up
// after every quick restart.
func TestInflightForgetsRestartedRequester(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	a := newTestState(t, "a", 1)
	for i := 0; i < 200; i++ {
		write(t, a, fmt.Sprint("k", i), "0123456789012345678901234567890123456789")
	}
	a.cfg.MessageBudget = 4000
	a.SetTime(1000)
	old := newTestState(t, "b", 1)
	first := a.Handle(wire(t, old.MakeSyn(rng), testPacket), rng).Reply.(*SynAck)
	if first.Deltas[0].From != 0 || first.Deltas[0].To == 0 {
		t.Fatalf("first chunk %d..%d", first.Deltas[0].From, first.Deltas[0].To)
	}
	reborn := newTestState(t, "b", 2)
	a.SetTime(1500) // well within the TTL
	again := a.Handle(wire(t, reborn.MakeSyn(rng), testPacket), rng).Reply.(*SynAck)
	if again.Deltas[0].From != 0 {
		t.Fatalf("the restarted requester's chunk starts at %d, want 0", again.Deltas[0].From)
	}
}
