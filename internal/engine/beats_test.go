package engine

import (
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
)

// beatUp advances e's heartbeat n beats and returns its own entry then,
// with its proof.
func beatUp(e *Engine, now time.Time, n int) lsync.DigestEntry {
	for range n {
		e.Beat(now)
	}
	return e.State().OwnEntry()
}

// heldHB is the heartbeat of id that e holds.
func heldHB(t *testing.T, e *Engine, id string) uint64 {
	t.Helper()
	info, ok := e.State().Peer(id)
	if !ok {
		t.Fatalf("%s not known", id)
	}
	return info.Heartbeat
}

// TestForgedHeartbeatsRefused: a member holding the cluster key but not
// p's key tries to raise p's heartbeat at a, in each message that can
// state one. Every attempt leaves a's heartbeat of p where it was and is
// counted as bad_beat_proof; p's genuine heartbeats, from p or relayed,
// are taken.
func TestForgedHeartbeatsRefused(t *testing.T) {
	s := newSignedSet(t, "a", "p", "m")
	cases := []struct {
		name string
		// forge returns what is sent to a, and from where, given p's
		// entry as p states it now (its heartbeat above a's), the proof of
		// a heartbeat p revealed earlier, and p's chain.
		forge func(t *testing.T, now lsync.DigestEntry, earlier lsync.BeatProof) (lsync.Message, string)
	}{
		{"digest entry, made-up proof", func(t *testing.T, e lsync.DigestEntry, _ lsync.BeatProof) (lsync.Message, string) {
			e.BeatProof = lsync.BeatProof{1, 2, 3}
			return &lsync.Syn{Cluster: "test", From: "m", Digest: []lsync.DigestEntry{e}}, "m:1"
		}},
		{"digest entry, no proof", func(t *testing.T, e lsync.DigestEntry, _ lsync.BeatProof) (lsync.Message, string) {
			e.BeatProof = lsync.BeatProof{}
			return &lsync.SynAck{Cluster: "test", From: "m", Digest: []lsync.DigestEntry{e}}, "m:1"
		}},
		{"beat from p's address", func(t *testing.T, e lsync.DigestEntry, _ lsync.BeatProof) (lsync.Message, string) {
			return &lsync.Beat{Cluster: "test", From: "p", Generation: e.Generation, Heartbeat: e.Heartbeat, Proof: lsync.BeatProof{9}}, "p:1"
		}},
		{"member list held up", func(t *testing.T, e lsync.DigestEntry, _ lsync.BeatProof) (lsync.Message, string) {
			e.BeatProof = lsync.BeatProof{4}
			return &lsync.Members{Cluster: "test", From: "m", Members: []lsync.DigestEntry{e}, Up: 1}, "m:1"
		}},
		{"an earlier value for a later heartbeat", func(t *testing.T, e lsync.DigestEntry, earlier lsync.BeatProof) (lsync.Message, string) {
			e.BeatProof = earlier
			return &lsync.Syn{Cluster: "test", From: "m", Digest: []lsync.DigestEntry{e}}, "m:1"
		}},
		{"a value of p's chain of another generation", func(t *testing.T, e lsync.DigestEntry, _ lsync.BeatProof) (lsync.Message, string) {
			other := s.chain(t, "p", e.Generation+1, 1<<32)
			v, err := other.Proof(e.Heartbeat)
			if err != nil {
				t.Fatal(err)
			}
			e.BeatProof = lsync.BeatProof(v)
			return &lsync.Syn{Cluster: "test", From: "m", Digest: []lsync.DigestEntry{e}}, "m:1"
		}},
		{"a value of m's own chain", func(t *testing.T, e lsync.DigestEntry, _ lsync.BeatProof) (lsync.Message, string) {
			v, err := s.chain(t, "m", e.Generation, 1<<32).Proof(e.Heartbeat)
			if err != nil {
				t.Fatal(err)
			}
			e.BeatProof = lsync.BeatProof(v)
			return &lsync.Syn{Cluster: "test", From: "m", Digest: []lsync.DigestEntry{e}}, "m:1"
		}},
		{"a heartbeat past the chain's end", func(t *testing.T, e lsync.DigestEntry, _ lsync.BeatProof) (lsync.Message, string) {
			e.Heartbeat = 1<<32 + testChainLength + 10
			e.BeatProof = lsync.BeatProof{5}
			return &lsync.Syn{Cluster: "test", From: "m", Digest: []lsync.DigestEntry{e}}, "m:1"
		}},
		{"a vote against p above its heartbeat", func(t *testing.T, e lsync.DigestEntry, _ lsync.BeatProof) (lsync.Message, string) {
			return &lsync.Suspect{Cluster: "test", From: "m", Votes: []lsync.Vote{
				s.vote(t, lsync.Vote{ID: "p", Generation: e.Generation, Heartbeat: e.Heartbeat, By: "m", Proof: lsync.BeatProof{7}}, nil)}}, "m:1"
		}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			a, p := joinedPair(t, s)
			deliver(t, a, t0, "m:1", s.engine(t, "m", t0).helloMsg())
			earlier := beatUp(p, t0, 2)
			deliver(t, a, t0, "p:1", &lsync.Syn{Cluster: "test", From: "p", Digest: []lsync.DigestEntry{earlier}})
			before := heldHB(t, a, "p")
			if before != earlier.Heartbeat {
				t.Fatalf("p's own proven entry not taken: held %d, sent %d", before, earlier.Heartbeat)
			}
			now := beatUp(p, t0, 3)
			m, from := tt.forge(t, now, earlier.BeatProof)
			rd := deliver(t, a, t0.Add(time.Second), from, m)
			if got := heldHB(t, a, "p"); got != before {
				t.Fatalf("p's heartbeat raised to %d from %d", got, before)
			}
			if hb, _ := a.Votes("p"); hb > before {
				t.Fatalf("a vote at %d held, above p's proven %d", hb, before)
			}
			if len(rd.Rejected) != 1 || rd.Rejected[0].Reason != BadBeatProof || rd.Rejected[0].From != from {
				t.Fatalf("rejected %+v, want one bad_beat_proof from %s", rd.Rejected, from)
			}
			if st := a.RecordStats(); st.BadBeatProofs != 1 {
				t.Fatalf("stats %+v", st)
			}
			// p's genuine word is still taken after the forgery.
			deliver(t, a, t0.Add(2*time.Second), "p:1", &lsync.Syn{Cluster: "test", From: "p", Digest: []lsync.DigestEntry{now}})
			if got := heldHB(t, a, "p"); got != now.Heartbeat {
				t.Fatalf("p's proven heartbeat %d not taken after the forgery: held %d", now.Heartbeat, got)
			}
		})
	}
}

