package engine

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/wire"
)

// signedSet is a few nodes' keys and the pinned trust they share.
type signedSet struct {
	keys  map[string]*identity.Key
	trust *identity.Trust
}

func newSignedSet(t testing.TB, ids ...string) *signedSet {
	t.Helper()
	s := &signedSet{keys: make(map[string]*identity.Key)}
	pins := make(map[string][]ed25519.PublicKey)
	for i, id := range ids {
		k, err := identity.Generate(bytes.NewReader(bytes.Repeat([]byte{byte(i + 1)}, 64)))
		if err != nil {
			t.Fatal(err)
		}
		s.keys[id] = k
		pins[id] = []ed25519.PublicKey{k.Public()}
	}
	var err error
	if s.trust, err = identity.NewPinnedTrust(pins); err != nil {
		t.Fatal(err)
	}
	return s
}

// engine builds a signing engine of id, its record signed at now.
func (s *signedSet) engine(t testing.TB, id string, now time.Time, seeds ...string) *Engine {
	t.Helper()
	e := newEngineWith(t, id, func(c *Config) {
		c.Signing = &Signing{Key: s.keys[id], Trust: identity.NewTrustCache(s.trust, 16),
			Chain: s.chain(t, id, c.Self.Generation, c.Boot<<32)}
	}, seeds...)
	if _, err := e.SignRecord(now); err != nil {
		t.Fatal(err)
	}
	return e
}

// testChainLength is the length of the test engines' heartbeat chains:
// short, so that each costs little to set up.
const testChainLength = 1 << 12

