package node

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestChangesFeedsAConsumer: a consumer that follows a peer's changefeed
// from its stored cursor ends with exactly the peer's live keys, deletes
// included, reading each change once.
func TestChangesFeedsAConsumer(t *testing.T) {
	nodes := memCluster(t, 2, nil)
	owner, reader := nodes[0], nodes[1]
	held := map[string]string{}
	var cur Cursor
	consume := func() {
		for range 1000 {
			p, err := reader.Changes(context.Background(), owner.ID(), cur, 7)
			if err != nil {
				t.Fatalf("Changes from %+v: %v", cur, err)
			}
			for _, d := range p.Deltas {
				if d.Version <= cur.Version {
					t.Fatalf("delta %s at %d read again (cursor %d)", d.Key, d.Version, cur.Version)
				}
				if d.Deleted {
					delete(held, d.Key)
				} else {
					held[d.Key] = string(d.Value)
				}
			}
			cur = p.Next
			if !p.More {
				return
			}
		}
		t.Fatal("changefeed never ended")
	}
	var last uint64
	for i := range 30 {
		v, err := owner.Set(context.Background(), fmt.Sprintf("k%02d", i%20), []byte(fmt.Sprint("v", i)))
		if err != nil {
			t.Fatal(err)
		}
		last = v
	}
	for _, k := range []string{"k03", "k17"} {
		if last, _ = owner.Delete(context.Background(), k); last == 0 {
			t.Fatal("delete failed")
		}
	}
	eventually(t, 10*time.Second, func() error {
		for _, p := range reader.Peers() {
			if p.ID == owner.ID() && p.MaxVersion == last {
				return nil
			}
		}
		return fmt.Errorf("reader not at version %d of %s yet", last, owner.ID())
	})
	consume()
	if len(held) != 18 || held["k05"] != "v25" || held["k03"] != "" {
		t.Fatalf("consumer holds %d keys: %v", len(held), held)
	}
	if cur.Version != last {
		t.Fatalf("cursor at %d, want %d", cur.Version, last)
	}
	// Nothing new: an empty page at the same cursor.
	if p, err := reader.Changes(context.Background(), owner.ID(), cur, 0); err != nil || len(p.Deltas) != 0 || p.Next != cur {
		t.Fatalf("idle page %+v, %v", p, err)
	}
	// Its own feed, through "self", matches what the owner holds.
	p, err := owner.Changes(context.Background(), "self", Cursor{}, 0)
	if err != nil || len(p.Deltas) != 20 {
		t.Fatalf("own feed: %d deltas, %v", len(p.Deltas), err)
	}
	if _, err := reader.Changes(context.Background(), "nobody", Cursor{}, 0); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("unknown peer: %v", err)
	}
	if _, err := reader.Changes(context.Background(), owner.ID(), Cursor{Generation: cur.Generation + 1}, 0); !errors.Is(err, ErrGenerationChanged) {
		t.Fatalf("cursor of another generation: %v", err)
	}
}