// TestGenuineHeartbeatsTaken: p's proven heartbeats are taken from its
// beats, from its own digest, relayed by another node with their proofs
// verbatim, in a vote quoting the proof, and by a node that learns p far
// from its chain's anchor (a long walk).
func TestGenuineHeartbeatsTaken(t *testing.T) {
	s := newSignedSet(t, "a", "b", "c", "p")
	a, p := joinedPair(t, s)
	b := s.engine(t, "b", t0)
	deliver(t, b, t0, "p:1", p.helloMsg())

	e := beatUp(p, t0, 1)
	rd := deliver(t, a, t0, "p:1", &lsync.Beat{Cluster: "test", From: "p", Generation: e.Generation, Heartbeat: e.Heartbeat, Proof: e.BeatProof})
	if got := heldHB(t, a, "p"); got != e.Heartbeat || len(rd.Rejected) > 0 {
		t.Fatalf("beat at %d: held %d, rejected %+v", e.Heartbeat, got, rd.Rejected)
	}

	// b takes p's newer heartbeat from p, then relays it to a.
	e = beatUp(p, t0, 5)
	deliver(t, b, t0, "p:1", &lsync.Syn{Cluster: "test", From: "p", Digest: []lsync.DigestEntry{e}})
	var relayed lsync.DigestEntry
	for _, en := range b.State().MakeSyn(b.rng).Digest {
		if en.ID == "p" {
			relayed = en
		}
	}
	if relayed.Heartbeat != e.Heartbeat || relayed.BeatProof != e.BeatProof {
		t.Fatalf("b relays %+v, want p's %d with its proof verbatim", relayed, e.Heartbeat)
	}
	deliver(t, a, t0, "b:1", b.helloMsg()) // a takes b's record
	rd = deliver(t, a, t0.Add(time.Second), "b:1", &lsync.Syn{Cluster: "test", From: "b", Digest: []lsync.DigestEntry{relayed}})
	if got := heldHB(t, a, "p"); got != e.Heartbeat || len(rd.Rejected) > 0 {
		t.Fatalf("relayed %d: held %d, rejected %+v", e.Heartbeat, got, rd.Rejected)
	}

	// A vote quoting p's proof of a heartbeat above a's passes the gate.
	e = beatUp(p, t0, 1)
	v := lsync.Suspect{Cluster: "test", From: "b", Votes: []lsync.Vote{s.vote(t, lsync.Vote{ID: "p", Generation: 1, Heartbeat: e.Heartbeat, By: "b", Proof: e.BeatProof}, nil)}}
	a.gateVotes(&v, "b:1", t0, &Ready{})
	if len(v.Votes) != 1 {
		t.Fatal("a vote quoting p's proof was dropped")
	}

	// c learns p (its record and its entry) 1000 beats past the anchor,
	// beyond a short verification: it pays for a walk, once.
	c := s.engine(t, "c", t0)
	e = beatUp(p, t0, 1000)
	rd = deliver(t, c, t0, "p:1", p.helloMsg())
	if got := heldHB(t, c, "p"); got != e.Heartbeat || len(rd.Rejected) > 0 {
		t.Fatalf("joiner: held %d, want %d; rejected %+v", got, e.Heartbeat, rd.Rejected)
	}
}

