package wire

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/vmihailenco/msgpack/v5"
)

func sampleMessages() []lsync.Message {
	recs := []lsync.Record{
		{Key: "a", Value: []byte("1"), Version: 1},
		{Key: strings.Repeat("k", 40), Value: bytes.Repeat([]byte{7}, 300), Version: 1 << 20},
		{Key: "gone", Version: 1<<40 + 3, Tombstone: true},
	}
	digest := []lsync.DigestEntry{
		{ID: "n1", Addr: "127.0.0.1:7001", Generation: 1700000000000, Heartbeat: 5 << 32, MaxVersion: 9},
		{ID: "n2", Alias: "second", Addr: "[::1]:7002", Generation: 1, Heartbeat: 0, MaxVersion: 0},
	}
	return []lsync.Message{
		&lsync.Syn{Cluster: "c", From: "n1", Complete: true, Digest: digest},
		&lsync.Syn{Cluster: "", From: "n1"},
		&lsync.SynAck{Cluster: "c", From: "n2", Digest: digest, Deltas: []lsync.NodeDelta{{ID: "n1", Generation: 2, From: 0, To: 1<<40 + 3, Records: recs}}},
		&lsync.SynAck{Cluster: "c", From: "n2"},
		&lsync.Ack{Cluster: "c", From: "n1", Deltas: []lsync.NodeDelta{{ID: "n3", Generation: 1, From: 7, To: 9}}},
		&lsync.BadCluster{Cluster: "other"},
		&lsync.Beat{Cluster: "c", From: "n1", Generation: 1700000000000, Heartbeat: 5<<32 + 7},
		&lsync.Beat{Cluster: "c", From: "n2", Release: true},
		&lsync.Suspect{Cluster: "c", From: "n1", Votes: []lsync.Vote{{ID: "n3", Generation: 1, Heartbeat: 1<<32 + 9, By: "n1"},
			{ID: "n2", Generation: 1700000000000, Heartbeat: 3 << 32, By: "n2"}}},
		&lsync.Suspect{Cluster: "c", From: "n1"},
		&lsync.Members{Cluster: "c", From: "n3", Request: true, Members: digest[:1]},
		&lsync.Members{Cluster: "c", From: "n1", Members: digest},
		&lsync.Push{Cluster: "c", From: "n2", Hops: 9, Deltas: []lsync.NodeDelta{{ID: "n1", Generation: 2, From: 1 << 20, To: 1<<40 + 3, Clean: 1<<40 + 3, Records: recs[2:]}}},
		&lsync.Push{Cluster: "c", From: "n2", Hops: 255},
		&lsync.Syn{Cluster: "c", From: "n1", Summary: 1<<64 - 1},
		&lsync.Syn{Cluster: "c", From: "n1", Digest: signedDigest},
		&lsync.Members{Cluster: "c", From: "n3", Request: true, Members: signedDigest[:1], Up: 1, Records: [][]byte{{0x9b, 1}}},
		&lsync.Members{Cluster: "c", From: "n1", Records: [][]byte{bytes.Repeat([]byte{1}, 300), {2}}, Wants: []string{"n2", "n3"}},
		&lsync.Members{Cluster: "c", From: "n1", Wants: []string{"n2"}},
		&lsync.Syn{Cluster: "c", From: "n1", Digest: provenDigest},
		&lsync.Members{Cluster: "c", From: "n1", Members: provenDigest, Up: 2, Records: [][]byte{{1}}},
		&lsync.Beat{Cluster: "c", From: "n1", Generation: 1700000000000, Heartbeat: 5<<32 + 7, Proof: lsync.BeatProof{1, 2, 3}},
		&lsync.Suspect{Cluster: "c", From: "n1", Votes: []lsync.Vote{{ID: "n3", Generation: 1, Heartbeat: 1<<32 + 9, By: "n1", Proof: lsync.BeatProof{15: 9}},
			{ID: "n2", Generation: 1, Heartbeat: 3, By: "n1"}}},
		&lsync.Suspect{Cluster: "c", From: "n1", Votes: []lsync.Vote{
			{ID: "n3", Generation: 1, Heartbeat: 1<<32 + 9, By: "n1", Proof: lsync.BeatProof{15: 9}, Seq: 1700000000123, Sig: bytes.Repeat([]byte{7}, 64)},
			{ID: "n2", Generation: 1, Heartbeat: 3, By: "n2", Seq: 1, Sig: bytes.Repeat([]byte{8}, 64)}}},
	}
}

// provenDigest is a signed cluster's digest whose heartbeats carry their
// proofs; the second entry has a proof and no record seq.
var provenDigest = []lsync.DigestEntry{
	{ID: "n1", Addr: "127.0.0.1:7001", Generation: 1700000000000, Heartbeat: 5 << 32, MaxVersion: 9, RecordSeq: 1700000000123,
		BeatProof: lsync.BeatProof{0: 0xff, 15: 1}},
	{ID: "n2", Addr: "[::1]:7002", Generation: 1, Heartbeat: 7, BeatProof: lsync.BeatProof{3: 3}},
}

