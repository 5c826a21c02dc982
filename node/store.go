package node

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/leviathan-gossip/leviathan/store"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Store is the durable state a node cannot run without: its identity, the
// batches it commits and, at boot, what it committed before. *store.Badger
// is the reference implementation and has every optional capability below
// (FullStore).
//
// The rest of what the node can do with a store comes in capabilities, each
// an interface of its own. New checks the store against them once and the
// node uses exactly what was found there: a store either declares every
// method of a capability, and the feature is on, or none of them, and the
// feature is off, logged at New and listed by Node.StoreCapabilities. A
// store with only part of a capability (say Scan and Get without LoadMeta
// or Counts) is refused by New with ErrPartialStore,
// naming what is missing, since such a store was meant to have the feature
// and would otherwise quietly lose it.
//
// The capabilities are optional rather than part of Store because a store
// that keeps nothing (a benchmark's, a test's) must stay possible, and a
// stub standing in for a feature would lie: an empty changefeed page reads
// as "nothing changed" where ErrNoChangefeed says the truth.
type Store interface {
	Boot(id string, gen uint64) (store.SelfInfo, error)
	Apply(b *lsync.Batch) error
	// Load hands over every peer with its records. It is called only when
	// the store is no ReadStore; a ReadStore is loaded with LoadMeta.
	Load(fn func(meta lsync.PeerMeta, recs []lsync.Record) error) error
	Close() error
}

// ReadStore (capability CapReads) is a store the engine reads records from.
// With it the node's memory holds each peer's metadata only and a restart
// loads no record value; without it every record is kept in memory as well
// as written to the store, and Load replays them all at boot. Its Counts
// (lsync.Storage) are every surface's keys (Status.Keys, Peer.Keys, the
// leviathan_keys metric), so they must be exact: each node's live keys,
// an overwritten key once, a deleted one not at all.
type ReadStore interface {
	lsync.Storage
	LoadMeta(fn func(meta lsync.PeerMeta) error) error
}

// ChangeStore (capability CapChangefeed) serves Node.Changes and the admin
// API's changefeed from a version index. Without it Changes returns
// ErrNoChangefeed.
type ChangeStore interface {
	Changes(peer string, cur store.Cursor, limit int) (store.Page, error)
}

// RemovalStore (capability CapRemovals) hands back, at boot, the peers
// removed before the restart, with the generation and heartbeat each was
// removed at, so that a peer's stale digest does not bring it back. Without
// it removals last until the node restarts.
type RemovalStore interface {
	LoadRemoved(fn func(id string, gen, heartbeat uint64) error) error
}

// GCStore (capability CapGC) collects the store's own garbage (Badger's
// value log); the node calls GC after each collection of tombstones,
// outside every lock. Without it the store is left to reclaim space itself.
type GCStore interface {
	GC() error
}

// SizeStore (capability CapSize) reports the store's size for Status and
// the store_size_bytes metric, when the store has no data directory to
// measure (see DirStore). Without either, neither reports a size.
type SizeStore interface {
	Size() store.Sizes
}

// DirStore (capability CapDataDir) names the directory the store keeps its
// files in ("" when it keeps none). With a directory the node enforces
// min_free_disk on its file system, reports it in Status and measures the
// store's size there as du does (SST files as LSM, .vlog files as value
// log). Without it min_free_disk is not enforced.
type DirStore interface {
	Dir() string
}

// FullStore is a Store with every capability, as *store.Badger is.
type FullStore interface {
	Store
	ReadStore
	ChangeStore
	RemovalStore
	GCStore
	SizeStore
	DirStore
}

var _ FullStore = (*store.Badger)(nil)

// Capability names one optional part of a Store.
type Capability string

