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
	for len(a.dataIn)+int(a.counters.dataDropped.Load()) < burst-1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling the receive loop, bounded by the deadline
	}
	queued, dropped := len(a.dataIn), a.counters.dataDropped.Load()
	a.mu.Unlock()
	if dropped > 0 || queued < burst-1 {
		t.Fatalf("%d of %d small datagrams queued, %d dropped", queued, burst, dropped)
	}
}
