package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/sync/transport"
)

// TestSlowSubscriberDoesNotStallGossip: a subscriber that never reads
// loses events (and is told how many) while replication goes on.
func TestSlowSubscriberDoesNotStallGossip(t *testing.T) {
	net := transport.NewMemNetwork(2)
	var nodes []*Node
	for i := 0; i < 2; i++ {
		tr, err := net.Listen(fmt.Sprintf("m%d:1", i), 1400, 4<<20)
		if err != nil {
			t.Fatal(err)
		}
		cfg := fastConfig(fmt.Sprintf("m%d", i))
		cfg.Seeds = []string{"m0:1"}
		nodes = append(nodes, startNode(t, cfg, WithTransport(tr)))
	}
	stuck := nodes[1].Subscribe(1) // never read
	live := nodes[1].Subscribe(1000)
	var last uint64
	for i := 0; i < 50; i++ {
		v, err := nodes[0].Set(context.Background(), fmt.Sprint("k", i), []byte("v"))
		if err != nil {
			t.Fatal(err)
		}
		last = v
		eventually(t, 10*time.Second, func() error { return converged(nodes, "m0", fmt.Sprint("k", i), v) })
	}
	if e, _ := nodes[1].Get(context.Background(), "m0", "k49"); e.Version != last {
		t.Fatalf("replication stalled at %d, want %d", e.Version, last)
	}
	got := 0
	for got < 50 {
		select {
		case ev := <-live.C:
			if ev.Type == EventUpdates {
				got += len(ev.Deltas)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("live subscriber got %d of 50 updates", got)
		}
	}
	stuck.Close()
	first := <-stuck.C // the one buffered event, then closed
	if first.Type == 0 {
		t.Fatal("stuck subscriber had nothing buffered")
	}
	if _, open := <-stuck.C; open {
		t.Fatal("closed subscription still open")
	}
}

// TestUpdatesAreDurableWhenAnnounced: when an update event arrives, the
// store has already returned from applying the delta. The store is watched
// at the moment of the event, not after a Close that would flush anyway.
func TestUpdatesAreDurableWhenAnnounced(t *testing.T) {
	net := transport.NewMemNetwork(3)
	tr0, _ := net.Listen("a:1", 1400, 4<<20)
	tr1, _ := net.Listen("b:1", 1400, 4<<20)
	cfg0, cfg1 := fastConfig("a"), fastConfig("b")
	cfg0.Seeds, cfg1.Seeds = []string{"b:1"}, []string{"a:1"}
	st := (&diskModel{}).open()
	st.slow = 20 * time.Millisecond
	a := startNode(t, cfg0, WithTransport(tr0))
	b, err := New(cfg1, WithTransport(tr1), WithStore(st), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sub := b.Subscribe(64)
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{}
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("k%d", i)
		v, err := a.Set(context.Background(), k, []byte("v"))
		if err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	timeout := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case ev := <-sub.C:
			for _, d := range ev.Deltas {
				if !st.durable(d.Peer, d.Key, d.Version) {
					t.Fatalf("%s/%s@%d announced before the store applied it", d.Peer, d.Key, d.Version)
				}
				if want[d.Key] == d.Version {
					delete(want, d.Key)
				}
			}
		case <-timeout:
			t.Fatalf("updates never announced: %v", want)
		}
	}
}

// TestDeltaJSON: a delta's value is text when it can be and base64
// always, and reads back byte for byte.
func TestDeltaJSON(t *testing.T) {
	for _, tt := range []struct {
		d    Delta
		want string
	}{
		{Delta{Peer: "p", Key: "k", Value: []byte("hi"), Version: 1}, `{"peer":"p","key":"k","value":"hi","value_b64":"aGk=","version":1}`},
		{Delta{Peer: "p", Key: "b", Value: []byte{0xff, 0}, Version: 2}, `{"peer":"p","key":"b","value_b64":"/wA=","version":2}`},
		{Delta{Peer: "p", Key: "d", Version: 3, Deleted: true}, `{"peer":"p","key":"d","version":3,"deleted":true}`},
		{Delta{Peer: "p", Key: "e", Value: []byte{}, Version: 4}, `{"peer":"p","key":"e","value":"","value_b64":"","version":4}`},
	} {
		b, err := json.Marshal(tt.d)
		if err != nil || string(b) != tt.want {
			t.Errorf("%+v: %s (%v), want %s", tt.d, b, err, tt.want)
			continue
		}
		var back Delta
		if err := json.Unmarshal(b, &back); err != nil || back.Peer != tt.d.Peer || back.Key != tt.d.Key ||
			!bytes.Equal(back.Value, tt.d.Value) || back.Version != tt.d.Version || back.Deleted != tt.d.Deleted {
			t.Errorf("%s read back as %+v (%v)", b, back, err)
		}
	}
}

// TestEventsCarryTheirTime: every event says when the node published it.
func TestEventsCarryTheirTime(t *testing.T) {
	nodes := memCluster(t, 2, nil)
	sub := nodes[1].Subscribe(64)
	defer sub.Close()
	before := time.Now()
	if _, err := nodes[0].Set(context.Background(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-sub.C:
			if ev.Time.IsZero() {
				t.Fatalf("%v event without a time", ev.Type)
			}
			if ev.Type == EventUpdates {
				if ev.Time.Before(before) {
					t.Fatalf("update published at %v, before the write at %v", ev.Time, before)
				}
				return
			}
		case <-deadline:
			t.Fatal("no update event")
		}
	}
}

// TestSubscribeBoundedBytes: a subscriber that does not read loses the
// events that would make its queue hold more than its byte bound, while
// an empty queue takes even an event larger than the bound.
func TestSubscribeBoundedBytes(t *testing.T) {
	h := newHub()
	sub := h.addBounded(16, 1<<20)
	big := func(v uint64, size int) Event {
		return Event{Type: EventUpdates, Deltas: []Delta{{Peer: "p", Key: "k", Value: make([]byte, size), Version: v}}}
	}
	h.publish(big(1, 600<<10))
	h.publish(big(2, 600<<10)) // 1.2 MiB waiting: lost
	h.publish(big(3, 300<<10)) // 900 KiB waiting: taken
	got := <-sub.C
	sub.Release(got)
	if v := got.Deltas[0].Version; v != 1 || got.Missed != 0 {
		t.Fatalf("first event: version %d, missed %d", v, got.Missed)
	}
	if got = <-sub.C; got.Deltas[0].Version != 3 || got.Missed != 1 {
		t.Fatalf("second event: version %d, missed %d; want 3 and 1", got.Deltas[0].Version, got.Missed)
	}
	sub.Release(got)
	h.publish(big(4, 2<<20))
	if got = <-sub.C; got.Deltas[0].Version != 4 {
		t.Fatalf("an event over the bound did not reach an empty queue: version %d", got.Deltas[0].Version)
	}
}
