package node

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/sync/transport"
)

// TestRemovedPeerStaysRemovedAfterRestart: a removes c, dead past its
// grace, then restarts; b, which keeps dead peers, still lists c in every
// digest. Before the fix a forgot the removal on restart and took c back
// from b's stale entry.
func TestRemovedPeerStaysRemovedAfterRestart(t *testing.T) {
	net := transport.NewMemNetwork(9)
	disk := &diskModel{}
	listen := func(addr string) transport.Transport {
		tr, err := net.Listen(addr, 1400, 4<<20)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	cfgA := fastConfig("a")
	cfgA.Seeds = []string{"b:1"}
	cfgA.DeadAfter, cfgA.DeadGrace = 300*time.Millisecond, 300*time.Millisecond
	cfgB := fastConfig("b")
	cfgB.Seeds, cfgB.KeepDeadPeers = []string{"a:1"}, true
	cfgC := fastConfig("c")
	cfgC.Seeds = []string{"a:1"}
	a := startNode(t, cfgA, WithTransport(listen("a:1")), WithStore(disk.open()))
	sub := a.Subscribe(256)
	b := startNode(t, cfgB, WithTransport(listen("b:1")))
	c := startNode(t, cfgC, WithTransport(listen("c:1")))
	eventually(t, 10*time.Second, func() error {
		if len(a.Peers()) != 2 || len(b.Peers()) != 2 {
			return fmt.Errorf("a knows %d, b %d peers", len(a.Peers()), len(b.Peers()))
		}
		return nil
	})
	c.cfg.SkipLeave = true
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, sub, EventRemove, "c")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	a = startNode(t, cfgA, WithTransport(listen("a:1")), WithStore(disk.open()))
	// b's next write reaches a in a SynAck whose digest lists c as news.
	v, err := b.Set(context.Background(), "after", []byte("restart"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error { return converged([]*Node{a}, "b", "after", v) })
	rounds := a.Status().Stats.Rounds
	eventually(t, 10*time.Second, func() error { // and a few more exchanges
		if a.Status().Stats.Rounds < rounds+5 {
			return fmt.Errorf("only %d rounds", a.Status().Stats.Rounds-rounds)
		}
		return nil
	})
	for _, p := range a.Peers() {
		if p.ID == "c" {
			t.Fatalf("removed peer c came back after a's restart: %+v", p)
		}
	}
}