// TestSignedVotesAboutSelf: a vote against this node above its own
// heartbeat is dropped (no one but this node can prove one); at its
// heartbeat, it is refuted one beat above, not climbed to. A vote against
// an earlier generation, whose heartbeats may lie above the new one's
// after a wipe, is dropped as stale, not counted as forged.
func TestSignedVotesAboutSelf(t *testing.T) {
	s := newSignedSet(t, "a", "p")
	a, _ := joinedPair(t, s)
	own, gen := a.State().Heartbeat(), a.State().Self().Generation
	v := lsync.Suspect{Cluster: "test", From: "p", Votes: []lsync.Vote{
		s.vote(t, lsync.Vote{ID: "a", Generation: gen, Heartbeat: own + 5000, By: "p"}, nil),
		s.vote(t, lsync.Vote{ID: "a", Generation: gen - 1, Heartbeat: own + 5000, By: "p", Seq: 2}, nil),
		s.vote(t, lsync.Vote{ID: "a", Generation: gen, Heartbeat: own, By: "p", Seq: 3}, nil)}}
	var rd Ready
	a.gateVotes(&v, "p:1", t0, &rd)
	if len(v.Votes) != 1 || v.Votes[0].Heartbeat != own || len(rd.Rejected) != 1 || rd.Rejected[0].Reason != BadBeatProof {
		t.Fatalf("votes kept %+v, rejected %+v", v.Votes, rd.Rejected)
	}
	if st := a.RecordStats(); st.StaleVotes != 1 || st.BadBeatProofs != 1 {
		t.Fatalf("stats %+v: want the earlier generation's vote stale, one forged", st)
	}
	// A digest entry of a above its heartbeat: answered, not climbed to.
	deliver(t, a, t0, "p:1", &lsync.Syn{Cluster: "test", From: "p", Digest: []lsync.DigestEntry{{ID: "a", Addr: "a:1", Generation: 1, Heartbeat: own + 5000}}})
	if got := a.State().Heartbeat(); got != own {
		t.Fatalf("heartbeat climbed from %d to %d", own, got)
	}
}

