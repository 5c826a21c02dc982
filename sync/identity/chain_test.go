package identity

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// refChain computes every value of a chain as the construction is
// documented, apart from the code under test: values[i] is the value at
// index i, values[0] the secret start, values[length] the anchor.
// The start is an HMAC keyed by the key's seed.
func refChain(key *Key, id string, generation, base, length uint64) []BeatValue {
	h := sha256.New()
	h.Write([]byte("leviathan heartbeat chain v1"))
	h.Write(binary.AppendUvarint(nil, uint64(len(id))))
	h.Write([]byte(id))
	for _, u := range []uint64{generation, base, length} {
		h.Write(binary.BigEndian.AppendUint64(nil, u))
	}
	tag := h.Sum(nil)
	mac := hmac.New(sha256.New, key.priv.Seed())
	mac.Write([]byte("leviathan heartbeat chain seed v1"))
	mac.Write(tag)
	values := []BeatValue{BeatValue(mac.Sum(nil)[:BeatValueSize])}
	for i := uint64(1); i <= length; i++ {
		msg := append(append(bytes.Clone(tag), binary.BigEndian.AppendUint32(nil, uint32(i))...), values[i-1][:]...)
		sum := sha256.Sum256(msg)
		values = append(values, BeatValue(sum[:BeatValueSize]))
	}
	return values
}

