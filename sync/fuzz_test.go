package sync

import (
	"bytes"
	"math/rand"
	"reflect"
	"testing"
)

// fuzzBody fuzzes the body of one message type behind a valid header, so
// that the fuzzer spends its time inside that type's decoder. Whatever
// decodes must respect the limits and re-encode to the same message.
func fuzzBody(f *testing.F, typ MsgType) {
	for _, m := range sampleMessages() {
		if m.Type() == typ {
			b, _ := Encode(m)
			f.Add(b[HeaderSize:])
		}
	}
	for _, in := range hostileInputs() {
		if len(in.in) > HeaderSize && MsgType(in.in[3]) == typ {
			f.Add(in.in[HeaderSize:])
		}
	}
	f.Add([]byte{0x94})
	lim := Limits{MaxKeyBytes: 64, MaxValueBytes: 256, MaxIDBytes: 32, MaxDigestEntries: 8, MaxNodeDeltas: 8}
	f.Fuzz(func(t *testing.T, body []byte) {
		in := append([]byte{0x4c, 0x56, ProtocolVersion, byte(typ)}, body...)
		m, err := DecodeWith(in, lim)
		if err != nil {
			return
		}
		checkLimits(t, m, lim)
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := DecodeWith(again, lim)
		if err != nil {
			t.Fatalf("decode of re-encoded: %v", err)
		}
		if !reflect.DeepEqual(normalize(m), normalize(m2)) {
			t.Fatalf("unstable:\n%#v\n%#v", m, m2)
		}
	})
}

func checkLimits(t *testing.T, m Message, lim Limits) {
	t.Helper()
	var ids []string
	var digest []DigestEntry
	var deltas []NodeDelta
	switch v := m.(type) {
	case *Syn:
		ids, digest = []string{v.Cluster, v.From}, v.Digest
	case *SynAck:
		ids, digest, deltas = []string{v.Cluster, v.From}, v.Digest, v.Deltas
	case *Ack:
		ids, deltas = []string{v.Cluster, v.From}, v.Deltas
	case *BadCluster:
		ids = []string{v.Cluster}
	case *Beat:
		ids = []string{v.Cluster, v.From}
	case *Members:
		ids, digest = []string{v.Cluster, v.From}, v.Members
	case *Suspect:
		ids = []string{v.Cluster, v.From}
		if len(v.Votes) > MaxVotes {
			t.Fatalf("%d votes over the limit", len(v.Votes))
		}
		for _, vt := range v.Votes {
			ids = append(ids, vt.ID, vt.By)
		}
	}
	if len(digest) > lim.MaxDigestEntries || len(deltas) > lim.MaxNodeDeltas {
		t.Fatalf("%d entries, %d deltas over the limits", len(digest), len(deltas))
	}
	for _, e := range digest {
		ids = append(ids, e.ID, e.Alias, e.Addr)
	}
	for _, d := range deltas {
		ids = append(ids, d.ID)
		for _, r := range d.Records {
			if len(r.Key) > lim.MaxKeyBytes || len(r.Value) > lim.MaxValueBytes {
				t.Fatalf("record %d/%d bytes over the limits", len(r.Key), len(r.Value))
			}
		}
	}
	for _, id := range ids {
		if len(id) > lim.MaxIDBytes {
			t.Fatalf("id of %d bytes over the limit", len(id))
		}
	}
}

func FuzzDecodeSyn(f *testing.F)        { fuzzBody(f, MsgSyn) }
func FuzzDecodeSynAck(f *testing.F)     { fuzzBody(f, MsgSynAck) }
func FuzzDecodeAck(f *testing.F)        { fuzzBody(f, MsgAck) }
func FuzzDecodeBadCluster(f *testing.F) { fuzzBody(f, MsgBadCluster) }
func FuzzDecodeBeat(f *testing.F)       { fuzzBody(f, MsgBeat) }
func FuzzDecodeSuspect(f *testing.F)    { fuzzBody(f, MsgSuspect) }
func FuzzDecodeMembers(f *testing.F)    { fuzzBody(f, MsgMembers) }

// FuzzHandle feeds whatever decodes to the protocol core of a node that
// holds data of its own and of a peer: the core must not panic, must never
// put a record of the local node in a batch other than its own current ones
// (rewritten under a higher generation by a refutation), must keep the
// local node's records, and must answer within its message budget.
func FuzzHandle(f *testing.F) {
	for _, m := range sampleMessages() {
		b, _ := Encode(m)
		f.Add(b)
	}
	own, _ := Encode(&Ack{Cluster: "test", From: "me", Deltas: []NodeDelta{{ID: "me", Generation: 2, From: 0, To: 9,
		Records: []Record{{Key: "mine", Value: []byte("forged"), Version: 9}}}}})
	f.Add(own)
	reset, _ := Encode(&SynAck{Cluster: "test", From: "x", Digest: []DigestEntry{{ID: "p", Generation: 9, Heartbeat: 1 << 40}},
		Deltas: []NodeDelta{{ID: "p", Generation: 9, From: 0, To: 3, Records: []Record{{Key: "k", Version: 2}}}}})
	f.Add(reset)
	syn, _ := Encode(&Syn{Cluster: "test", From: "x", Complete: true})
	f.Add(syn)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		s := newTestState(t, "me", 1)
		write(t, s, "mine", "precious", "other", "value")
		if err := s.Restore(PeerMeta{ID: "p", Alias: "p", Addr: "p:1", Generation: 1, MaxVersion: 2},
			[]Record{{Key: "k", Value: []byte("v"), Version: 2}}); err != nil {
			t.Fatal(err)
		}
		before := s.Self()
		st := s.Handle(m, rand.New(rand.NewSource(1)))
		if st.Batch != nil {
			for _, c := range st.Batch.Changes {
				if c.Meta.ID == "me" && !refutes(before, &c) {
					t.Fatalf("batch changes the local node: %+v", c)
				}
			}
			commitTo(s, st.Batch)
		}
		after := s.Self()
		after.Generation = before.Generation // a refutation may raise it
		if r, ok := s.Get("me", "mine"); !ok || !bytes.Equal(r.Value, []byte("precious")) || after != before {
			t.Fatalf("local node changed: %+v %+v", r, s.Self())
		}
		if st.Reply != nil {
			out, err := Encode(st.Reply)
			if err != nil {
				t.Fatalf("reply: %v", err)
			}
			if len(out) > testMessage {
				t.Fatalf("reply of %d bytes over the budget %d", len(out), testMessage)
			}
		}
	})
}

// refutes reports whether c only raises the local node's generation,
// relabelling the records it holds and carrying none.
func refutes(before PeerMeta, c *PeerChange) bool {
	m := c.Meta
	m.Generation = before.Generation
	return !c.Reset && c.Relabel == before.Generation && c.Meta.Generation > before.Generation &&
		m == before && len(c.Records) == 0 && len(c.Drop) == 0
}