// TestChainLifecycle: the record commits to the chain given at start;
// the node re-anchors every Reanchor beats (a new record, its anchor the
// heartbeat then); it asks for a new chain with an eighth of the chain
// left and for a new generation, and commits to a chain given.
func TestChainLifecycle(t *testing.T) {
	s := newSignedSet(t, "a")
	a := newEngineWith(t, "a", func(c *Config) {
		c.Signing = &Signing{Key: s.keys["a"], Trust: s.trust, Chain: s.chain(t, "a", 1, 1<<32), Reanchor: 100}
	})
	rec, err := a.SignRecord(t0)
	if err != nil {
		t.Fatal(err)
	}
	com, err := identity.ParseBeatCommitment("a", 1, rec.BeatChain)
	if err != nil || com.AnchorBeat != 1<<32 || com.Length != testChainLength {
		t.Fatalf("record commits to %+v, %v", com, err)
	}
	if _, _, _, due := a.ChainDue(); due {
		t.Fatal("a new chain asked for at start")
	}
	beatUp(a, t0, 100)
	rec, _ = a.Record("a")
	com, _ = identity.ParseBeatCommitment("a", 1, rec.BeatChain)
	if com.AnchorBeat != 1<<32+100 || rec.Seq <= uint64(t0.UnixMilli()) {
		t.Fatalf("after 100 beats the record is %+v, anchored at %d", rec, com.AnchorBeat)
	}
	beatUp(a, t0, testChainLength*7/8)
	gen, base, length, due := a.ChainDue()
	if !due || gen != 1 || base != a.State().Heartbeat() || length != testChainLength {
		t.Fatalf("ChainDue %d %d %d %v near the chain's end", gen, base, length, due)
	}
	if _, _, _, again := a.ChainDue(); again {
		t.Fatal("asked twice for one chain")
	}
	if err := a.SetBeatChain(s.chain(t, "a", 2, base), t0); err != ErrStaleChain {
		t.Fatalf("a chain of another generation: %v", err)
	}
	_, base, _, _ = a.ChainDue()
	seq := rec.Seq
	old := a.recs.beats.chain
	fresh := s.chain(t, "a", 1, base)
	if err := a.SetBeatChain(fresh, t0); err != nil {
		t.Fatal(err)
	}
	// For a grace, heartbeats are proven in the old chain, which every
	// node holds, while the record of the new one spreads; then in the
	// new one.
	hb := a.State().Heartbeat()
	want, _ := old.Proof(hb)
	if got := a.State().OwnEntry().BeatProof; got != lsync.BeatProof(want) {
		t.Fatal("right after a new chain, the own heartbeat not proven in the old one")
	}
	for a.State().Heartbeat() < a.recs.beats.prevTill {
		a.Beat(t0)
	}
	want, _ = fresh.Proof(a.State().Heartbeat())
	if got := a.State().OwnEntry().BeatProof; got != lsync.BeatProof(want) || a.recs.beats.prevTill-hb > renewGrace {
		t.Fatalf("after the grace (%d beats) the own heartbeat not proven in the new chain", a.recs.beats.prevTill-hb)
	}
	rec, _ = a.Record("a")
	com, _ = identity.ParseBeatCommitment("a", 1, rec.BeatChain)
	if com.Base != base || rec.Seq <= seq {
		t.Fatalf("after a new chain the record is %+v, committing to %+v", rec, com)
	}
	if e := a.State().OwnEntry(); e.BeatProof.IsZero() {
		t.Fatal("no proof of the own heartbeat under the new chain")
	}
}

// TestUnsignedHeartbeatsUnchanged: without signing, entries and beats
// carry no proof, and a heartbeat relayed without one is taken within
// what its node's word allows, as before.
func TestUnsignedHeartbeatsUnchanged(t *testing.T) {
	a, p := newEngine(t, "a"), newEngine(t, "p")
	deliver(t, a, t0, "p:1", p.helloMsg())
	e := beatUp(p, t0, 3)
	if !e.BeatProof.IsZero() {
		t.Fatalf("unsigned entry with a proof: %+v", e)
	}
	rd := p.Beat(t0)
	for _, o := range rd.Send {
		if b, ok := o.Msg.(*lsync.Beat); ok && !b.Proof.IsZero() {
			t.Fatalf("unsigned beat with a proof: %+v", b)
		}
	}
	deliver(t, a, t0.Add(time.Second), "m:1", &lsync.Syn{Cluster: "test", From: "m", Digest: []lsync.DigestEntry{e}})
	if got := heldHB(t, a, "p"); got != e.Heartbeat {
		t.Fatalf("relayed heartbeat %d not taken: %d", e.Heartbeat, got)
	}
}

