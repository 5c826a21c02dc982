package wire

import (
	"reflect"
	"testing"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// fuzzBody fuzzes the body of one message type behind a valid header, so
// that the fuzzer spends its time inside that type's decoder. Whatever
// decodes must respect the limits and re-encode to the same message.
func fuzzBody(f *testing.F, typ lsync.MsgType) {
	for _, m := range sampleMessages() {
		if m.Type() == typ {
			b, _ := Encode(m)
			f.Add(b[HeaderSize:])
		}
	}
	for _, in := range hostileInputs() {
		if len(in.in) > HeaderSize && lsync.MsgType(in.in[3]) == typ {
			f.Add(in.in[HeaderSize:])
		}
	}
	f.Add([]byte{0x94})
	lim := lsync.Limits{MaxKeyBytes: 64, MaxValueBytes: 256, MaxIDBytes: 32, MaxDigestEntries: 8, MaxNodeDeltas: 8}
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

func checkLimits(t *testing.T, m lsync.Message, lim lsync.Limits) {
	t.Helper()
	var ids []string
	var digest []lsync.DigestEntry
	var deltas []lsync.NodeDelta
	switch v := m.(type) {
	case *lsync.Syn:
		ids, digest = []string{v.Cluster, v.From}, v.Digest
	case *lsync.SynAck:
		ids, digest, deltas = []string{v.Cluster, v.From}, v.Digest, v.Deltas
	case *lsync.Ack:
		ids, deltas = []string{v.Cluster, v.From}, v.Deltas
	case *lsync.Push:
		ids, deltas = []string{v.Cluster, v.From}, v.Deltas
	case *lsync.BadCluster:
		ids = []string{v.Cluster}
	case *lsync.Beat:
		ids = []string{v.Cluster, v.From}
	case *lsync.Members:
		ids, digest = []string{v.Cluster, v.From}, v.Members
	case *lsync.Suspect:
		ids = []string{v.Cluster, v.From}
		if len(v.Votes) > MaxVotes {
			t.Fatalf("%d votes over the limit", len(v.Votes))
		}
		for _, vt := range v.Votes {
			ids = append(ids, vt.ID, vt.By)
			if len(vt.Sig) > MaxVoteSigBytes {
				t.Fatalf("a vote signature of %d bytes", len(vt.Sig))
			}
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

func FuzzDecodeSyn(f *testing.F)        { fuzzBody(f, lsync.MsgSyn) }
func FuzzDecodeSynAck(f *testing.F)     { fuzzBody(f, lsync.MsgSynAck) }
func FuzzDecodeAck(f *testing.F)        { fuzzBody(f, lsync.MsgAck) }
func FuzzDecodeBadCluster(f *testing.F) { fuzzBody(f, lsync.MsgBadCluster) }
func FuzzDecodeBeat(f *testing.F)       { fuzzBody(f, lsync.MsgBeat) }
func FuzzDecodeSuspect(f *testing.F)    { fuzzBody(f, lsync.MsgSuspect) }
func FuzzDecodeMembers(f *testing.F)    { fuzzBody(f, lsync.MsgMembers) }
func FuzzDecodePush(f *testing.F)       { fuzzBody(f, lsync.MsgPush) }
