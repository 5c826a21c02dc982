package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/transport"
	"github.com/leviathan-gossip/leviathan/sync/wire"
)

// attacker fires packets at one node from a socket of its own, which also
// plays a "ghost" peer to capture genuine traffic for replays.
type attacker struct {
	t      *testing.T
	udp    *net.UDPConn
	target *net.UDPAddr
	tcp    string
	kr     *transport.Keyring // seals like a member when set (only for "as member" packets)
	sent   map[string]int
}

func newAttacker(t *testing.T, target string, kr *transport.Keyring) *attacker {
	t.Helper()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	ua, err := net.ResolveUDPAddr("udp4", target)
	if err != nil {
		t.Fatal(err)
	}
	return &attacker{t: t, udp: udp, target: ua, tcp: target, kr: kr, sent: make(map[string]int)}
}

func (a *attacker) addr() string { return a.udp.LocalAddr().String() }

// send fires one datagram, as is.
func (a *attacker) send(kind string, b []byte) {
	a.t.Helper()
	if _, err := a.udp.WriteToUDP(b, a.target); err != nil {
		a.t.Fatalf("%s: %v", kind, err)
	}
	a.sent[kind]++
}

// sendMsg encodes m and, as a member would, seals it when a key is set.
func (a *attacker) sendMsg(kind string, m lsync.Message) {
	a.t.Helper()
	b, err := wire.Encode(m)
	if err != nil {
		a.t.Fatal(err)
	}
	a.send(kind, a.seal(b, a.addr()))
}

func (a *attacker) seal(b []byte, from string) []byte {
	if a.kr == nil {
		return b
	}
	return a.kr.Seal(b, from)
}

// capture waits for the next datagram of type want the target sends us.
func (a *attacker) capture(want lsync.MsgType) []byte {
	a.t.Helper()
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		a.udp.SetReadDeadline(deadline)
		n, _, err := a.udp.ReadFromUDP(buf)
		if err != nil {
			break
		}
		raw := append([]byte(nil), buf[:n]...)
		plain := raw
		if a.kr != nil {
			if plain, err = a.kr.Open(raw, a.tcp); err != nil {
				continue
			}
		}
		if typ, err := wire.PeekType(plain); err == nil && typ == want {
			return raw
		}
	}
	a.t.Fatalf("captured no %s", want)
	return nil
}

// stream opens a TCP connection, writes chunks and closes it.
func (a *attacker) stream(kind string, chunks ...[]byte) {
	a.t.Helper()
	c, err := net.DialTimeout("tcp4", a.tcp, 2*time.Second)
	if err != nil {
		a.t.Fatalf("%s: %v", kind, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	for _, ch := range chunks {
		if _, err := c.Write(ch); err != nil {
			break // the node may close first, which is the point
		}
	}
	a.sent[kind]++
}

func hello(addr string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(addr))), addr...)
}

func frame(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }

func hdr(t lsync.MsgType) []byte { return []byte{0x4c, 0x56, wire.ProtocolVersion, byte(t)} }

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// counters gathers every rejection counter of a node.
type rejections struct {
	transport.NetStats
	Stats
}

func rejectionsOf(n *Node) rejections {
	tr := n.transport
	if n.encrypted != nil {
		tr = n.encrypted.Unwrap()
	}
	return rejections{NetStats: tr.(*transport.NetTransport).Stats(), Stats: n.Status().Stats}
}