func newTestChain(t testing.TB, key *Key, id string, generation, base, length uint64) *BeatChain {
	t.Helper()
	c, err := NewBeatChain(key, id, generation, base, length)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBeatChainProofs(t *testing.T) {
	key := testKey(t, 3)
	for _, length := range []uint64{1, 2, 255, 256, 257, 511, 512, 1000} {
		const base = 7<<32 | 40
		c := newTestChain(t, key, "node-1", 1767225600000, base, length)
		ref := refChain(key, "node-1", 1767225600000, base, length)
		com := c.Commitment()
		if com.Anchor != ref[length] || com.AnchorBeat != base || com.Base != base || com.Length != length || c.Last() != base+length {
			t.Fatalf("length %d: commitment %+v, want anchor %x at %d", length, com, ref[length], base)
		}
		want := func(h uint64) BeatValue { return ref[length-(h-base)] }
		// Rising order, as a node beats; then any order.
		order := make([]uint64, 0, 2*length+1)
		for h := uint64(base); h <= base+length; h++ {
			order = append(order, h)
		}
		r := rand.New(rand.NewPCG(length, 1))
		for range length {
			order = append(order, base+r.Uint64N(length+1))
		}
		for _, h := range order {
			v, err := c.Proof(h)
			if err != nil || v != want(h) {
				t.Fatalf("length %d: Proof(%d) = %x, %v; want %x", length, h, v, err, want(h))
			}
		}
		for _, h := range []uint64{0, base - 1, base + length + 1, math.MaxUint64} {
			if _, err := c.Proof(h); !errors.Is(err, ErrBeatOutOfRange) {
				t.Errorf("length %d: Proof(%d): %v, want ErrBeatOutOfRange", length, h, err)
			}
		}
		if length > 3 {
			re, err := c.Reanchor(base + 3)
			if err != nil || re.AnchorBeat != base+3 || re.Anchor != want(base+3) || re.Base != base || re.Length != length {
				t.Fatalf("length %d: Reanchor: %+v, %v", length, re, err)
			}
		}
	}
}

// The construction is part of the protocol: the same inputs must give
// the same chain in every build.
func TestBeatChainGolden(t *testing.T) {
	c := newTestChain(t, testKey(t, 3), "node-1", 1, 1<<32, 1000)
	com := c.Commitment()
	b, err := com.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	const want = "9501cf0000000100000000cd03e800c410"
	if got := hex.EncodeToString(b); !strings.HasPrefix(got, want) {
		t.Errorf("commitment %s, want prefix %s", got, want)
	}
	const anchor = "79f98e908abff9eee19ab12c4278ffad"
	if got := hex.EncodeToString(com.Anchor[:]); got != anchor {
		t.Errorf("anchor %s, want %s", got, anchor)
	}
}

// Chains of another key, node, generation, base or length share no value
// with a chain: a value revealed in one proves nothing in another.
func TestBeatChainsSeparate(t *testing.T) {
	k1, k2 := testKey(t, 3), testKey(t, 4)
	const length = 300
	chains := []*BeatChain{
		newTestChain(t, k1, "node-1", 1, 1000, length),
		newTestChain(t, k2, "node-1", 1, 1000, length),
		newTestChain(t, k1, "node-2", 1, 1000, length),
		newTestChain(t, k1, "node-1", 2, 1000, length),
		newTestChain(t, k1, "node-1", 1, 1001, length),
		newTestChain(t, k1, "node-1", 1, 1000, length+1),
	}
	seen := make(map[BeatValue]int)
	for i, c := range chains {
		for h := c.Commitment().Base; h <= c.Last(); h++ {
			v, err := c.Proof(h)
			if err != nil {
				t.Fatal(err)
			}
			if j, ok := seen[v]; ok {
				t.Fatalf("chain %d shares value %x with chain %d", i, v, j)
			}
			seen[v] = i
		}
	}
	again := newTestChain(t, k1, "node-1", 1, 1000, length)
	if again.Commitment() != chains[0].Commitment() {
		t.Error("the same key and values gave another chain")
	}
}

func TestNewBeatChainLimits(t *testing.T) {
	key := testKey(t, 3)
	for _, tc := range []struct {
		name         string
		id           string
		base, length uint64
		wantOK       bool
		wantLength   uint64
	}{
		{name: "no id", id: "", base: 1, length: 10},
		{name: "long id", id: strings.Repeat("z", MaxIDBytes+1), base: 1, length: 10},
		{name: "too long", id: "n", base: 1, length: MaxBeatChainLength + 1},
		{name: "past the largest heartbeat", id: "n", base: math.MaxUint64 - 9, length: 10},
		{name: "to the largest heartbeat", id: "n", base: math.MaxUint64 - 10, length: 10, wantOK: true, wantLength: 10},
		{name: "longest id", id: strings.Repeat("z", MaxIDBytes), base: 0, length: 1, wantOK: true, wantLength: 1},
		{name: "the default length", id: "n", base: 1, length: 0, wantOK: true, wantLength: DefaultBeatChainLength},
	} {
		c, err := NewBeatChain(key, tc.id, 1, tc.base, tc.length)
		if tc.wantOK != (err == nil) {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if err == nil && c.Commitment().Length != tc.wantLength {
			t.Errorf("%s: length %d, want %d", tc.name, c.Commitment().Length, tc.wantLength)
		}
	}
}

func TestBeatCommitmentEncoding(t *testing.T) {
	c := newTestChain(t, testKey(t, 3), "node-1", 9, 5<<32, 1000)
	reanchored, err := c.Reanchor(5<<32 + 600)
	if err != nil {
		t.Fatal(err)
	}
	for _, com := range []BeatCommitment{
		c.Commitment(),
		reanchored,
		{ID: "n", Base: 0, Length: 1, AnchorBeat: 1},
		{ID: "n", Generation: math.MaxUint64, Base: math.MaxUint64 - MaxBeatChainLength, Length: MaxBeatChainLength, AnchorBeat: math.MaxUint64},
	} {
		b, err := com.Marshal()
		if err != nil {
			t.Fatalf("%+v: %v", com, err)
		}
		if len(b) > MaxBeatCommitmentSize || MaxBeatCommitmentSize > 64 {
			t.Errorf("%d bytes, at most %d (at most 64)", len(b), MaxBeatCommitmentSize)
		}
		got, err := ParseBeatCommitment(com.ID, com.Generation, b)
		if err != nil || got != com {
			t.Errorf("parsed %+v, %v; want %+v", got, err, com)
		}
	}
	small := newTestChain(t, testKey(t, 3), "node-1", 9, 5, 1000).Commitment()
	good, err := small.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	anchor := hex.EncodeToString(small.Anchor[:])
	if want := "950105cd03e800c410" + anchor; hex.EncodeToString(good) != want {
		t.Fatalf("encoded %x, want %s", good, want)
	}
	for _, tc := range []struct{ name, hex string }{
		{"empty", ""},
		{"array of 4", "940105cd03e800c410" + anchor},
		{"array of 5 as array 16", "dc0005" + "0105cd03e800c410" + anchor},
		{"version 2", "950205cd03e800c410" + anchor},
		{"base in a longer form", "9501cc05cd03e800c410" + anchor},
		{"length in a longer form", "950105ce000003e800c410" + anchor},
		{"offset in a longer form", "950105cd03e8cc00c410" + anchor},
		{"base as a signed integer", "9501d005cd03e800c410" + anchor},
		{"length 0", "9501050000c410" + anchor},
		{"length above the limit", "950105ce0100000100c410" + anchor},
		{"anchor beyond the chain", "950105cd03e8cd03e9c410" + anchor},
		{"anchor of 15 bytes", "950105cd03e800c40f" + anchor[:30]},
		{"anchor as bin 16", "950105cd03e800c50010" + anchor},
		{"anchor as a string", "950105cd03e800b0" + anchor},
		{"anchor nil", "950105cd03e800c0"},
		{"trailing byte", hex.EncodeToString(good) + "00"},
		{"truncated", hex.EncodeToString(good[:len(good)-1])},
		{"chain past the largest heartbeat", "9501cffffffffffffffffe0200c410" + anchor},
		{"too long", hex.EncodeToString(good) + strings.Repeat("00", MaxBeatCommitmentSize)},
	} {
		b, err := hex.DecodeString(tc.hex)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if _, err := ParseBeatCommitment("node-1", 9, b); !errors.Is(err, ErrMalformedBeatChain) {
			t.Errorf("%s: %v, want ErrMalformedBeatChain", tc.name, err)
		}
	}
	for _, id := range []string{"", strings.Repeat("z", MaxIDBytes+1)} {
		if _, err := ParseBeatCommitment(id, 9, good); !errors.Is(err, ErrMalformedBeatChain) {
			t.Errorf("id of %d bytes: %v, want ErrMalformedBeatChain", len(id), err)
		}
	}
	if _, err := (&BeatCommitment{ID: "n", Length: 1, AnchorBeat: 2}).Marshal(); err == nil {
		t.Error("marshalled an anchor beyond its chain")
	}
}

// FuzzParseBeatCommitment feeds arbitrary bytes to ParseBeatCommitment,
// and what parses to a BeatCache with an arbitrary claim: nothing may
// panic, what parses must be within the limits and be its own only
// encoding, and a claim may verify only if hashing it forward reaches the
// anchor.
func FuzzParseBeatCommitment(f *testing.F) {
	key := testKey(f, 3)
	for _, c := range []*BeatChain{
		newTestChain(f, key, "node-1", 1, 5, 1000),
		newTestChain(f, key, "node-1", 1, 7<<32, 1),
		newTestChain(f, key, "node-1", 1, math.MaxUint64-300, 300),
	} {
		com := c.Commitment()
		re, err := c.Reanchor(com.Base + com.Length/2)
		if err != nil {
			f.Fatal(err)
		}
		for _, com := range []BeatCommitment{com, re} {
			b, err := com.Marshal()
			if err != nil {
				f.Fatal(err)
			}
			for _, h := range []uint64{com.AnchorBeat, com.AnchorBeat + 1, com.AnchorBeat + 40, com.Last(), com.Last() + 1} {
				v, _ := c.Proof(h)
				f.Add(b, h, v[:])
			}
			f.Add(b[:len(b)/2], uint64(0), []byte{})
		}
	}
	f.Add([]byte{}, uint64(0), []byte{})
	f.Add([]byte{0x95, 0x01}, uint64(1), []byte{})
	f.Add([]byte{0x95, 0x01, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0xc4, 0x10}, uint64(math.MaxUint64), []byte{})
	const maxSteps = 64
	f.Fuzz(func(t *testing.T, b []byte, h uint64, value []byte) {
		com, err := ParseBeatCommitment("node-1", 1, b)
		if err != nil {
			return
		}
		if len(b) > MaxBeatCommitmentSize || com.check() != nil {
			t.Fatalf("parsed out of limits: %d bytes, %+v", len(b), com)
		}
		again, err := com.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs: %v\n%x\n%x", err, b, again)
		}
		var v BeatValue
		copy(v[:], value)
		if NewBeatCache(1, maxSteps).Verify(&com, h, v) != nil {
			return
		}
		// A fresh cache knows the anchor alone: recompute the walk.
		tag := com.tag()
		if !com.Covers(h) || h-com.AnchorBeat > maxSteps || tag.walk(com.index(h), v, h-com.AnchorBeat) != com.Anchor {
			t.Fatalf("verified heartbeat %d, value %x, of %+v", h, v, com)
		}
	})
}
