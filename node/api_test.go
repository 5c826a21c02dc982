package node

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestValuesCopiedAtTheBoundary: the node keeps no slice a caller gave it
// and hands out none of its own, through Set, SetMany, Get, Lookup and
// event deltas.
func TestValuesCopiedAtTheBoundary(t *testing.T) {
	nodes := memCluster(t, 2, nil)
	a, b := nodes[0], nodes[1]
	sub := b.Subscribe(64)
	defer sub.Close()

	buf := []byte("hello")
	if _, err := a.Set(context.Background(), "k", buf); err != nil {
		t.Fatal(err)
	}
	many := []KV{{Key: "m", Value: []byte("many")}}
	if _, err := a.SetMany(context.Background(), many); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXX") // the caller reuses its buffers
	copy(many[0].Value, "YYYY")

	got, _ := a.Get(context.Background(), "", "k")
	got.Value[0] = 'J' // the reader scribbles on what it got
	e, err := a.Get(context.Background(), "self", "k")
	if err != nil {
		t.Fatal(err)
	}
	e.Value[1] = 'U'
	for _, tt := range []struct{ key, want string }{{"k", "hello"}, {"m", "many"}} {
		if e, _ := a.Get(context.Background(), "", tt.key); string(e.Value) != tt.want {
			t.Errorf("a's %s = %q after callers changed their slices, want %q", tt.key, e.Value, tt.want)
		}
	}

	// b's subscriber scribbles on the delta it is given; b's copy stays.
	deadline := time.After(10 * time.Second)
	for seen := false; !seen; {
		select {
		case ev := <-sub.C:
			for _, d := range ev.Deltas {
				if d.Key == "k" {
					d.Value[0] = 'Z'
					seen = true
				}
			}
		case <-deadline:
			t.Fatal("no update for k reached b")
		}
	}
	if e, _ := b.Get(context.Background(), "m0", "k"); string(e.Value) != "hello" {
		t.Errorf("b's copy of m0/k = %q after a subscriber changed its delta", e.Value)
	}
}

// TestLookupTellsUnknownPeerFromMissingKey: Get says only "not found";
// Lookup says which.
func TestLookupTellsUnknownPeerFromMissingKey(t *testing.T) {
	nodes := memCluster(t, 2, nil)
	if _, err := nodes[1].Set(context.Background(), "greeting", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if _, err := nodes[0].Get(context.Background(), "m1", "greeting"); err != nil {
			return fmt.Errorf("m1/greeting not at m0 yet")
		}
		return nil
	})
	for _, tt := range []struct {
		peer, key string
		want      error
		version   uint64
	}{
		{"m1", "greeting", nil, 1},
		{"m1", "nothing", ErrNotFound, 0},
		{"peer9", "greeting", ErrUnknownPeer, 0},
		{"self", "nothing", ErrNotFound, 0},
		{"", "nothing", ErrNotFound, 0},
	} {
		e, err := nodes[0].Get(context.Background(), tt.peer, tt.key)
		if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("Lookup(%q, %q) error %v, want %v", tt.peer, tt.key, err, tt.want)
		}
		if e.Version != tt.version {
			t.Errorf("Lookup(%q, %q) version %d, want %d", tt.peer, tt.key, e.Version, tt.version)
		}
	}
}

// TestReadsAfterCloseAreErrClosed: reads that reach the store after Close
// fail with the node's ErrClosed, not the store's error.
func TestReadsAfterCloseAreErrClosed(t *testing.T) {
	n := startNode(t, fastConfig("a"))
	if _, err := n.Set(context.Background(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Lookup("", "k"); !errors.Is(err, ErrClosed) {
		t.Errorf("Lookup after Close: %v, want ErrClosed", err)
	}
	if err := n.Scan(context.Background(), "", func(string, Entry) bool { return true }); !errors.Is(err, ErrClosed) {
		t.Errorf("Scan after Close: %v, want ErrClosed", err)
	}
	if _, err := n.Changes(context.Background(), "", Cursor{}, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Changes after Close: %v, want ErrClosed", err)
	}
}
