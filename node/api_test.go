package node

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestValuesCopiedAtTheBoundary: the node keeps no slice a caller gave it
// and hands out none of its own, through Set, SetMany, Get and
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

// TestReadErrors: every read tells a peer never heard of
// (ErrUnknownPeer) from a key missing or deleted (ErrNotFound), and the
// deprecated wrappers answer as Get does.
func TestReadErrors(t *testing.T) {
	ctx := context.Background()
	nodes := memCluster(t, 2, nil)
	for _, k := range []string{"greeting", "gone"} {
		if _, err := nodes[1].Set(ctx, k, []byte("hi")); err != nil {
			t.Fatal(err)
		}
	}
	deleted, err := nodes[1].Delete(ctx, "gone")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if p, _ := peerOf(nodes[0], "m1"); p.MaxVersion < deleted {
			return fmt.Errorf("m0 holds m1 up to version %d, want the delete's %d", p.MaxVersion, deleted)
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
		{"m1", "gone", ErrNotFound, 0},
		{"peer9", "greeting", ErrUnknownPeer, 0},
		{"self", "nothing", ErrNotFound, 0},
		{"", "nothing", ErrNotFound, 0},
	} {
		e, err := nodes[0].Get(ctx, tt.peer, tt.key)
		if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("Get(%q, %q) error %v, want %v", tt.peer, tt.key, err, tt.want)
		}
		if e.Version != tt.version {
			t.Errorf("Get(%q, %q) version %d, want %d", tt.peer, tt.key, e.Version, tt.version)
		}
		if le, lerr := nodes[0].Lookup(tt.peer, tt.key); le.Version != e.Version || !errors.Is(lerr, tt.want) {
			t.Errorf("Lookup(%q, %q) = %d, %v; Get gave %d, %v", tt.peer, tt.key, le.Version, lerr, e.Version, err)
		}
		if v, ok := nodes[0].Version(tt.peer, tt.key); v != e.Version || ok != (err == nil) {
			t.Errorf("Version(%q, %q) = %d, %v; Get gave %d, %v", tt.peer, tt.key, v, ok, e.Version, err)
		}
	}
	keys, err := nodes[0].Keys(ctx, "m1")
	if err != nil || len(keys) != 1 || keys[0] != "greeting" {
		t.Errorf("Keys(m1) = %v, %v; want [greeting]", keys, err)
	}
	if keys, err := nodes[0].Keys(ctx, "peer9"); !errors.Is(err, ErrUnknownPeer) || keys != nil {
		t.Errorf("Keys(peer9) = %v, %v; want ErrUnknownPeer", keys, err)
	}
	if err := nodes[0].Scan(ctx, "peer9", func(string, Entry) bool { return true }); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("Scan(peer9): %v, want ErrUnknownPeer", err)
	}
	if _, err := nodes[0].Changes(ctx, "peer9", Cursor{}, 0); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("Changes(peer9): %v, want ErrUnknownPeer", err)
	}
}

