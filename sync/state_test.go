package sync

import (
	"fmt"
	"math/rand"
	"reflect"
	"testing"
)

const (
	testPacket  = 1400
	testMessage = 1 << 21
)

func newTestState(t testing.TB, id string, gen uint64) *State {
	t.Helper()
	s, err := NewState(Config{
		Cluster:       "test",
		Self:          PeerMeta{ID: id, Alias: id, Addr: id + ":1", Generation: gen},
		Heartbeat:     1,
		PacketBudget:  testPacket,
		MessageBudget: testMessage,
		Storage:       testStorage(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// write commits local records as the node would after persisting them.
func write(t testing.TB, s *State, kv ...string) {
	t.Helper()
	var recs []Record
	v := s.Self().MaxVersion
	for i := 0; i+1 < len(kv); i += 2 {
		v++
		recs = append(recs, Record{Key: kv[i], Value: []byte(kv[i+1]), Version: v})
	}
	b, err := s.LocalWrite(recs)
	if err != nil {
		t.Fatal(err)
	}
	commitTo(s, b)
}

// wire passes a message through the codec and checks its budget, as a
// transport would.
func wire(t testing.TB, m Message, budget int) Message {
	t.Helper()
	b, err := encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > budget {
		t.Fatalf("%s of %d bytes exceeds its budget of %d", m.Type(), len(b), budget)
	}
	out, err := decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// exchange runs one full Syn/SynAck/Ack between a and b.
func exchange(t testing.TB, a, b *State, rng *rand.Rand) {
	t.Helper()
	syn := wire(t, a.MakeSyn(rng), testPacket)
	st := b.Handle(syn, rng)
	commitTo(b, st.Batch)
	if st.Reply == nil {
		return
	}
	st = a.Handle(wire(t, st.Reply, testMessage), rng)
	commitTo(a, st.Batch)
	if st.Reply == nil {
		return
	}
	st = b.Handle(wire(t, st.Reply, testMessage), rng)
	commitTo(b, st.Batch)
}

func sameData(a, b *State) error {
	ids := map[string]bool{}
	for id := range a.peers {
		ids[id] = true
	}
	for id := range b.peers {
		ids[id] = true
	}
	for id := range ids {
		pa, pb := a.peers[id], b.peers[id]
		if pa == nil || pb == nil {
			return fmt.Errorf("%s: known to only one of %s, %s", id, a.cfg.Self.ID, b.cfg.Self.ID)
		}
		if pa.meta.MaxVersion != pb.meta.MaxVersion || pa.meta.Generation != pb.meta.Generation {
			return fmt.Errorf("%s: %s has %+v, %s has %+v", id, a.cfg.Self.ID, pa.meta, b.cfg.Self.ID, pb.meta)
		}
		if !reflect.DeepEqual(a.Keys(id), b.Keys(id)) {
			return fmt.Errorf("%s: keys differ: %s %v (%+v) vs %s %v (%+v)", id, a.cfg.Self.ID, a.Keys(id), pa.meta, b.cfg.Self.ID, b.Keys(id), pb.meta)
		}
		for _, k := range a.Keys(id) {
			r, _ := a.Get(id, k)
			if o, ok := b.Get(id, k); !ok || o.Version != r.Version || string(o.Value) != string(r.Value) {
				return fmt.Errorf("%s/%s differs", id, k)
			}
		}
	}
	return nil
}

func TestTwoNodesReconcile(t *testing.T) { bothStorages(t, testTwoNodesReconcile) }

func testTwoNodesReconcile(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	a, b := newTestState(t, "a", 1), newTestState(t, "b", 1)
	write(t, a, "x", "1", "y", "2")
	write(t, b, "z", "3")
	exchange(t, a, b, rng)
	if err := sameData(a, b); err != nil {
		t.Fatal(err)
	}
	if r, ok := b.Get("a", "y"); !ok || string(r.Value) != "2" || r.Version != 2 {
		t.Fatalf("b.Get(a, y) = %+v, %v", r, ok)
	}
	// Overwrites replicate by version, and the old version stays gone.
	write(t, a, "x", "10")
	exchange(t, b, a, rng)
	if r, _ := b.Get("a", "x"); string(r.Value) != "10" || r.Version != 3 {
		t.Fatalf("overwrite not replicated: %+v", r)
	}
}

func TestClusterConverges(t *testing.T) { bothStorages(t, testClusterConverges) }

func testClusterConverges(t *testing.T) {
	for _, n := range []int{2, 4, 16} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			rng := rand.New(rand.NewSource(int64(n)))
			nodes := make([]*State, n)
			for i := range nodes {
				nodes[i] = newTestState(t, fmt.Sprintf("n%02d", i), 1)
				write(t, nodes[i], "k", fmt.Sprint(i), fmt.Sprintf("only%d", i), "v")
			}
			// Everyone knows only node 0 (the seed) at first.
			rounds := 0
			for ; rounds < 50; rounds++ {
				for i, s := range nodes {
					peer := nodes[0]
					if i == 0 || rng.Intn(2) == 0 {
						known := s.Peers()
						if len(known) > 0 {
							peer = nodes[idx(known[rng.Intn(len(known))].ID)]
						}
					}
					if peer != s {
						exchange(t, s, peer, rng)
					}
				}
				if allSame(nodes) == nil {
					break
				}
			}
			if err := allSame(nodes); err != nil {
				t.Fatalf("not converged after %d rounds: %v", rounds, err)
			}
			if got := len(nodes[n-1].Peers()); got != n-1 {
				t.Fatalf("node knows %d peers, want %d", got, n-1)
			}
		})
	}
}

func idx(id string) int {
	var i int
	fmt.Sscanf(id, "n%d", &i)
	return i
}

func allSame(nodes []*State) error {
	for _, s := range nodes[1:] {
		if err := sameData(nodes[0], s); err != nil {
			return err
		}
	}
	return nil
}

// TestDeltaPrefixUnderBudget: when a node's records do not fit, what is
// sent is a gap-free prefix in ascending order, and repeating the exchange
// transfers the rest.
func TestDeltaPrefixUnderBudget(t *testing.T) { bothStorages(t, testDeltaPrefixUnderBudget) }

func testDeltaPrefixUnderBudget(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	a := newTestState(t, "a", 1)
	for i := 0; i < 300; i++ {
		write(t, a, fmt.Sprintf("key%03d", i), string(make([]byte, 100)))
	}
	write(t, a, "key000", "overwritten") // leaves a stale log entry behind
	b := newTestState(t, "b", 1)
	theirs := index([]DigestEntry{{ID: "a", Generation: 1, MaxVersion: 0}})
	for _, budget := range []int{600, 5000, 20000} {
		ds, _ := a.selectDeltas("b", theirs, false, budget, rng)
		if len(ds) != 1 {
			t.Fatalf("budget %d: %d deltas, want 1", budget, len(ds))
		}
		nd := ds[0]
		if nd.From != 0 || nd.To != nd.Records[len(nd.Records)-1].Version {
			t.Fatalf("budget %d: range (%d,%d] does not end at the last record %d", budget, nd.From, nd.To, nd.Records[len(nd.Records)-1].Version)
		}
		for i, r := range nd.Records {
			if r.Version != uint64(i+2) { // version 1 was overwritten by 301
				t.Fatalf("budget %d: record %d has version %d: not a gap-free prefix", budget, i, r.Version)
			}
		}
		m := wire(t, &Ack{Cluster: "test", From: "a", Deltas: ds}, budget+ackHeadSize("test", "a"))
		_ = m
	}
	for i := 0; i < 100 && sameData(a, b) != nil; i++ {
		exchange(t, b, a, rng)
	}
	if err := sameData(a, b); err != nil {
		t.Fatal(err)
	}
}

// TestScuttleDepthOrder: unknown nodes first (least data first), then the
// node the receiver is furthest behind on.
func TestScuttleDepthOrder(t *testing.T) { bothStorages(t, testScuttleDepthOrder) }

func testScuttleDepthOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	src := newTestState(t, "src", 1)
	feed := func(id string, n int) {
		p := newTestState(t, id, 1)
		for i := 0; i < n; i++ {
			write(t, p, fmt.Sprint("k", i), "v")
		}
		exchange(t, src, p, rng)
	}
	feed("small", 2)
	feed("big", 40)
	feed("mid", 10)
	feed("new1", 5)
	feed("new2", 3)
	theirs := index([]DigestEntry{
		{ID: "small", Generation: 1, MaxVersion: 0},
		{ID: "big", Generation: 1, MaxVersion: 20},
		{ID: "mid", Generation: 1, MaxVersion: 0},
		{ID: "src", Generation: 1},
	})
	ds, _ := src.selectDeltas("x", theirs, true, testMessage, rng)
	var order []string
	for _, d := range ds {
		order = append(order, d.ID)
	}
	want := []string{"new2", "new1", "big", "mid", "small"}
	if !reflect.DeepEqual(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	if ds[2].From != 20 || len(ds[2].Records) != 20 {
		t.Fatalf("big: from %d with %d records, want from 20 with 20", ds[2].From, len(ds[2].Records))
	}
}

func TestRejectsBadDeltas(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	s := newTestState(t, "me", 1)
	write(t, s, "mine", "1")
	// p is known: a delta of an unknown id is dropped before any check.
	s.Handle(&Syn{Cluster: "test", From: "p", Digest: []DigestEntry{{ID: "p", Generation: 1, Heartbeat: 1}}}, rng)
	tests := []struct {
		name  string
		delta NodeDelta
		count func(Stats) uint64
	}{
		{"own id", NodeDelta{ID: "me", Generation: 1, To: 9, Records: []Record{{Key: "mine", Value: []byte("evil"), Version: 9}}},
			func(s Stats) uint64 { return s.OwnIDDeltas }},
		{"gap", NodeDelta{ID: "p", Generation: 1, From: 5, To: 9, Records: []Record{{Key: "k", Version: 9}}},
			func(s Stats) uint64 { return s.GapDeltas }},
		{"unordered", NodeDelta{ID: "p", Generation: 1, To: 9, Records: []Record{{Key: "k", Version: 5}, {Key: "j", Version: 3}}},
			func(s Stats) uint64 { return s.InvalidDeltas }},
		{"above to", NodeDelta{ID: "p", Generation: 1, To: 2, Records: []Record{{Key: "k", Version: 5}}},
			func(s Stats) uint64 { return s.InvalidDeltas }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.count(s.Stats())
			st := s.Handle(&Ack{Cluster: "test", From: "p", Deltas: []NodeDelta{tt.delta}}, rng)
			if st.Batch.Len() != 0 {
				t.Fatalf("batch has %d records, want none", st.Batch.Len())
			}
			if tt.count(s.Stats()) != before+1 {
				t.Fatalf("rejection not counted: %+v", s.Stats())
			}
		})
	}
	if r, _ := s.Get("me", "mine"); string(r.Value) != "1" {
		t.Fatalf("own key changed to %q", r.Value)
	}
	// Another cluster is answered BadCluster and nothing applies.
	st := s.Handle(&Syn{Cluster: "other", From: "x", Digest: []DigestEntry{{ID: "x", Generation: 1, Heartbeat: 3}}}, rng)
	if _, ok := st.Reply.(*BadCluster); !ok || !st.BadCluster || len(st.Heartbeats) != 0 {
		t.Fatalf("foreign Syn: %+v", st)
	}
	if _, ok := s.Peer("x"); ok {
		t.Fatal("a node of another cluster was added")
	}
}

// TestNewGenerationResets: a node wiped and back with a new generation has
// its old data dropped everywhere and its new writes accepted, even though
// its versions start again from 1.
func TestNewGenerationResets(t *testing.T) { bothStorages(t, testNewGenerationResets) }

func testNewGenerationResets(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	a, b := newTestState(t, "a", 1), newTestState(t, "b", 1)
	write(t, a, "old", "1", "both", "old")
	exchange(t, a, b, rng)
	a2 := newTestState(t, "a", 2)
	write(t, a2, "both", "new")
	exchange(t, a2, b, rng)
	if _, ok := b.Get("a", "old"); ok {
		t.Fatal("old generation's key survived the reset")
	}
	if r, _ := b.Get("a", "both"); string(r.Value) != "new" || r.Version != 1 {
		t.Fatalf("new generation's write not taken: %+v", r)
	}
	// The stale copy no longer wins anything.
	exchange(t, a, b, rng)
	if r, _ := b.Get("a", "both"); string(r.Value) != "new" {
		t.Fatalf("old generation came back: %+v", r)
	}
}

func TestHeartbeatsObserved(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	a, b, c := newTestState(t, "a", 1), newTestState(t, "b", 1), newTestState(t, "c", 1)
	exchange(t, a, b, rng)
	exchange(t, c, b, rng) // c learns a from b's digest
	a.Beat()
	exchange(t, a, b, rng)
	st := c.Handle(wire(t, b.MakeSyn(rng), testPacket), rng)
	found := false
	for _, id := range st.Heartbeats {
		found = found || id == "a"
	}
	if !found {
		t.Fatalf("c did not see a's heartbeat relayed by b: %v", st.Heartbeats)
	}
	// A forged digest entry for c itself is never adopted.
	before := c.Heartbeat()
	c.Handle(&Syn{Cluster: "test", From: "x", Digest: []DigestEntry{{ID: "c", Generation: 1, Heartbeat: before + 100}}}, rng)
	if c.Heartbeat() != before {
		t.Fatal("own heartbeat changed by a peer")
	}
}

// TestDigestSubsetFitsMTU: with many peers the Syn digest is a subset that
// fits the packet budget and rotates.
func TestDigestSubsetFitsMTU(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	s := newTestState(t, "me", 1)
	var d []DigestEntry
	for i := 0; i < 500; i++ {
		d = append(d, DigestEntry{ID: fmt.Sprintf("peer-%04d", i), Addr: fmt.Sprintf("10.0.%d.%d:7000", i/256, i%256), Generation: 1, Heartbeat: 1})
	}
	s.Handle(&Syn{Cluster: "test", From: "x", Digest: d}, rng)
	seen := map[string]bool{}
	for i := 0; i < 60; i++ {
		syn := s.MakeSyn(rng)
		wire(t, syn, testPacket)
		if syn.Complete || syn.Digest[0].ID != "me" {
			t.Fatalf("digest of 501 must be an incomplete subset led by self")
		}
		for _, e := range syn.Digest {
			seen[e.ID] = true
		}
	}
	if len(seen) < 490 {
		t.Fatalf("only %d of 501 nodes appeared in 60 digests", len(seen))
	}
}

// selectDeltas plans, reads and notes at once, as Handle does, and
// returns what an Ack would carry.
func (s *State) selectDeltas(to string, theirs map[string]*DigestEntry, complete bool, budget int, rng *rand.Rand) ([]NodeDelta, bool) {
	m := &Ack{}
	f := s.planDeltas(m, to, theirs, complete, budget, rng)
	f.Read()
	s.NoteSent(f)
	return m.Deltas, m.More
}