// signedDigest is a digest of a cluster that signs node records.
var signedDigest = []lsync.DigestEntry{
	{ID: "n1", Addr: "127.0.0.1:7001", Generation: 1700000000000, Heartbeat: 5 << 32, MaxVersion: 9, RecordSeq: 1700000000123},
	{ID: "n2", Addr: "[::1]:7002", Generation: 1, Heartbeat: 0, MaxVersion: 0, RecordSeq: 1},
}

// TestSignedFieldsTrail: what signing adds to a digest entry and a
// member list are trailing fields after the ones every release reads,
// so that a node that predates them decodes the rest; without them the
// encoding is the unsigned one, byte for byte.
func TestSignedFieldsTrail(t *testing.T) {
	fields := func(m lsync.Message) []any {
		t.Helper()
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		var f []any
		if err := msgpack.Unmarshal(b[HeaderSize:], &f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	entry := signedDigest[0]
	unsignedEntry := entry
	unsignedEntry.RecordSeq = 0
	signed := fields(&lsync.Members{Cluster: "c", From: "n1", Members: []lsync.DigestEntry{entry}, Up: 1,
		Records: [][]byte{{1, 2}}, Wants: []string{"n9"}})
	unsigned := fields(&lsync.Members{Cluster: "c", From: "n1", Members: []lsync.DigestEntry{unsignedEntry}, Up: 1})
	if len(signed) != 7 || len(unsigned) != 5 {
		t.Fatalf("members of %d and %d fields, want 7 signed and 5 unsigned", len(signed), len(unsigned))
	}
	se, ue := signed[3].([]any)[0].([]any), unsigned[3].([]any)[0].([]any)
	if len(se) != 9 || len(ue) != 8 || !reflect.DeepEqual(se[:8], ue) {
		t.Fatalf("entry fields %v, want the unsigned %v and a ninth", se, ue)
	}
	if !reflect.DeepEqual(signed[:3], unsigned[:3]) || !reflect.DeepEqual(signed[4], unsigned[4]) {
		t.Fatalf("leading fields differ: %v, %v", signed[:5], unsigned)
	}
	// A proof is a tenth field after the record seq, and a beat's and a
	// vote's a trailing one.
	proven := fields(&lsync.Syn{Cluster: "c", From: "n1", Digest: provenDigest[:1]})
	pe := proven[3].([]any)[0].([]any)
	if len(pe) != 10 || !reflect.DeepEqual(pe[:9], se) || !bytes.Equal(pe[9].([]byte), provenDigest[0].BeatProof[:]) {
		t.Fatalf("proven entry fields %v, want %v and the proof", pe, se)
	}
	for _, m := range []lsync.Message{
		&lsync.Beat{Cluster: "c", From: "n1", Heartbeat: 3, Proof: lsync.BeatProof{1}},
		&lsync.Suspect{Cluster: "c", From: "n1", Votes: []lsync.Vote{{ID: "n2", Heartbeat: 3, By: "n1", Proof: lsync.BeatProof{1}}}},
	} {
		with := fields(m)
		switch v := m.(type) {
		case *lsync.Beat:
			v.Proof = lsync.BeatProof{}
			if without := fields(v); len(with) != 6 || len(without) != 5 || !reflect.DeepEqual(with[:5], without) {
				t.Fatalf("beat fields %v, want %v and the proof", with, without)
			}
		case *lsync.Suspect:
			v.Votes[0].Proof = lsync.BeatProof{}
			wv, uv := with[2].([]any)[0].([]any), fields(v)[2].([]any)[0].([]any)
			if len(wv) != 5 || len(uv) != 4 || !reflect.DeepEqual(wv[:4], uv) {
				t.Fatalf("vote fields %v, want %v and the proof", wv, uv)
			}
		}
	}
	// A signed vote's seq and signature trail its proof, written (zero)
	// even when it has none.
	sv := fields(&lsync.Suspect{Cluster: "c", From: "n1", Votes: []lsync.Vote{{ID: "n2", Heartbeat: 3, By: "n1", Seq: 5, Sig: []byte{1, 2}}}})
	if v := sv[2].([]any)[0].([]any); len(v) != 7 || !bytes.Equal(v[4].([]byte), make([]byte, 16)) || !bytes.Equal(v[6].([]byte), []byte{1, 2}) {
		t.Fatalf("signed vote fields %v", v)
	}
	// An unsigned message is the same bytes whatever the new fields' zero
	// values: older releases see what they always saw.
	a, _ := Encode(&lsync.Members{Cluster: "c", From: "n1", Members: []lsync.DigestEntry{unsignedEntry}, Up: 1})
	b, _ := Encode(&lsync.Members{Cluster: "c", From: "n1", Members: []lsync.DigestEntry{unsignedEntry}, Up: 1, Records: [][]byte{}, Wants: []string{}})
	if !bytes.Equal(a, b) || a[HeaderSize] != 0x95 {
		t.Fatalf("unsigned members encoded as %x and %x", a, b)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		t.Run(m.Type().String(), func(t *testing.T) {
			b, err := Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip changed the message:\n got %#v\nwant %#v", got, m)
			}
		})
	}
}

// TestSynWithoutSummary: a Syn of four fields, as a node of the release
// before quiet summaries sends it, is an ordinary Syn.
func TestSynWithoutSummary(t *testing.T) {
	var buf bytes.Buffer
	buf.Write([]byte{byte(Magic >> 8), byte(Magic & 0xff), ProtocolVersion, byte(lsync.MsgSyn)})
	enc := msgpack.NewEncoder(&buf)
	for _, err := range []error{enc.EncodeArrayLen(4), enc.EncodeString("c"), enc.EncodeString("n1"), enc.EncodeBool(true), enc.EncodeArrayLen(0)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	m, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if syn, ok := m.(*lsync.Syn); !ok || syn.Summary != 0 || !syn.Complete || syn.From != "n1" {
		t.Fatalf("decoded %#v", m)
	}
}

func TestCodecRejects(t *testing.T) {
	good, err := Encode(sampleMessages()[2])
	if err != nil {
		t.Fatal(err)
	}
	withHeader := func(magic0, magic1, ver, typ byte) []byte {
		b := append([]byte(nil), good...)
		b[0], b[1], b[2], b[3] = magic0, magic1, ver, typ
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"short header", []byte{0x4c, 0x56, 1}, ErrMalformed},
		{"foreign magic", withHeader('G', 'E', 1, 2), ErrBadMagic},
		{"future version", withHeader(0x4c, 0x56, 9, 2), ErrBadVersion},
		{"unknown type", withHeader(0x4c, 0x56, 1, 99), ErrUnknownType},
		{"header only", good[:HeaderSize], ErrMalformed},
		{"truncated", good[:len(good)/2], ErrMalformed},
		{"wrong body type", withHeader(0x4c, 0x56, 1, byte(lsync.MsgSyn)), ErrMalformed},
		{"absurd list count", append(withHeader(0x4c, 0x56, 1, 3)[:HeaderSize], 0x93, 0xa1, 'c', 0xa1, 'n', 0xdd, 0xff, 0xff, 0xff, 0xff), ErrMalformed},
		{"json", []byte(`{"type":"syn"}`), ErrBadMagic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCodecLimits(t *testing.T) {
	m := &lsync.Ack{Cluster: "c", From: "n", Deltas: []lsync.NodeDelta{{ID: "x", Generation: 1, To: 1,
		Records: []lsync.Record{{Key: "k", Value: make([]byte, 2000), Version: 1}}}}}
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeWith(b, lsync.Limits{MaxKeyBytes: 10, MaxValueBytes: 1000, MaxIDBytes: 10}); !errors.Is(err, ErrLimitExceeded) {
		t.Fatalf("value over limit: got %v", err)
	}
	if _, err := DecodeWith(b, lsync.Limits{MaxKeyBytes: 10, MaxValueBytes: 4000, MaxIDBytes: 10}); err != nil {
		t.Fatalf("value within limit: %v", err)
	}
	over := []lsync.Message{
		&lsync.Members{Cluster: "c", From: "n", Records: [][]byte{make([]byte, identity.MaxNodeRecordSize+1)}},
		&lsync.Members{Cluster: "c", From: "n", Records: make([][]byte, lsync.MaxMessageRecords+1)},
		&lsync.Members{Cluster: "c", From: "n", Wants: make([]string, lsync.MaxMessageWants+1)},
		&lsync.Members{Cluster: "c", From: "n", Wants: []string{strings.Repeat("i", 300)}},
	}
	for i, m := range over {
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(b); !errors.Is(err, ErrLimitExceeded) {
			t.Errorf("members %d over a limit: got %v", i, err)
		}
	}
}

// FuzzDecode: no input may panic the decoder, and what decodes must
// re-encode to something that decodes to the same message.
func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages() {
		b, _ := Encode(m)
		f.Add(b)
	}
	f.Add([]byte{0x4c, 0x56, 1, 2, 0x94})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := Decode(again)
		if err != nil {
			t.Fatalf("decode of re-encoded: %v", err)
		}
		if !reflect.DeepEqual(normalize(m), normalize(m2)) {
			t.Fatalf("unstable:\n%#v\n%#v", m, m2)
		}
	})
}

// normalize maps empty slices to nil: msgpack cannot tell them apart.
func normalize(m lsync.Message) lsync.Message {
	b, _ := Encode(m)
	m2, _ := Decode(b)
	return m2
}