// TestReadsWithEndedContext: a read whose context has ended reads nothing
// and returns its error; a Scan stops within scanCheck keys of it.
func TestReadsWithEndedContext(t *testing.T) {
	n := startNode(t, fastConfig("a"))
	kvs := make([]KV, 4*scanCheck)
	for i := range kvs {
		kvs[i] = KV{Key: fmt.Sprintf("k%04d", i), Value: []byte("v")}
	}
	if _, err := n.SetMany(context.Background(), kvs); err != nil {
		t.Fatal(err)
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := n.Get(ended, "", "k0000"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get: %v, want context.Canceled", err)
	}
	if _, err := n.Keys(ended, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("Keys: %v, want context.Canceled", err)
	}
	if _, err := n.Changes(ended, "", Cursor{}, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Changes: %v, want context.Canceled", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := 0
	err := n.Scan(ctx, "", func(string, Entry) bool {
		if seen++; seen == 1 {
			cancel()
		}
		return true
	})
	if !errors.Is(err, context.Canceled) || seen > scanCheck {
		t.Errorf("Scan canceled at its first key: %v after %d keys, want context.Canceled within %d", err, seen, scanCheck)
	}
}

// TestWriteWithEndedContext: a write whose context has ended returns its
// error, writes nothing and takes no version.
func TestWriteWithEndedContext(t *testing.T) {
	n := startNode(t, fastConfig("a"))
	if _, err := n.Set(context.Background(), "there", []byte("v")); err != nil {
		t.Fatal(err)
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	before := n.Status().MaxVersion
	for _, tt := range []struct {
		name  string
		write func() error
		key   string
	}{
		{"set", func() error { _, err := n.Set(ended, "k", []byte("v")); return err }, "k"},
		{"set many", func() error { _, err := n.SetMany(ended, []KV{{"m", []byte("v")}}); return err }, "m"},
		{"delete", func() error { _, err := n.Delete(ended, "there"); return err }, ""},
	} {
		if err := tt.write(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v, want context.Canceled", tt.name, err)
		}
		if _, err := n.Get(context.Background(), "", tt.key); tt.key != "" && !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %s readable (%v) after a canceled write", tt.name, tt.key, err)
		}
	}
	if _, err := n.Get(context.Background(), "", "there"); err != nil {
		t.Errorf("canceled Delete deleted: %v", err)
	}
	if got := n.Status().MaxVersion; got != before {
		t.Errorf("max version %d after canceled writes, want %d", got, before)
	}
}

// TestWriteContextInGroupCommit: a write whose context ends while it waits
// its turn behind a commit is dropped at once; one whose context ends while
// its own batch is being persisted lands, and Set says so.
func TestWriteContextInGroupCommit(t *testing.T) {
	st := (&diskModel{}).open()
	n, err := New(fastConfig("g"), WithStore(st), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	release := st.holdNextApply()
	defer release()

	leadCtx, cancelLead := context.WithCancel(context.Background())
	defer cancelLead()
	lead := make(chan error, 1)
	go func() { _, err := n.Set(leadCtx, "persisting", []byte("v")); lead <- err }()
	eventually(t, 10*time.Second, func() error {
		if !st.held() {
			return fmt.Errorf("no Apply held yet")
		}
		return nil
	})

	queuedCtx, cancelQueued := context.WithCancel(context.Background())
	queued := make(chan error, 1)
	go func() { _, err := n.Set(queuedCtx, "queued", []byte("v")); queued <- err }()
	eventually(t, 10*time.Second, func() error {
		n.writes.mu.Lock()
		defer n.writes.mu.Unlock()
		if len(n.writes.pending) != 1 {
			return fmt.Errorf("%d writes queued, want 1", len(n.writes.pending))
		}
		return nil
	})
	cancelQueued()
	select {
	case err := <-queued:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("queued write: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("queued write still waiting after its context ended")
	}

	cancelLead() // too late: its batch is in the store's hands
	release()
	if err := <-lead; err != nil {
		t.Fatalf("write canceled while persisted: %v, want nil (it landed)", err)
	}
	ctx := context.Background()
	if _, err := n.Get(ctx, "", "persisting"); err != nil {
		t.Errorf("write canceled while persisted is not readable: %v", err)
	}
	if _, err := n.Get(ctx, "", "queued"); !errors.Is(err, ErrNotFound) {
		t.Errorf("write canceled in the queue: %v, want ErrNotFound", err)
	}
	if _, err := n.Set(ctx, "after", []byte("v")); err != nil {
		t.Errorf("write after the cancellations: %v", err)
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
	if _, err := n.Get(context.Background(), "", "k"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if _, err := n.Keys(context.Background(), ""); !errors.Is(err, ErrClosed) {
		t.Errorf("Keys after Close: %v, want ErrClosed", err)
	}
	if err := n.Scan(context.Background(), "", func(string, Entry) bool { return true }); !errors.Is(err, ErrClosed) {
		t.Errorf("Scan after Close: %v, want ErrClosed", err)
	}
	if _, err := n.Changes(context.Background(), "", Cursor{}, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Changes after Close: %v, want ErrClosed", err)
	}
	if _, err := n.Set(context.Background(), "k", []byte("v")); !errors.Is(err, ErrClosed) {
		t.Errorf("Set after Close: %v, want ErrClosed", err)
	}
}