// chain is id's heartbeat chain of generation, based at base.
func (s *signedSet) chain(t testing.TB, id string, generation, base uint64) *identity.BeatChain {
	t.Helper()
	c, err := identity.NewBeatChain(s.keys[id], id, generation, base, testChainLength)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// record signs a record of id with key (id's own unless given).
func (s *signedSet) record(t *testing.T, r identity.NodeRecord, key *identity.Key) []byte {
	t.Helper()
	if key == nil {
		key = s.keys[r.ID]
	}
	rec, err := identity.SignNodeRecord(key, r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deliver steps m, through the codec, into e as from from, and commits.
func deliver(t *testing.T, e *Engine, now time.Time, from string, m lsync.Message) Ready {
	t.Helper()
	b, err := wire.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	dm, err := wire.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	rd := e.Step(now, from, dm)
	e.Commit(&rd)
	rd.ReadDeltas()
	e.NoteSent(&rd)
	return rd
}

// joined returns a with p known through p's own hello (its entry and
// record, from its address).
func joinedPair(t *testing.T, s *signedSet) (a, p *Engine) {
	t.Helper()
	a, p = s.engine(t, "a", t0), s.engine(t, "p", t0)
	deliver(t, a, t0, "p:1", p.helloMsg())
	info, ok := a.State().Peer("p")
	if !ok || info.Addr != "p:1" || info.Generation != 1 {
		t.Fatalf("a does not hold p from its hello: %+v %v", info, ok)
	}
	if _, ok := a.Record("p"); !ok {
		t.Fatal("a holds no record of p")
	}
	return a, p
}

// TestForgedClaimsRefused: a member holding the cluster key but not P's
// private key tries to move P's address, generation and alias and to
// announce its leave, in digests, member lists and beats, standing on
// P's record or on records it made itself. Nothing of it is taken.
func TestForgedClaimsRefused(t *testing.T) {
	s := newSignedSet(t, "a", "p", "m")
	pRec := func(t *testing.T, a *Engine) *identity.NodeRecord {
		r, _ := a.Record("p")
		return r
	}
	cases := []struct {
		name string
		// forge returns what m sends a, given p's record held by a and
		// p's entry as a holds it.
		forge  func(t *testing.T, rec *identity.NodeRecord, e lsync.DigestEntry) []lsync.Message
		reason RejectReason // counted, or "" for none
	}{
		{"new address in a digest", func(t *testing.T, rec *identity.NodeRecord, e lsync.DigestEntry) []lsync.Message {
			e.Addr, e.Heartbeat = "m:1", e.Heartbeat+1
			return []lsync.Message{&lsync.Syn{Cluster: "test", From: "m", Digest: []lsync.DigestEntry{e}}}
		}, BadBeatProof},
		{"new alias in a member list", func(t *testing.T, rec *identity.NodeRecord, e lsync.DigestEntry) []lsync.Message {
			e.Alias, e.Heartbeat = "evil", e.Heartbeat+1
			return []lsync.Message{&lsync.Members{Cluster: "test", From: "m", Members: []lsync.DigestEntry{e}, Up: 1}}
		}, BadBeatProof},
		{"new generation, from p's own address", func(t *testing.T, rec *identity.NodeRecord, e lsync.DigestEntry) []lsync.Message {
			var out []lsync.Message
			for i := range uint64(3) {
				f := e
				f.Generation, f.Heartbeat, f.MaxVersion = 2, 1<<32+i, 0
				out = append(out, &lsync.Syn{Cluster: "test", From: "p", Digest: []lsync.DigestEntry{f}})
			}
			return out
		}, UnsignedClaim},
		{"new generation in beats from p's address", func(t *testing.T, rec *identity.NodeRecord, e lsync.DigestEntry) []lsync.Message {
			return []lsync.Message{&lsync.Beat{Cluster: "test", From: "p", Generation: 2, Heartbeat: 1 << 32},
				&lsync.Beat{Cluster: "test", From: "p", Generation: 2, Heartbeat: 1<<32 + 1}}
		}, ""},
		{"leave just above p's heartbeat", func(t *testing.T, rec *identity.NodeRecord, e lsync.DigestEntry) []lsync.Message {
			e.Leaving, e.Heartbeat = true, e.Heartbeat+1
			return []lsync.Message{&lsync.Syn{Cluster: "test", From: "m", Digest: []lsync.DigestEntry{e}},
				&lsync.Members{Cluster: "test", From: "m", Members: []lsync.DigestEntry{e}}}
		}, UnsignedClaim},
		{"leave standing on a newer record m cannot show", func(t *testing.T, rec *identity.NodeRecord, e lsync.DigestEntry) []lsync.Message {
			e.Leaving, e.Heartbeat, e.RecordSeq = true, e.Heartbeat+1, rec.Seq+1
			return []lsync.Message{&lsync.Syn{Cluster: "test", From: "m", Digest: []lsync.DigestEntry{e}}}
		}, ""},
		{"record of p signed by m's key", func(t *testing.T, rec *identity.NodeRecord, e lsync.DigestEntry) []lsync.Message {
			forged := s.record(t, identity.NodeRecord{ID: "p", Addr: "m:1", Alias: "evil", Generation: 2, Seq: rec.Seq + 1, Leaving: true}, s.keys["m"])
			e.Addr, e.Generation, e.Leaving, e.Heartbeat, e.RecordSeq = "m:1", 2, true, e.Heartbeat+1, rec.Seq+1
			return []lsync.Message{&lsync.Members{Cluster: "test", From: "m", Records: [][]byte{forged}, Members: []lsync.DigestEntry{e}}}
		}, UntrustedKey},
		{"p's record altered", func(t *testing.T, rec *identity.NodeRecord, e lsync.DigestEntry) []lsync.Message {
			r := *rec
			r.Addr, r.Seq, r.Leaving = "m:1", rec.Seq+1, true
			raw, err := r.Marshal() // p's old signature over other fields
			if err != nil {
				t.Fatal(err)
			}
			return []lsync.Message{&lsync.Members{Cluster: "test", From: "m", Records: [][]byte{raw}}}
		}, BadSignature},
		{"garbage for a record", func(t *testing.T, rec *identity.NodeRecord, e lsync.DigestEntry) []lsync.Message {
			return []lsync.Message{&lsync.Members{Cluster: "test", From: "m", Records: [][]byte{{0x9b, 1, 2, 3}}}}
		}, BadSignature},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := joinedPair(t, s)
			before, _ := a.State().Peer("p")
			entry := lsync.DigestEntry{ID: "p", Addr: before.Addr, Generation: before.Generation, Heartbeat: before.Heartbeat,
				MaxVersion: before.MaxVersion, RecordSeq: pRec(t, a).Seq}
			var rejected []Rejected
			now := t0
			for _, m := range tt.forge(t, pRec(t, a), entry) {
				now = now.Add(100 * time.Millisecond)
				from := "m:1"
				if senderOf(m) == "p" {
					from = "p:1" // a forged source address
				}
				rd := deliver(t, a, now, from, m)
				rejected = append(rejected, rd.Rejected...)
				for _, ev := range rd.Events {
					if ev.Kind == Leave {
						t.Errorf("leave event for %v", ev.Peers)
					}
				}
			}
			after, _ := a.State().Peer("p")
			if after.Addr != "p:1" || after.Alias != "p" || after.Generation != 1 || after.Leaving || a.Left("p") {
				t.Fatalf("p's entry moved: %+v", after)
			}
			if r, _ := a.Record("p"); r.Addr != "p:1" || r.Leaving || r.Generation != 1 {
				t.Fatalf("p's record replaced: %+v", r)
			}
			switch {
			case tt.reason == "" && len(rejected) > 0:
				t.Errorf("rejected %+v, want nothing counted", rejected)
			case tt.reason != "" && (len(rejected) == 0 || rejected[0].Reason != tt.reason):
				t.Errorf("rejected %+v, want %s", rejected, tt.reason)
			}
		})
	}
}

// TestRecordAhead: a record of p signed by p but dated beyond
// MaxRecordAhead is refused: it would shadow p's later records.
func TestRecordAhead(t *testing.T) {
	s := newSignedSet(t, "a", "p")
	a, _ := joinedPair(t, s)
	far := s.record(t, identity.NodeRecord{ID: "p", Addr: "p:1", Alias: "p", Generation: 1,
		Seq: uint64(t0.Add(MaxRecordAhead + time.Minute).UnixMilli())}, nil)
	rd := deliver(t, a, t0, "m:1", &lsync.Members{Cluster: "test", From: "m", Records: [][]byte{far}})
	if len(rd.Rejected) != 1 || rd.Rejected[0].Reason != RecordAhead {
		t.Fatalf("rejected %+v, want record_ahead", rd.Rejected)
	}
	if r, _ := a.Record("p"); r.Seq != uint64(t0.UnixMilli()) {
		t.Fatalf("record of seq %d held", r.Seq)
	}
}

// TestOwnWordTaken: what p signs is taken from whoever relays it: a
// leave, a new address, a new generation.
func TestOwnWordTaken(t *testing.T) {
	s := newSignedSet(t, "a", "b", "p")
	t.Run("leave", func(t *testing.T) {
		a, p := joinedPair(t, s)
		deliver(t, p, t0, "a:1", a.helloMsg())
		rd := p.Leave()
		if len(rd.Send) < 2 || len(rd.Send[0].Msg.(*lsync.Members).Records) != 1 {
			t.Fatalf("leave sends %+v, want its record first", rd.Send)
		}
		now := t0.Add(time.Second)
		var left bool
		for _, o := range rd.Send {
			r := deliver(t, a, now, "p:1", o.Msg)
			for _, ev := range r.Events {
				left = left || ev.Kind == Leave
			}
		}
		if !left || !a.Left("p") {
			t.Fatal("p's signed leave was not taken")
		}
		if r, _ := a.Record("p"); !r.Leaving {
			t.Fatalf("record held %+v", r)
		}
	})
	t.Run("new address and generation, relayed", func(t *testing.T) {
		a, _ := joinedPair(t, s)
		b := s.engine(t, "b", t0)
		deliver(t, a, t0, "b:1", b.helloMsg())
		// p comes back wiped, at another address: its record says so, and
		// b relays it; a takes the new generation from p itself.
		later := t0.Add(time.Minute)
		chain := s.chain(t, "p", 2, 1<<32)
		com := chain.Commitment()
		commitment, err := com.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		raw := s.record(t, identity.NodeRecord{ID: "p", Addr: "p:2", Alias: "p", Generation: 2, Seq: uint64(later.UnixMilli()), BeatChain: commitment}, nil)
		rd := deliver(t, a, later, "b:1", &lsync.Members{Cluster: "test", From: "b", Records: [][]byte{raw}})
		if len(rd.Rejected) > 0 {
			t.Fatalf("rejected %+v", rd.Rejected)
		}
		for i := range uint64(3) {
			proof, err := chain.Proof(1<<32 + i)
			if err != nil {
				t.Fatal(err)
			}
			e := lsync.DigestEntry{ID: "p", Addr: "p:2", Generation: 2, Heartbeat: 1<<32 + i, RecordSeq: uint64(later.UnixMilli()), BeatProof: lsync.BeatProof(proof)}
			deliver(t, a, later.Add(time.Duration(i)*time.Second), "p:2", &lsync.Syn{Cluster: "test", From: "p", Digest: []lsync.DigestEntry{e}})
		}
		info, _ := a.State().Peer("p")
		if info.Addr != "p:2" || info.Generation != 2 {
			t.Fatalf("p held as %+v, want its signed address and generation", info)
		}
	})
}

// TestRecordsExchanged: digest entries carry record seqs; a node that
// holds an older record (or none) asks the sender, one that holds a
// newer one sends it, and neither sends anything when they agree.
func TestRecordsExchanged(t *testing.T) {
	s := newSignedSet(t, "a", "b", "p")
	a, p := joinedPair(t, s)
	b := s.engine(t, "b", t0)
	// b hears of p from a's Syn: it holds no record of p, and asks a.
	syn := a.State().MakeSyn(a.rng)
	rd := deliver(t, b, t0, "a:1", syn)
	carrier, ok := rd.Send[0].Msg.(*lsync.Members)
	if !ok || len(carrier.Wants) == 0 || rd.Send[0].To != "a:1" {
		t.Fatalf("b sends %+v first, want a member list asking a", rd.Send)
	}
	if _, known := b.State().Peer("p"); known {
		t.Fatal("b took p from an entry before its record")
	}
	// a answers with the records b asked for; b gives a its own, which a
	// lacked.
	rd = deliver(t, a, t0, "b:1", carrier)
	answer, ok := rd.Send[0].Msg.(*lsync.Members)
	if !ok || len(answer.Records) == 0 {
		t.Fatalf("a answers %+v", rd.Send)
	}
	deliver(t, b, t0, "a:1", answer)
	if r, ok := b.Record("p"); !ok || r.Addr != "p:1" {
		t.Fatalf("b holds %+v, %v of p", r, ok)
	}
	// Now b takes p from a's digest, and the two are in step: no record
	// goes either way.
	rd = deliver(t, b, t0.Add(time.Second), "a:1", a.State().MakeSyn(a.rng))
	if _, known := b.State().Peer("p"); !known {
		t.Fatal("b did not take p once it held its record")
	}
	for _, o := range rd.Send {
		// (A hello of b's own entry and record, as a joiner greets, is
		// not a record sent for a.)
		if m, ok := o.Msg.(*lsync.Members); ok && len(m.Members) == 0 {
			t.Fatalf("b sends records or asks when in step: %+v", m)
		}
	}
	// A newer record of p reaches a (p signs again); b's digest shows it
	// holds the older, so a sends it.
	if _, err := p.SignRecord(t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	deliver(t, a, t0.Add(time.Minute), "p:1", p.helloMsg())
	rd = deliver(t, a, t0.Add(time.Minute), "b:1", b.State().MakeSyn(b.rng))
	m, ok := rd.Send[0].Msg.(*lsync.Members)
	if !ok || len(m.Records) != 1 || rd.Send[0].To != "b:1" {
		t.Fatalf("a sends %+v first, want p's newer record", rd.Send)
	}
	if sb, sa := b.State().Summary(), a.State().Summary(); sb == sa {
		t.Fatal("summaries agree while the records held differ")
	}
}

// TestRecordsBounded: the records held are capped by MaxPeers; a record
// of a node the core does not know makes room, one of a known node does
// not.
func TestRecordsBounded(t *testing.T) {
	ids := []string{"a", "p", "q", "r"}
	s := newSignedSet(t, ids...)
	a := newEngineWith(t, "a", func(c *Config) {
		c.Signing = &Signing{Key: s.keys["a"], Trust: s.trust}
		c.MaxPeers = 2
	})
	if _, err := a.SignRecord(t0); err != nil {
		t.Fatal(err)
	}
	var raws [][]byte
	for _, id := range ids[1:] {
		raws = append(raws, s.record(t, identity.NodeRecord{ID: id, Addr: id + ":1", Generation: 1, Seq: 5}, nil))
	}
	deliver(t, a, t0, "x:1", &lsync.Members{Cluster: "test", From: "x", Records: raws})
	st := a.RecordStats()
	if st.Held > 3 || st.Accepted != 3 {
		t.Fatalf("stats %+v: want at most 2 peers' records and the own, each taken in turn", st)
	}
	if _, ok := a.Record("r"); !ok {
		t.Fatal("the newest record did not replace one of an unknown node")
	}
}

// TestUnsignedEnginesUnchanged: without Signing, entries carry no record
// seq and member lists no records.
func TestUnsignedEnginesUnchanged(t *testing.T) {
	a, p := newEngine(t, "a"), newEngine(t, "p")
	if rec, err := p.SignRecord(t0); rec != nil || err != nil {
		t.Fatalf("SignRecord without signing: %v, %v", rec, err)
	}
	h := p.helloMsg()
	if len(h.Records) > 0 || h.Members[0].RecordSeq != 0 {
		t.Fatalf("hello %+v", h)
	}
	rd := deliver(t, a, t0, "p:1", h)
	if info, ok := a.State().Peer("p"); !ok || info.Addr != "p:1" || len(rd.Rejected) > 0 {
		t.Fatalf("a holds %+v, %v; rejected %+v", info, ok, rd.Rejected)
	}
	for _, e := range a.State().MakeSyn(a.rng).Digest {
		if e.RecordSeq != 0 {
			t.Fatalf("entry %+v", e)
		}
	}
}

// TestCarrierFitsItsBudget: the records and asks a node owes a sender go
// in one message no larger than a datagram, however many are owed.
func TestCarrierFitsItsBudget(t *testing.T) {
	s := newSignedSet(t, "a")
	a := s.engine(t, "a", t0)
	var c carrier
	raw := a.OwnRecord()
	rec, err := identity.ParseNodeRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		r := *rec
		r.ID = string(rune('b'+i%20)) + string(rune('a'+i/20))
		c.add(heldRecord{rec: &r, raw: raw})
		c.want(r.ID + "-wanted")
	}
	for _, budget := range []int{200, 600, 1400} {
		m := a.carrierMsg(&c, budget)
		b, err := wire.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > budget || len(m.Records) == 0 {
			t.Errorf("budget %d: %d bytes with %d records and %d asks", budget, len(b), len(m.Records), len(m.Wants))
		}
	}
}