// flood fires a bounded barrage of bad input at target: every kind the
// issue lists, over UDP and TCP.
func (a *attacker) flood(target *Node, cluster string, peer Status) {
	t := a.t
	rng := rand.New(rand.NewSource(42))
	random := func(n int) []byte {
		b := make([]byte, n)
		rng.Read(b)
		return b
	}
	self := target.Status()

	// Genuine traffic first, to replay: the ghost asks for everything.
	ghostSyn := &lsync.Syn{Cluster: cluster, From: "ghost", Complete: true,
		Digest: []lsync.DigestEntry{{ID: "ghost", Addr: a.addr(), Generation: 1, Heartbeat: 1}}}
	a.sendMsg("valid syn from a ghost peer", ghostSyn)
	synAck := a.capture(lsync.MsgSynAck)

	// 1. Random bytes of every size up to a datagram.
	for i := 0; i < 600; i++ {
		a.send("random bytes", random(1+rng.Intn(1400)))
	}
	// 2. A valid header (each type) over random bytes.
	for i := 0; i < 400; i++ {
		a.send("valid header, random body", append(hdr(lsync.MsgType(1+i%4)), random(rng.Intn(1400))...))
	}
	// 3. Foreign, future and unknown headers.
	for i := 0; i < 50; i++ {
		a.send("bad magic/version/type", join([]byte{'G', 'E'}, random(40)))
		a.send("bad magic/version/type", join([]byte{0x4c, 0x56, 99, 1}, random(40)))
		a.send("bad magic/version/type", join([]byte{0x4c, 0x56, wire.ProtocolVersion, 77}, random(40)))
	}
	// 4. Truncations and bit flips of a genuine message (sealed or not).
	plainSynAck := synAck
	if a.kr != nil {
		var err error
		if plainSynAck, err = a.kr.Open(synAck, a.tcp); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < len(plainSynAck) && i < 400; i++ {
		a.send("truncated msgpack", a.seal(plainSynAck[:i], a.addr()))
	}
	if a.kr != nil {
		// Without a key a modified message is indistinguishable from a
		// member's (see the README's trust model): a flipped bit in a
		// relayed heartbeat or version range is believed. With a key,
		// GCM rejects every one.
		for i := 0; i < 300; i++ {
			b := bytes.Clone(synAck)
			b[rng.Intn(len(b))] ^= byte(1 + rng.Intn(255))
			a.send("bit-flipped genuine message", b)
		}
	}
	// 5. Oversized: datagrams far over the MTU, and declared sizes of GBs.
	huge := []byte{0xff, 0xff, 0xff, 0xf0}
	ack := join(hdr(lsync.MsgAck), []byte{0x93, byte(0xa0 | len(cluster))}, []byte(cluster), []byte{0xa1, 'x'})
	oneRec := []byte{0x91, 0x95, 0xa1, 'y', 1, 0, 1, 0x91, 0x94, 0xa1, 'k'}
	for i := 0; i < 20; i++ {
		a.send("oversized datagram", append(hdr(lsync.MsgSynAck), random(60000)...))
		a.send("absurd count: array32 of 4G deltas", a.seal(join(ack, []byte{0xdd}, huge, random(100)), a.addr()))
		a.send("absurd count: array32 of 4G records", a.seal(join(ack, oneRec[:7], []byte{0xdd}, huge, random(100)), a.addr()))
		a.send("absurd size: bin32 value of 4 GB", a.seal(join(ack, oneRec, []byte{0xc6}, huge, random(100)), a.addr()))
		a.send("absurd size: str32 cluster of 4 GB", a.seal(join(hdr(lsync.MsgSyn), []byte{0x94, 0xdb}, huge, random(100)), a.addr()))
		a.send("absurd count: digest of 4G entries", a.seal(join(hdr(lsync.MsgSyn), []byte{0x94, 0xa1, 'c', 0xa1, 'x', 0xc3, 0xdd}, huge), a.addr()))
		a.send("unknown field nested 1000 deep", a.seal(join(ack[:4], []byte{0x94}, ack[5:], []byte{0x90}, bytes.Repeat([]byte{0x91}, 1000), []byte{0xc0}), a.addr()))
	}
	// 6. Replays of genuine messages, from the sender and from elsewhere.
	for i := 0; i < 200; i++ {
		a.send("replayed synack (the node's own message)", synAck)
		a.sendMsg("replayed syn of the ghost", ghostSyn)
	}
	// 7. Another cluster.
	for i := 0; i < 200; i++ {
		a.sendMsg("syn from another cluster", &lsync.Syn{Cluster: "intruders", From: "spy", Digest: []lsync.DigestEntry{{ID: "spy", Addr: a.addr(), Generation: 1}}})
		a.sendMsg("ack from another cluster", &lsync.Ack{Cluster: "intruders", From: "spy", Deltas: []lsync.NodeDelta{{ID: "spy", Generation: 1, To: 1, Records: []lsync.Record{{Key: "k", Value: []byte("v"), Version: 1}}}}})
	}
	// 8. Claims to be the target itself: its keys, its heartbeat, its generation.
	for i := 0; i < 200; i++ {
		a.sendMsg("deltas claiming the node's own id", &lsync.Ack{Cluster: cluster, From: self.ID, Deltas: []lsync.NodeDelta{{
			ID: self.ID, Generation: self.Generation + uint64(i%2), From: 0, To: self.MaxVersion + 1000,
			Records: []lsync.Record{{Key: "mine", Value: []byte("forged"), Version: self.MaxVersion + 999}},
		}}})
		a.sendMsg("digest claiming the node's own id", &lsync.Syn{Cluster: cluster, From: self.ID, Digest: []lsync.DigestEntry{{
			ID: self.ID, Addr: a.addr(), Generation: self.Generation + 1, Heartbeat: 1 << 62, MaxVersion: 1 << 40,
		}}})
		// A peer's deltas relayed with a gap, out of order, or of an
		// older generation.
		a.sendMsg("gap, unordered and stale-generation deltas", &lsync.Ack{Cluster: cluster, From: "ghost", Deltas: []lsync.NodeDelta{
			{ID: peer.ID, Generation: peer.Generation, From: 1 << 50, To: 1<<50 + 2, Records: []lsync.Record{{Key: "theirs", Version: 1<<50 + 1}}},
			{ID: "ghost", Generation: 1, From: 0, To: 5, Records: []lsync.Record{{Key: "a", Version: 4}, {Key: "b", Version: 3}}},
			{ID: peer.ID, Generation: peer.Generation - 1, From: 0, To: 1 << 50, Records: []lsync.Record{{Key: "theirs", Version: 1 << 50}}},
		}})
		// A generation far in the future would make the node drop the
		// peer's data and refuse its real generation for ever.
		a.sendMsg("peer generation far in the future", &lsync.SynAck{Cluster: cluster, From: "ghost",
			Digest: []lsync.DigestEntry{{ID: peer.ID, Addr: peer.Addr, Generation: 1 << 62, Heartbeat: 1 << 62}},
			Deltas: []lsync.NodeDelta{{ID: peer.ID, Generation: 1 << 62, From: 0, To: 1,
				Records: []lsync.Record{{Key: "theirs", Value: []byte("forged"), Version: 1}}}}})
	}
	// 9. Stream path: bad hellos, absurd frame lengths, garbage frames.
	plainGarbage := join(hdr(lsync.MsgAck), random(5000))
	for i := 0; i < 10; i++ {
		a.stream("tcp: hello of length 0", []byte{0, 0}, random(10))
		a.stream("tcp: hello of length 65535", []byte{0xff, 0xff}, random(100))
		a.stream("tcp: hello not an address", hello("not an address"), frame(random(10)))
		a.stream("tcp: frame of 4 GB", hello(a.addr()), []byte{0xff, 0xff, 0xff, 0xff}, random(1000))
		a.stream("tcp: frame of 0 bytes", hello(a.addr()), []byte{0, 0, 0, 0})
		a.stream("tcp: frame of garbage", hello(a.addr()), frame(a.seal(plainGarbage, a.addr())))
		a.stream("tcp: truncated frame", hello(a.addr()), []byte{0, 0, 0x10, 0}, random(100))
		a.stream("tcp: random bytes", random(2000))
		a.stream("tcp: hello claiming the node's address", hello(a.tcp), frame(synAck))
		a.stream("tcp: absurd counts and sizes in valid frames", hello(a.addr()),
			frame(a.seal(join(ack, []byte{0xdd}, huge, random(100)), a.addr())),
			frame(a.seal(join(ack, oneRec, []byte{0xc6}, huge, random(100)), a.addr())),
			frame(a.seal(join(ack[:4], []byte{0x94}, ack[5:], []byte{0x90}, bytes.Repeat([]byte{0x91}, 100000), []byte{0xc0}), a.addr())))
	}
}

func startHostileCluster(t *testing.T, keys []string) (a, b *Node, dirA string) {
	t.Helper()
	dirA = t.TempDir()
	cfg := fastConfig("ha")
	cfg.Port = 0
	cfg.InMemory, cfg.DataDir = false, dirA
	cfg.EncryptKeys = keys
	a = startNode(t, cfg)
	cfg = fastConfig("hb")
	cfg.Port = 0
	cfg.Seeds = []string{a.Addr()}
	cfg.EncryptKeys = keys
	b = startNode(t, cfg)
	return a, b, dirA
}

func testHostile(t *testing.T, keys []string) {
	a, b, dirA := startHostileCluster(t, keys)
	vMine, err := a.Set(context.Background(), "mine", []byte("precious"))
	if err != nil {
		t.Fatal(err)
	}
	vTheirs, err := b.Set(context.Background(), "theirs", []byte("also precious"))
	if err != nil {
		t.Fatal(err)
	}
	nodes := []*Node{a, b}
	eventually(t, 10*time.Second, func() error { return converged(nodes, "ha", "mine", vMine) })
	eventually(t, 10*time.Second, func() error { return converged(nodes, "hb", "theirs", vTheirs) })

	var kr *transport.Keyring
	if len(keys) > 0 {
		k, _ := base64.StdEncoding.DecodeString(keys[0])
		kr, _ = transport.NewKeyring(k)
	}
	before := rejectionsOf(a)
	selfBefore := a.Status()
	at := newAttacker(t, a.Addr(), kr)
	start := time.Now()
	at.flood(a, "test", b.Status())
	total := 0
	for _, n := range at.sent {
		total += n
	}
	t.Logf("fired %d bad packets in %v", total, time.Since(start).Round(time.Millisecond))

	// The node still gossips both ways, after (and despite) the barrage.
	v2, err := b.Set(context.Background(), "after", []byte("flood"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, func() error { return converged(nodes, "hb", "after", v2) })
	v3, err := a.Set(context.Background(), "after-a", []byte("flood"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, func() error { return converged(nodes, "ha", "after-a", v3) })

	// What was there is intact, and nothing forged got in.
	if got, _ := a.Get(context.Background(), "", "mine"); string(got.Value) != "precious" || got.Version != vMine {
		t.Fatalf("own key is now %q v%d, was v%d", got.Value, got.Version, vMine)
	}
	if got, _ := a.Get(context.Background(), "hb", "theirs"); string(got.Value) != "also precious" {
		t.Fatalf("peer key is now %q", got.Value)
	}
	if got, err := a.Get(context.Background(), "spy", "k"); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("a write from another cluster got in: %q (%v)", got.Value, err)
	}
	self := a.Status()
	// A forged entry claiming generation+1 for a is refuted: a
	// takes max(now, claimed+1), its data intact (checked above), and is
	// not pushed further than that.
	genOK := self.Generation >= selfBefore.Generation &&
		self.Generation <= max(selfBefore.Generation+2, uint64(time.Now().UnixMilli()))
	if !genOK || self.MaxVersion != v3 || self.Boot >= 1<<30 {
		t.Fatalf("own identity changed: generation %d→%d, max version %d, boot %d",
			selfBefore.Generation, self.Generation, self.MaxVersion, self.Boot)
	}

	// Every kind of rejection was counted.
	after := rejectionsOf(a)
	t.Logf("counters rose: decode_errors +%d, rejected_deltas +%d, bad_cluster +%d, future_generations +%d, unauthenticated +%d, bad_frames +%d, recv_dropped +%d",
		after.DecodeErrors-before.DecodeErrors, after.RejectedDeltas-before.RejectedDeltas, after.BadCluster-before.BadCluster,
		after.FutureGenerations-before.FutureGenerations, after.Unauthenticated-before.Unauthenticated,
		after.BadFrames-before.BadFrames, after.RecvDropped-before.RecvDropped)
	rose := func(name string, was, now uint64) {
		t.Helper()
		if now <= was {
			t.Errorf("%s did not rise (%d → %d)", name, was, now)
		}
	}
	rose("bad_frames", before.BadFrames, after.BadFrames)
	rose("rejected_deltas", before.RejectedDeltas, after.RejectedDeltas)
	// A barrage overfills the data lane, which drops what it cannot hold
	// (counted as data_lane_full): a kind of message sent in one block may
	// be dropped whole. These are sent again, one at a time, until counted.
	untilRose := func(name string, was uint64, read func(rejections) uint64, m lsync.Message) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for read(rejectionsOf(a)) <= was {
			if time.Now().After(deadline) {
				t.Errorf("%s did not rise (%d)", name, was)
				return
			}
			at.sendMsg(name, m)
			time.Sleep(20 * time.Millisecond) // pacing the resends, bounded by the deadline
		}
	}
	untilRose("bad_cluster", before.BadCluster, func(r rejections) uint64 { return r.BadCluster },
		&lsync.Syn{Cluster: "intruders", From: "spy", Digest: []lsync.DigestEntry{{ID: "spy", Addr: at.addr(), Generation: 1}}})
	bs := b.Status()
	untilRose("future_generations", before.FutureGenerations, func(r rejections) uint64 { return r.FutureGenerations },
		&lsync.SynAck{Cluster: "test", From: "ghost", Digest: []lsync.DigestEntry{{ID: bs.ID, Addr: bs.Addr, Generation: 1 << 62, Heartbeat: 1 << 62}}})
	if kr == nil {
		rose("decode_errors", before.DecodeErrors, after.DecodeErrors)
	} else {
		rose("unauthenticated", before.Unauthenticated, after.Unauthenticated)
		// Sealed garbage still reaches the decoder and is rejected there.
		rose("decode_errors", before.DecodeErrors, after.DecodeErrors)
	}
	kinds := make([]string, 0, len(at.sent))
	for k := range at.sent {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var sb strings.Builder
	for _, k := range kinds {
		fmt.Fprintf(&sb, "\n  %5d × %s", at.sent[k], k)
	}
	t.Logf("sent:%s", sb.String())

	// The store is intact too: a restart from the data directory finds both
	// nodes' keys at the versions they had.
	_, port, _ := net.SplitHostPort(a.Addr())
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig("ha")
	cfg.InMemory, cfg.DataDir = false, dirA
	cfg.Port, _ = strconv.Atoi(port)
	cfg.EncryptKeys = keys
	back := startNode(t, cfg)
	for _, c := range []struct {
		peer, key, val string
		v              uint64
	}{{"", "mine", "precious", vMine}, {"", "after-a", "flood", v3}, {"hb", "theirs", "also precious", vTheirs}, {"hb", "after", "flood", v2}} {
		got, _ := back.Get(context.Background(), c.peer, c.key)
		if string(got.Value) != c.val || got.Version != c.v {
			t.Errorf("after restart %s/%s = %q v%d, want %q v%d", c.peer, c.key, got.Value, got.Version, c.val, c.v)
		}
	}
}

// TestHostileInput fires a bounded barrage of bad packets at a live node's
// real sockets and checks that it still gossips, its store is intact and
// its rejection counters rose.
func TestHostileInput(t *testing.T) { testHostile(t, nil) }

// TestHostileInputEncrypted does the same to an encrypted cluster: nothing
// unauthenticated gets past the envelope, and what a member seals is still
// checked by the decoder and the core.
func TestHostileInputEncrypted(t *testing.T) {
	testHostile(t, []string{base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))})
}