// The capabilities, each named after what it enables.
const (
	CapReads      Capability = "reads"      // ReadStore
	CapChangefeed Capability = "changefeed" // ChangeStore
	CapRemovals   Capability = "removals"   // RemovalStore
	CapGC         Capability = "gc"         // GCStore
	CapSize       Capability = "size"       // SizeStore
	CapDataDir    Capability = "data_dir"   // DirStore
)

// ErrPartialStore: New was given a store that has some of a capability's
// methods but not all. The error names the store's type and what it
// lacks.
var ErrPartialStore = errors.New("node: store has part of a capability")

// capabilities is every capability with the interface that declares it.
var capabilities = []struct {
	name  Capability
	iface reflect.Type
}{
	{CapReads, reflect.TypeFor[ReadStore]()},
	{CapChangefeed, reflect.TypeFor[ChangeStore]()},
	{CapRemovals, reflect.TypeFor[RemovalStore]()},
	{CapGC, reflect.TypeFor[GCStore]()},
	{CapSize, reflect.TypeFor[SizeStore]()},
	{CapDataDir, reflect.TypeFor[DirStore]()},
}

// storeCaps is what New found a store to have: each field is the store
// itself when it has that capability, nil otherwise. The node reaches the
// optional parts of its store only through it.
type storeCaps struct {
	on       []Capability
	off      []string // each off capability, with why when a method is near
	reads    ReadStore
	feed     ChangeStore
	removals RemovalStore
	gc       GCStore
	size     SizeStore
	dir      string // DirStore's answer, read once
}

// checkStore finds the capabilities of s. Method sets are compared by name
// and type, so that a method of the right name but another signature is
// reported as such instead of being taken for an absent one.
func checkStore(s Store) (storeCaps, error) {
	var c storeCaps
	v := reflect.ValueOf(s)
	var errs []error
	for _, cp := range capabilities {
		var has, lacks []string
		near := false // a method of the right name has another type
		for i := range cp.iface.NumMethod() {
			m := cp.iface.Method(i)
			switch f := v.MethodByName(m.Name); {
			case !f.IsValid():
				lacks = append(lacks, m.Name)
			case f.Type() != m.Type:
				near = true
				lacks = append(lacks, fmt.Sprintf("%s %s (has %s)", m.Name, m.Type, f.Type()))
			default:
				has = append(has, m.Name)
			}
		}
		switch {
		case len(has) == 0 && near:
			c.off = append(c.off, fmt.Sprintf("%s: wants %s", cp.name, strings.Join(lacks, ", ")))
		case len(has) == 0:
			c.off = append(c.off, string(cp.name))
		case len(lacks) > 0:
			errs = append(errs, fmt.Errorf("%w: %T has %s but lacks %s (capability %s)",
				ErrPartialStore, s, strings.Join(has, ", "), strings.Join(lacks, ", "), cp.name))
		default:
			c.on = append(c.on, cp.name)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return storeCaps{}, err
	}
	// Every method was found above, so each assertion holds.
	for _, name := range c.on {
		switch name {
		case CapReads:
			c.reads = s.(ReadStore)
		case CapChangefeed:
			c.feed = s.(ChangeStore)
		case CapRemovals:
			c.removals = s.(RemovalStore)
		case CapGC:
			c.gc = s.(GCStore)
		case CapSize:
			c.size = s.(SizeStore)
		case CapDataDir:
			c.dir = s.(DirStore).Dir()
		}
	}
	return c, nil
}

// StoreCapabilities lists the capabilities New found the node's store to
// have; every one for the default Badger store.
func (n *Node) StoreCapabilities() []Capability { return slices.Clone(n.caps.on) }

// logStoreCaps says which store features are off, once, so that a custom
// store's missing changefeed or removals are seen at start rather than
// when first needed.
func (n *Node) logStoreCaps() {
	if len(n.caps.off) > 0 {
		n.log.Info().Str("store", fmt.Sprintf("%T", n.store)).Strs("off", n.caps.off).
			Msg("store lacks optional capabilities; their features are off (see node.Store)")
	}
}
