package node

import (
	"fmt"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/transport"
	"github.com/leviathan-gossip/leviathan/sync/wire"
)

// TestStreamGuardMeetsAJoiner: a seed that answers a joiner's ask has the
// joiner in its stream guard's snapshot at once, even right after a miss
// on it, so that the member list (a stream, in a cluster of any size) is
// not refused until a rebuild the misses allow.
func TestStreamGuardMeetsAJoiner(t *testing.T) {
	a := startNode(t, fastConfig("a"))
	const joiner = "127.0.0.1:9"
	if a.guard.allow(joiner) {
		t.Fatal("an unknown address allowed")
	}
	req, err := wire.Encode(&lsync.Members{Cluster: "test", From: "j", Request: true,
		Members: []lsync.DigestEntry{{ID: "j", Addr: joiner, Generation: 1, Heartbeat: 1 << 32}}})
	if err != nil {
		t.Fatal(err)
	}
	a.handleWith(transport.Packet{From: joiner, Data: req}, a.lockForStep)
	if _, ok := a.guard.snap.Load().set[joiner]; !ok {
		t.Fatal("the joiner it answered is not in the snapshot")
	}
}

// TestDataLaneHoldsABurstOfDatagrams: the data lane is bounded in bytes,
// so a burst of small datagrams (a cold start's asks and hellos) waits
// for the data loop rather than being dropped past a few messages.
func TestDataLaneHoldsABurstOfDatagrams(t *testing.T) {
	a := startNode(t, fastConfig("a"))
	at := newAttacker(t, a.Addr(), nil)
	const burst = 300
	a.mu.Lock() // the data loop waits: everything queues
	for i := range burst {
		id := fmt.Sprintf("h%03d", i)
		at.sendMsg("hello", &lsync.Members{Cluster: "test", From: id, Up: 1,
			Members: []lsync.DigestEntry{{ID: id, Addr: at.addr(), Generation: 1, Heartbeat: 1 << 32}}})
	}
	deadline := time.Now().Add(10 * time.Second)
	// The data loop holds what it took at once (up to pushesAtOnce),
	// waiting for the lock; the rest waits in the lane.
	for len(a.dataIn)+pushesAtOnce+int(a.counters.dataDropped.Load()) < burst && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling the receive loop, bounded by the deadline
	}
	queued, dropped := len(a.dataIn), a.counters.dataDropped.Load()
	a.mu.Unlock()
	if dropped > 0 || queued+pushesAtOnce < burst {
		t.Fatalf("%d of %d small datagrams queued, %d dropped", queued, burst, dropped)
	}
}

// TestDataLaneShedsStaleMessages: an exchange's message that waited more
// than half a round in the lane is dropped and counted, and one that did
// not is handled, so that a node behind answers its peers' current digests
// rather than old ones; a member list is never shed, however long it
// waited (it is sent once), nor a reply that came on the stream path (the
// next chunk would be a gap without it).
func TestDataLaneShedsStaleMessages(t *testing.T) {
	round := fastConfig("a").GossipVal
	entry := []lsync.DigestEntry{{ID: "h", Addr: "127.0.0.1:9", Generation: 1, Heartbeat: 1 << 32}}
	syn := &lsync.Syn{Cluster: "test", From: "h", Digest: entry}
	members := &lsync.Members{Cluster: "test", From: "h", Up: 1, Members: entry}
	small := &lsync.SynAck{Cluster: "test", From: "h", Digest: entry}
	recs := make([]lsync.Record, 40)
	for i := range recs {
		recs[i] = lsync.Record{Key: fmt.Sprint("k", i), Value: make([]byte, 100), Version: uint64(i + 1)}
	}
	streamed := &lsync.SynAck{Cluster: "test", From: "h", Digest: entry,
		Deltas: []lsync.NodeDelta{{ID: "h", Generation: 1, To: 40, Clean: 40, Records: recs}}}
	tests := []struct {
		name   string
		msg    lsync.Message
		waited time.Duration
		stale  uint64
	}{
		{"fresh", syn, 0, 0},
		{"under half a round", syn, round / 4, 0},
		{"over half a round", syn, round/2 + time.Millisecond, 1},
		{"a member list over half a round", members, round, 0},
		{"a reply in a datagram over half a round", small, round/2 + time.Millisecond, 1},
		{"a reply on the stream path over half a round", streamed, round, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := startNode(t, fastConfig("a"))
			msg, err := wire.Encode(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			handled := func() uint64 { return a.counters.in.msgs[tc.msg.Type()].Load() }
			before := handled()
			a.dataBytes.Add(int64(len(msg)))
			a.dataIn <- queued{transport.Packet{From: "127.0.0.1:9", Data: msg}, a.clock.Now().Add(-tc.waited)}
			deadline := time.Now().Add(10 * time.Second)
			for a.counters.dataStale.Load() == 0 && handled() == before && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond) // polling the data loop, bounded by the deadline
			}
			if got := a.counters.dataStale.Load(); got != tc.stale {
				t.Fatalf("stale drops %d, want %d", got, tc.stale)
			}
			if got, want := handled()-before, 1-tc.stale; got != want {
				t.Fatalf("handled %d, want %d", got, want)
			}
		})
	}
}
