package sync

import (
	"bytes"
	"math/rand"
	"strings"
	"testing"
)

// sampleMessages seed FuzzHandle with every message type, lists empty and
// full. The tests of sync/wire seed its fuzz targets with the same set: a
// test of this package cannot import theirs.
func sampleMessages() []Message {
	recs := []Record{
		{Key: "a", Value: []byte("1"), Version: 1},
		{Key: strings.Repeat("k", 40), Value: bytes.Repeat([]byte{7}, 300), Version: 1 << 20},
		{Key: "gone", Version: 1<<40 + 3, Tombstone: true},
	}
	digest := []DigestEntry{
		{ID: "n1", Addr: "127.0.0.1:7001", Generation: 1700000000000, Heartbeat: 5 << 32, MaxVersion: 9},
		{ID: "n2", Alias: "second", Addr: "[::1]:7002", Generation: 1, Heartbeat: 0, MaxVersion: 0},
	}
	return []Message{
		&Syn{Cluster: "c", From: "n1", Complete: true, Digest: digest},
		&Syn{Cluster: "", From: "n1"},
		&SynAck{Cluster: "c", From: "n2", Digest: digest, Deltas: []NodeDelta{{ID: "n1", Generation: 2, From: 0, To: 1<<40 + 3, Records: recs}}},
		&SynAck{Cluster: "c", From: "n2"},
		&Ack{Cluster: "c", From: "n1", Deltas: []NodeDelta{{ID: "n3", Generation: 1, From: 7, To: 9}}},
		&BadCluster{Cluster: "other"},
		&Beat{Cluster: "c", From: "n1", Generation: 1700000000000, Heartbeat: 5<<32 + 7},
		&Beat{Cluster: "c", From: "n2", Release: true},
		&Suspect{Cluster: "c", From: "n1", Votes: []Vote{{ID: "n3", Generation: 1, Heartbeat: 1<<32 + 9, By: "n1"},
			{ID: "n2", Generation: 1700000000000, Heartbeat: 3 << 32, By: "n2"}}},
		&Suspect{Cluster: "c", From: "n1"},
		&Members{Cluster: "c", From: "n3", Request: true, Members: digest[:1]},
		&Members{Cluster: "c", From: "n1", Members: digest},
	}
}

// FuzzHandle feeds whatever decodes to the protocol core of a node that
// holds data of its own and of a peer: the core must not panic, must never
// put a record of the local node in a batch other than its own current ones
// (rewritten under a higher generation by a refutation), must keep the
// local node's records, and must answer within its message budget.
func FuzzHandle(f *testing.F) {
	for _, m := range sampleMessages() {
		b, _ := encode(m)
		f.Add(b)
	}
	own, _ := encode(&Ack{Cluster: "test", From: "me", Deltas: []NodeDelta{{ID: "me", Generation: 2, From: 0, To: 9,
		Records: []Record{{Key: "mine", Value: []byte("forged"), Version: 9}}}}})
	f.Add(own)
	reset, _ := encode(&SynAck{Cluster: "test", From: "x", Digest: []DigestEntry{{ID: "p", Generation: 9, Heartbeat: 1 << 40}},
		Deltas: []NodeDelta{{ID: "p", Generation: 9, From: 0, To: 3, Records: []Record{{Key: "k", Version: 2}}}}})
	f.Add(reset)
	syn, _ := encode(&Syn{Cluster: "test", From: "x", Complete: true})
	f.Add(syn)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decode(b)
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
			out, err := encode(st.Reply)
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