// TestChainRenewalUnseen: a node that learns p only after p renewed its
// chain holds none of p's previous chain, while relays still quote p's
// heartbeats proven in it: the base of the new chain and those of the
// renewal's grace. It refuses them quietly, not as forgeries, holds p at
// its record's anchor meanwhile, and takes p's heartbeats once p proves
// them in the new chain. A node that holds both chains, and anyone past
// the grace, still counts a forgery.
func TestChainRenewalUnseen(t *testing.T) {
	s := newSignedSet(t, "a", "c", "p", "m")
	a, p := joinedPair(t, s)
	m := s.engine(t, "m", t0)
	old := s.chain(t, "p", 1, 1<<32) // p's chain at start: the same values
	beatUp(p, t0, testChainLength*7/8)
	_, base, _, due := p.ChainDue()
	if !due {
		t.Fatal("no new chain asked for")
	}
	if err := p.SetBeatChain(s.chain(t, "p", 1, base), t0); err != nil {
		t.Fatal(err)
	}
	inGrace := beatUp(p, t0, 5)
	if v, _ := old.Proof(inGrace.Heartbeat); inGrace.BeatProof != lsync.BeatProof(v) {
		t.Fatal("p does not prove its grace's heartbeats in its old chain")
	}
	oldProof := func(hb uint64) lsync.BeatProof {
		v, err := old.Proof(hb)
		if err != nil {
			t.Fatal(err)
		}
		return lsync.BeatProof(v)
	}
	relay := func(e lsync.DigestEntry, hb uint64, proof lsync.BeatProof) *lsync.Syn {
		e.Heartbeat, e.BeatProof = hb, proof
		return &lsync.Syn{Cluster: "test", From: "m", Digest: []lsync.DigestEntry{e}}
	}
	forged := lsync.BeatProof{1, 2, 3}

	c := s.engine(t, "c", t0)
	deliver(t, c, t0, "m:1", m.helloMsg())
	deliver(t, a, t0, "m:1", m.helloMsg())
	for _, tt := range []struct {
		name    string
		to      *Engine
		m       lsync.Message
		from    string
		counted bool
	}{
		{"p's hello, its entry proven in the old chain", c, p.helloMsg(), "p:1", false},
		{"the new chain's base, proven in the old chain", c, relay(inGrace, base, oldProof(base)), "m:1", false},
		{"a grace heartbeat, proven in the old chain", c, relay(inGrace, base+3, oldProof(base+3)), "m:1", false},
		{"a heartbeat before the new chain", c, relay(inGrace, base-10, oldProof(base-10)), "m:1", false},
		{"a grace heartbeat without a proof", c, relay(inGrace, base+3, lsync.BeatProof{}), "m:1", true},
		{"a node holding both chains takes p's new record", a, p.helloMsg(), "p:1", false},
		{"a grace heartbeat forged, to a node holding both chains", a, relay(inGrace, base+6, forged), "m:1", true},
	} {
		before := c.RecordStats().BadBeatProofs + a.RecordStats().BadBeatProofs
		rd := deliver(t, tt.to, t0, tt.from, tt.m)
		after := c.RecordStats().BadBeatProofs + a.RecordStats().BadBeatProofs
		if counted := len(rd.Rejected) > 0 || after > before; counted != tt.counted {
			t.Errorf("%s: rejected %+v (%d counted), want counted %v", tt.name, rd.Rejected, after-before, tt.counted)
		}
	}
	if got := heldHB(t, a, "p"); got != inGrace.Heartbeat {
		t.Fatalf("a holds p at %d, want its grace heartbeat %d proven in the old chain", got, inGrace.Heartbeat)
	}
	// c holds p at what p's record proves: the new chain's anchor, its
	// base, which anyone holding the record verifies.
	newCom := p.recs.beats.chain.Commitment()
	if _, hb, proof, known := c.State().HeldBeat("p"); !known || hb != base || proof != lsync.BeatProof(newCom.Anchor) {
		t.Fatalf("c holds p at %d (%v), want the anchor of its record at %d", hb, known, base)
	}

	// Past the grace p proves in the new chain: c takes its heartbeat,
	// and counts a forgery past renewGrace.
	late := beatUp(p, t0, renewGrace)
	rd := deliver(t, c, t0, "p:1", &lsync.Syn{Cluster: "test", From: "p", Digest: []lsync.DigestEntry{late}})
	if got := heldHB(t, c, "p"); got != late.Heartbeat || len(rd.Rejected) > 0 {
		t.Fatalf("c holds p at %d, want %d; rejected %+v", got, late.Heartbeat, rd.Rejected)
	}
	rd = deliver(t, c, t0, "m:1", relay(late, late.Heartbeat+1, forged))
	if len(rd.Rejected) != 1 || rd.Rejected[0].Reason != BadBeatProof {
		t.Fatalf("a forgery past the grace: rejected %+v", rd.Rejected)
	}
}

