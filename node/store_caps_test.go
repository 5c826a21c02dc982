package node

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/leviathan-gossip/leviathan/store"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// coreStore has only what Store requires, forwarded to an in-memory Badger
// held in a named field, so that none of Badger's other methods leak in.
type coreStore struct{ db *store.Badger }

func newCoreStore(t *testing.T) coreStore {
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	return coreStore{db}
}

func (s coreStore) Boot(id string, gen uint64) (store.SelfInfo, error) { return s.db.Boot(id, gen) }
func (s coreStore) Apply(b *lsync.Batch) error                         { return s.db.Apply(b) }
func (s coreStore) Load(fn func(lsync.PeerMeta, []lsync.Record) error) error {
	return s.db.Load(fn)
}
func (s coreStore) Close() error { return s.db.Close() }

// feedStore adds the changefeed and nothing else.
type feedStore struct{ coreStore }

func (s feedStore) Changes(peer string, cur store.Cursor, limit int) (store.Page, error) {
	return s.db.Changes(peer, cur, limit)
}

// halfReadStore has Scan and Get but neither LoadMeta nor Counts: meant
// to be read from, it would otherwise be quietly kept in memory.
type halfReadStore struct{ coreStore }

func (s halfReadStore) Scan(view lsync.PeerMeta, after uint64, fn func(*lsync.Record) bool) (uint64, error) {
	return s.db.Scan(view, after, fn)
}
func (s halfReadStore) Get(peer, key string) (lsync.Record, bool, error) { return s.db.Get(peer, key) }

// uncountedStore can be read from but does not count what it holds,
// which every surface's keys are.
type uncountedStore struct{ halfReadStore }

func (s uncountedStore) LoadMeta(fn func(lsync.PeerMeta) error) error { return s.db.LoadMeta(fn) }

// oddGCStore has a GC of another signature: not the capability.
type oddGCStore struct{ coreStore }

func (oddGCStore) GC() {}

func allCapabilities() []Capability {
	var all []Capability
	for _, c := range capabilities {
		all = append(all, c.name)
	}
	return all
}

// TestStoreCapabilities: New takes a store with whole capabilities, turns
// off what it lacks (Changes then says ErrNoChangefeed), refuses one with
// part of a capability naming what is missing, and finds every capability
// in the default Badger store and in a wrapper embedding it.
func TestStoreCapabilities(t *testing.T) {
	cases := []struct {
		name  string
		store func(t *testing.T) Store // nil: the default Badger
		want  []Capability
		err   []string // the refusal names these
	}{
		{name: "default badger", want: allCapabilities()},
		{name: "embeds badger", store: func(*testing.T) Store { return (&diskModel{}).open() }, want: allCapabilities()},
		{name: "core only", store: func(t *testing.T) Store { return newCoreStore(t) }},
		{name: "changefeed only", store: func(t *testing.T) Store { return feedStore{newCoreStore(t)} }, want: []Capability{CapChangefeed}},
		{name: "GC of another type", store: func(t *testing.T) Store { return oddGCStore{newCoreStore(t)} }},
		{name: "reads without LoadMeta", store: func(t *testing.T) Store { return halfReadStore{newCoreStore(t)} },
			err: []string{"halfReadStore", "LoadMeta", string(CapReads)}},
		{name: "reads without counts", store: func(t *testing.T) Store { return uncountedStore{halfReadStore{newCoreStore(t)}} },
			err: []string{"uncountedStore", "lacks Counts", string(CapReads)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts []Option
			var closed func() error
			if tc.store != nil {
				s := tc.store(t)
				opts = append(opts, WithStore(s))
				closed = func() error { _, err := s.Boot("x", 1); return err }
			}
			n, err := New(fastConfig("caps"), append(opts, WithLogger(testLogger(t)))...)
			if tc.err != nil {
				t.Log(err)
				if !errors.Is(err, ErrPartialStore) {
					t.Fatalf("New: %v, want ErrPartialStore", err)
				}
				for _, s := range tc.err {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not name %q", err, s)
					}
				}
				if closed() == nil {
					t.Error("the refused store was left open")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			if got := n.StoreCapabilities(); !slices.Equal(got, tc.want) {
				t.Errorf("capabilities %v, want %v", got, tc.want)
			}
			_, err = n.Changes(context.Background(), "self", Cursor{}, 10)
			if feed := slices.Contains(tc.want, CapChangefeed); feed != (err == nil) {
				t.Errorf("Changes: %v with changefeed %v", err, feed)
			}
			if !slices.Contains(tc.want, CapChangefeed) && !errors.Is(err, ErrNoChangefeed) {
				t.Errorf("Changes: %v, want ErrNoChangefeed", err)
			}
		})
	}
}

// TestStoreDataDir: the default store's directory is what Status reports
// and what its size is measured in.
func TestStoreDataDir(t *testing.T) {
	cfg := fastConfig("dir")
	cfg.InMemory = false
	cfg.DataDir = t.TempDir()
	n, err := New(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	want, _ := filepath.Abs(cfg.DataDir)
	st := n.Status()
	if st.DataDir != want {
		t.Errorf("data dir %q, want %q", st.DataDir, want)
	}
	if st.Store == nil || st.Store.DiskBytes == 0 {
		t.Errorf("store size %+v, want the directory's", st.Store)
	}
}
