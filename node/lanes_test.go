package node

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestBeatsPassAStalledPersist holds one node's store in the middle of
// persisting a peer's data. Its receive path must keep taking that peer's
// beats meanwhile: data waits in its own lane, and a node busy with its
// disk neither stops hearing its peers nor misses the beats that would
// refute a vote against it.
func TestBeatsPassAStalledPersist(t *testing.T) {
	disk := &diskModel{}
	st := disk.open()
	nodes := memCluster(t, 2, func(i int) []Option {
		if i == 0 {
			return []Option{WithStore(st)}
		}
		return nil
	})
	a, b := nodes[0], nodes[1]
	eventually(t, 10*time.Second, func() error {
		if len(a.LivePeers()) != 1 || len(b.LivePeers()) != 1 {
			return fmt.Errorf("not joined")
		}
		return nil
	})
	release := st.holdNextApply()
	defer release()
	if _, err := b.Set(context.Background(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if !st.held() {
			return fmt.Errorf("b's write has not reached a's store yet")
		}
		return nil
	})
	heard := func() uint64 {
		p, _ := peerOf(a, b.ID())
		return p.Heartbeat
	}
	before := heard()
	// b beats every 20 ms: ten beats' worth of time with the store held.
	eventually(t, 5*time.Second, func() error {
		if got := heard(); got < before+10 {
			return fmt.Errorf("a holds b at heartbeat %d, %d when its store stalled", got, before)
		}
		return nil
	})
	if !st.held() || st.durable(b.ID(), "k", 1) {
		t.Fatal("the persist finished: the test did not hold it")
	}
	release()
	eventually(t, 10*time.Second, func() error {
		if _, err := a.Get(context.Background(), b.ID(), "k"); err != nil {
			return fmt.Errorf("b's write did not land after the stall")
		}
		return nil
	})
}