// TestWipedGenerationClaims: p comes back wiped, its heartbeats starting
// over in the range of its old chain. A vote against its old generation,
// quoting a proof in a chain of it no longer held, at a node that holds
// its new record, and a beat of its new generation at a node that still
// holds the old record, are refused without being counted as forged.
func TestWipedGenerationClaims(t *testing.T) {
	s := newSignedSet(t, "a", "p", "m")
	a, p := joinedPair(t, s)
	deliver(t, a, t0, "m:1", s.engine(t, "m", t0).helloMsg())
	stale, _ := joinedPair(t, s) // holds p's first generation only
	old := beatUp(p, t0, 3)
	deliver(t, a, t0, "p:1", &lsync.Syn{Cluster: "test", From: "p", Digest: []lsync.DigestEntry{old}})

	later := t0.Add(time.Minute)
	chain := s.chain(t, "p", 2, 1<<32)
	com := chain.Commitment()
	commitment, err := com.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	raw := s.record(t, identity.NodeRecord{ID: "p", Addr: "p:1", Alias: "p", Generation: 2, Seq: uint64(later.UnixMilli()), BeatChain: commitment}, nil)
	deliver(t, a, later, "m:1", &lsync.Members{Cluster: "test", From: "m", Records: [][]byte{raw}})
	if r, _ := a.Record("p"); r.Generation != 2 {
		t.Fatalf("a holds p's record of generation %d", r.Generation)
	}
	newProof, _ := chain.Proof(1<<32 + 1)
	for _, tt := range []struct {
		name string
		to   *Engine
		m    lsync.Message
		from string
	}{
		{"a vote against the old generation", a, &lsync.Suspect{Cluster: "test", From: "m", Votes: []lsync.Vote{
			s.vote(t, lsync.Vote{ID: "p", Generation: 1, Heartbeat: old.Heartbeat + 2, By: "m", Proof: lsync.BeatProof{1, 2, 3}}, nil)}}, "m:1"},
		{"a beat of the new generation", stale, &lsync.Beat{Cluster: "test", From: "p", Generation: 2, Heartbeat: 1<<32 + 1, Proof: lsync.BeatProof(newProof)}, "p:1"},
	} {
		rd := deliver(t, tt.to, later, tt.from, tt.m)
		if st := tt.to.RecordStats(); len(rd.Rejected) > 0 || st.BadBeatProofs > 0 || st.Unbacked == 0 {
			t.Errorf("%s: rejected %+v, stats %+v: want it refused quietly", tt.name, rd.Rejected, st)
		}
	}
	if hb, _ := a.Votes("p"); hb > old.Heartbeat {
		t.Fatalf("a vote at %d held, above p's proven %d", hb, old.Heartbeat)
	}
}
