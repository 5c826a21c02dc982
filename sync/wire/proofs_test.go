package wire

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"reflect"
	"testing"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/proof"
	"github.com/vmihailenco/msgpack/v5"
)

// provenDelta is a delta of three records and the proof of them, sealed
// by a key of seed 1.
func provenDelta(t *testing.T) lsync.NodeDelta {
	t.Helper()
	k, err := identity.Generate(bytes.NewReader(bytes.Repeat([]byte{1}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	nd := lsync.NodeDelta{ID: "n1", Generation: 5, From: 0, To: 3, Clean: 3, Records: []lsync.Record{
		{Key: "a", Value: []byte("1"), Version: 1}, {Key: "b", Value: []byte("2"), Version: 2}, {Key: "c", Version: 3, Tombstone: true},
	}}
	recs := make([]proof.Record, len(nd.Records))
	for i := range nd.Records {
		recs[i] = proof.Record(nd.Records[i])
	}
	p, _, err := proof.Seal(k, nd.ID, nd.Generation, recs)
	if err != nil {
		t.Fatal(err)
	}
	nd.Proofs = []*proof.Proof{p}
	return nd
}

// TestDeltaProofsTrail: a delta's proofs are a ninth, trailing field,
// parsed for the delta's node and generation; a delta without them is
// the same bytes as before, and a decoder that knows only eight fields
// reads the rest.
func TestDeltaProofsTrail(t *testing.T) {
	nd := provenDelta(t)
	bare := nd
	bare.Proofs = nil
	for _, m := range []func(lsync.NodeDelta) lsync.Message{
		func(d lsync.NodeDelta) lsync.Message {
			return &lsync.Ack{Cluster: "c", From: "n2", Deltas: []lsync.NodeDelta{d}}
		},
		func(d lsync.NodeDelta) lsync.Message {
			return &lsync.Push{Cluster: "c", From: "n2", Hops: 1, Deltas: []lsync.NodeDelta{d}}
		},
		func(d lsync.NodeDelta) lsync.Message {
			return &lsync.SynAck{Cluster: "c", From: "n2", Deltas: []lsync.NodeDelta{d}}
		},
	} {
		with, err := Encode(m(nd))
		if err != nil {
			t.Fatal(err)
		}
		without, _ := Encode(m(bare))
		empty := bare
		empty.Proofs = []*proof.Proof{}
		if again, _ := Encode(m(empty)); !bytes.Equal(again, without) {
			t.Fatalf("an empty proof list changed the bytes")
		}
		got, err := Decode(with)
		if err != nil {
			t.Fatal(err)
		}
		var ds []lsync.NodeDelta
		switch v := got.(type) {
		case *lsync.Ack:
			ds = v.Deltas
		case *lsync.Push:
			ds = v.Deltas
		case *lsync.SynAck:
			ds = v.Deltas
		}
		if len(ds) != 1 || len(ds[0].Proofs) != 1 {
			t.Fatalf("decoded %+v", ds)
		}
		p := ds[0].Proofs[0]
		want := *nd.Proofs[0]
		want.Header.Root = proof.Hash{} // the receiver rebuilds it
		if p.Origin != "n1" || p.Generation != 5 || p.Signed != want.Signed || !reflect.DeepEqual(p.Held, want.Held) || len(p.Hashes) != 0 {
			t.Fatalf("proof decoded as %+v, want %+v", *p, want)
		}
		if !reflect.DeepEqual(ds[0].Records, nd.Records) {
			t.Fatalf("records decoded as %+v", ds[0].Records)
		}
		// The delta's fields: the unsigned eight, then the proofs.
		var wf, uf []any
		if err := msgpack.Unmarshal(with[HeaderSize:], &wf); err != nil {
			t.Fatal(err)
		}
		_ = msgpack.Unmarshal(without[HeaderSize:], &uf)
		at := len(wf) - 2 // the deltas, before More
		if _, isPush := got.(*lsync.Push); isPush {
			at = len(wf) - 1
		}
		wd, ud := wf[at].([]any)[0].([]any), uf[at].([]any)[0].([]any)
		if len(wd) != 9 || len(ud) != 8 || !reflect.DeepEqual(wd[:8], ud) {
			t.Fatalf("delta fields %v, want %v and the proofs", wd, ud)
		}
	}
}

// TestDeltaProofsRejected: proofs that do not parse, or more of them
// than records, make the message malformed.
func TestDeltaProofsRejected(t *testing.T) {
	nd := provenDelta(t)
	good, err := Encode(&lsync.Ack{Cluster: "c", From: "n2", Deltas: []lsync.NodeDelta{nd}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(good); err != nil {
		t.Fatal(err)
	}
	two := nd
	two.Records = two.Records[:1]
	two.Proofs = []*proof.Proof{nd.Proofs[0], nd.Proofs[0]}
	tooMany, err := Encode(&lsync.Ack{Cluster: "c", From: "n2", Deltas: []lsync.NodeDelta{two}})
	if err != nil {
		t.Fatal(err)
	}
	// The last byte of the hashes bin is in the proof's held spans:
	// flip the count instead, in the proof's third field.
	wire, _ := nd.Proofs[0].AppendWire(nil)
	i := bytes.Index(good, wire)
	if i < 0 {
		t.Fatal("proof not found in the message")
	}
	bad := bytes.Clone(good)
	bad[i+3] = 0x7f // a count the versions cannot hold
	for name, b := range map[string][]byte{"more proofs than records": tooMany, "a malformed proof": bad} {
		if _, err := Decode(b); err == nil {
			t.Fatalf("%s: decoded", name)
		} else if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrLimitExceeded) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
