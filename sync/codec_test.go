package sync

import (
	"bytes"
	"errors"
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

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
		{"wrong body type", withHeader(0x4c, 0x56, 1, byte(MsgSyn)), ErrMalformed},
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
	m := &Ack{Cluster: "c", From: "n", Deltas: []NodeDelta{{ID: "x", Generation: 1, To: 1,
		Records: []Record{{Key: "k", Value: make([]byte, 2000), Version: 1}}}}}
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeWith(b, Limits{MaxKeyBytes: 10, MaxValueBytes: 1000, MaxIDBytes: 10}); !errors.Is(err, ErrLimitExceeded) {
		t.Fatalf("value over limit: got %v", err)
	}
	if _, err := DecodeWith(b, Limits{MaxKeyBytes: 10, MaxValueBytes: 4000, MaxIDBytes: 10}); err != nil {
		t.Fatalf("value within limit: %v", err)
	}
}

// TestSizesMatchEncoding keeps the budget arithmetic exact: a message is
// filled by these sizes, and must never come out larger than its budget.
func TestSizesMatchEncoding(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	lens := []int{0, 1, 31, 32, 255, 256, 70000}
	nums := []uint64{0, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<64 - 1}
	for i := 0; i < 500; i++ {
		r := Record{
			Key:       strings.Repeat("k", lens[rng.Intn(len(lens))]),
			Version:   nums[rng.Intn(len(nums))],
			Tombstone: rng.Intn(2) == 0,
		}
		if n := lens[rng.Intn(len(lens))]; rng.Intn(4) > 0 {
			r.Value = make([]byte, n)
		}
		e := DigestEntry{ID: r.Key, Addr: strings.Repeat("a", lens[rng.Intn(3)]), Generation: nums[rng.Intn(len(nums))], Heartbeat: r.Version, MaxVersion: nums[rng.Intn(len(nums))]}
		one, err := Encode(&Ack{Deltas: []NodeDelta{{ID: "x", Records: []Record{r}}}})
		if err != nil {
			t.Fatal(err)
		}
		none, _ := Encode(&Ack{Deltas: []NodeDelta{{ID: "x", Records: []Record{}}}})
		if got, want := len(one)-len(none), recordSize(&r); got != want {
			t.Fatalf("record %d key, %d value, v%d: encoded %d, sized %d", len(r.Key), len(r.Value), r.Version, got, want)
		}
		withE, _ := Encode(&Syn{Digest: []DigestEntry{e}})
		without, _ := Encode(&Syn{Digest: []DigestEntry{}})
		if got, want := len(withE)-len(without), entrySize(&e); got != want {
			t.Fatalf("entry: encoded %d, sized %d", got, want)
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
func normalize(m Message) Message {
	b, _ := Encode(m)
	m2, _ := Decode(b)
	return m2
}
