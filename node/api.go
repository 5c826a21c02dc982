package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/leviathan-gossip/leviathan/health"
	"github.com/leviathan-gossip/leviathan/store"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Errors of reads and writes that callers can test for.
var (
	// ErrNotFound: the node is known but has no such key (or it is deleted).
	ErrNotFound = errors.New("node: no such key")
	// ErrValueTooLarge: a value over max_value_size.
	ErrValueTooLarge = errors.New("node: value too large")
	// ErrRecovering: a write came while this node, restarted after a
	// crash with sync_writes off, may still be taking back from peers its
	// own newest writes that its store lost (reusing their versions would
	// get the new writes ignored), or, with signed = true, its whole data
	// set after its data directory was wiped. Retry shortly: each wait is
	// bounded by max(2 s, 5 gossip rounds), restarted while a wiped node's
	// records keep coming back, for at most 10 minutes.
	ErrRecovering = lsync.ErrRecovering
)

// Set writes a key of this node and returns its new version. When Set
// returns, the write is in the store; peers receive it by gossip. Set
// keeps a copy of value: the caller may reuse its slice at once.
//
// ctx bounds two waits: for admission, while write flow control holds
// writes back because peers are not keeping up with this node's
// (max_write_lag), and for the group commit, where concurrent writes
// queue to share one store transaction. If ctx ends during either (or
// has ended before Set is called), Set returns ctx's error, wrapped, and
// the write is dropped: it never reaches the store and takes no version. Once the write is taken into a batch, the batch is in
// the store's hands and cannot be called back: Set then waits for it (one
// transaction) and returns its outcome, nil when it landed. So an error
// that errors.Is ctx's means not written.
func (n *Node) Set(ctx context.Context, key string, value []byte) (uint64, error) {
	return n.write(ctx, lsync.Record{Key: key, Value: bytes.Clone(value)})
}

// Delete removes a key of this node by writing a tombstone, which
// replicates like any write and reaches peers' subscribers as EventDelete.
// Deleting a key that does not exist writes a tombstone all the same
// (it is not an error); the admin API answers 404 instead. ctx counts as
// for Set.
func (n *Node) Delete(ctx context.Context, key string) (uint64, error) {
	return n.write(ctx, lsync.Record{Key: key, Tombstone: true,
		Value: lsync.TombstoneValue(uint64(n.clock.Now().UnixMilli()))})
}

// KV is one key and value for SetMany.
type KV struct {
	Key   string
	Value []byte
}

// setManyChunk records are made durable at a time: small enough for one
// atomic Badger transaction, large enough to amortise it.
const setManyChunk = 4096

// SetMany writes many keys of this node, for applications that load data,
// and returns their versions in order. It writes in chunks of a few
// thousand, each durable (and so visible and gossiped) on its own: on an
// error, the returned versions are those of the pairs already written.
// ctx counts for each chunk as for Set: once it ends, the chunk waiting
// its turn and those after it are not written. Like Set, it keeps copies
// of the values.
func (n *Node) SetMany(ctx context.Context, kvs []KV) ([]uint64, error) {
	for _, kv := range kvs {
		if err := n.checkWrite(kv.Key, kv.Value); err != nil {
			return nil, err
		}
	}
	versions := make([]uint64, 0, len(kvs))
	for len(kvs) > 0 {
		chunk := kvs[:min(len(kvs), setManyChunk)]
		kvs = kvs[len(chunk):]
		recs := make([]lsync.Record, len(chunk))
		for i, kv := range chunk {
			recs[i] = lsync.Record{Key: kv.Key, Value: bytes.Clone(kv.Value)}
		}
		if err := n.writeRecords(ctx, recs); err != nil {
			return versions, err
		}
		for _, r := range recs {
			versions = append(versions, r.Version)
		}
	}
	return versions, nil
}

// CheckKey returns the error (ErrBadKey) Set and Delete would give key,
// without writing: a caller can tell a key that cannot exist from one
// that does not.
func (n *Node) CheckKey(key string) error { return n.checkWrite(key, nil) }

func (n *Node) checkWrite(key string, value []byte) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrBadKey)
	case len(key) > n.cfg.MaxKeySize:
		return fmt.Errorf("%w: %d bytes, max_key_size is %d", ErrBadKey, len(key), n.cfg.MaxKeySize)
	case !utf8.ValidString(key):
		// Listed as JSON text, an invalid key came back mangled and could
		// not be fetched again.
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrBadKey, key)
	case strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("%w: %q holds a NUL byte", ErrBadKey, key)
	case len(value) > n.cfg.MaxValueSize:
		return fmt.Errorf("%w: %d bytes, max_value_size is %d", ErrValueTooLarge, len(value), n.cfg.MaxValueSize)
	}
	return nil
}

func (n *Node) write(ctx context.Context, r lsync.Record) (uint64, error) {
	if err := n.checkWrite(r.Key, r.Value); err != nil {
		return 0, err
	}
	recs := []lsync.Record{r}
	if err := n.writeRecords(ctx, recs); err != nil {
		return 0, err
	}
	return recs[0].Version, nil
}

// writeRecords versions, persists and commits local records, setting
// each record's Version, once flow control admits them (flow.go).
// Concurrent writers are committed together (see groupCommit).
func (n *Node) writeRecords(ctx context.Context, recs []lsync.Record) error {
	err := n.admit(ctx, len(recs))
	if err == nil {
		err = n.writes.submit(ctx, recs, n.commitGroup)
	}
	if err != nil && errors.Is(err, ctx.Err()) {
		// Dropped before its turn: the commit's errors are wrapped by it.
		return fmt.Errorf("node: write %q: %w", recs[0].Key, err)
	}
	return err
}

// commitGroup makes the records of several writers durable in one batch:
// one Badger transaction instead of one each.
func (n *Node) commitGroup(group []*writeReq) {
	n.seq.Lock()
	defer n.seq.Unlock()
	n.mu.Lock()
	fail := func(err error) {
		for _, r := range group {
			r.done <- err
		}
	}
	switch {
	case n.closed:
		n.mu.Unlock()
		fail(ErrClosed)
		return
	case n.failed != nil:
		err := n.failed
		n.mu.Unlock()
		fail(err)
		return
	case n.leaving:
		n.mu.Unlock()
		fail(ErrLeft)
		return
	}
	var all []lsync.Record
	for _, r := range group {
		all = append(all, r.recs...)
	}
	if err := n.reserve.check(); err != nil {
		n.mu.Unlock()
		fail(fmt.Errorf("node: write %q: %w", all[0].Key, err))
		return
	}
	// Write refuses while the node's own lost tail may still come back
	// from peers, and never issues a version a peer holds.
	rd, err := n.eng.Write(n.clock.Now(), all)
	n.mu.Unlock()
	if err == nil {
		// n.seq is released by the deferred Unlock, once the writers have
		// their versions.
		err = n.eng.Apply(&rd, &driver{n: n})
	}
	if err != nil {
		fail(fmt.Errorf("node: write %q: %w", all[0].Key, err))
		return
	}
	// Write versioned all, a copy: hand each writer its versions.
	i := 0
	for _, r := range group {
		i += copy(r.recs, all[i:i+len(r.recs)])
	}
	fail(nil)
}

// Entry is one key's value and the version it was written with.
type Entry struct {
	Value   []byte
	Version uint64
}

// Get returns a node's key: a copy of its value, and the version it was
// written with. peer is an id, an alias, "self" or "" (this node). The
// error is ErrUnknownPeer when this node has not heard of peer,
// ErrNotFound when the peer has no such key or deleted it. ctx is checked
// before the store is read; one key's read is not interrupted.
func (n *Node) Get(ctx context.Context, peer, key string) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, fmt.Errorf("node: get %q at %s: %w", key, peer, err)
	}
	n.mu.Lock()
	id, ok := n.resolve(peer)
	if !ok {
		n.mu.Unlock()
		return Entry{}, fmt.Errorf("%w %q", ErrUnknownPeer, peer)
	}
	var r lsync.Record
	if n.disk == nil {
		r, ok = n.eng.Get(id, key)
		r.Value = bytes.Clone(r.Value)
		n.mu.Unlock()
	} else {
		// Badger is the truth: read it in its own transaction, without
		// holding up gossip. It holds nothing a batch has not made durable.
		n.mu.Unlock()
		var err error
		if r, ok, err = n.disk.Get(id, key); err != nil {
			return Entry{}, readErr(err, "get %q at %s", key, peer)
		}
	}
	if !ok || r.Tombstone {
		return Entry{}, fmt.Errorf("%w: %q at %s", ErrNotFound, key, peer)
	}
	return Entry{Value: r.Value, Version: r.Version}, nil
}

// Lookup is Get without a context.
//
// Deprecated: use Get, which takes one. Lookup goes in the next release.
func (n *Node) Lookup(peer, key string) (Entry, error) {
	return n.Get(context.Background(), peer, key)
}

// Version returns the version a node's key was last written with, and
// whether it has one (false for the cases Get tells apart by its error).
//
// Deprecated: use Get and its Entry's Version. Version goes in the next
// release.
func (n *Node) Version(peer, key string) (uint64, bool) {
	e, err := n.Get(context.Background(), peer, key)
	return e.Version, err == nil
}

// Keys returns a node's keys, sorted (peer as for Get). The error is
// ErrUnknownPeer when this node has not heard of peer, ctx's when it ends
// during the read, or the store's.
func (n *Node) Keys(ctx context.Context, peer string) ([]string, error) {
	var keys []string
	err := n.Scan(ctx, peer, func(key string, _ Entry) bool {
		keys = append(keys, key)
		return true
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(keys)
	return keys, nil
}

// Scan calls fn with each key of a node (peer as for Get), its value and
// version, until fn returns false. Keys come in version order, not key
// order: sorting is the caller's, so that one that keeps a page of them
// holds no more. The store is read without holding up gossip: a key
// written meanwhile may be seen or missed. fn must not modify the value,
// which is not a copy; it may keep it. The error is ErrUnknownPeer when
// this node has not heard of peer; ctx is checked every scanCheck keys,
// and its error, wrapped, ends the scan.
func (n *Node) Scan(ctx context.Context, peer string, fn func(key string, e Entry) bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("node: scan of %q: %w", peer, err)
	}
	view, st, ok := n.viewOf(peer)
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownPeer, peer)
	}
	var ctxErr error
	seen := 0
	err := n.scanStore(view, st, func(r *lsync.Record) bool {
		if seen++; seen%scanCheck == 0 {
			if ctxErr = ctx.Err(); ctxErr != nil {
				return false
			}
		}
		return r.Tombstone || fn(r.Key, Entry{Value: r.Value, Version: r.Version})
	})
	switch {
	case err != nil:
		return readErr(err, "scan of %q", view.ID)
	case ctxErr != nil:
		return fmt.Errorf("node: scan of %q: %w", view.ID, ctxErr)
	}
	return nil
}

// scanCheck is how many records Scan reads between looks at its context:
// often enough to stop within a millisecond or so, rarely enough to cost
// nothing.
const scanCheck = 256

// scanPage is how many records scanStore copies under n.mu at a time.
const scanPage = 1024

// scanStore reads the records of view from st, from viewOf. A store the
// node reads (n.disk) is read without n.mu. The engine's own records
// (a store that cannot read) are written under n.mu and have no lock of
// their own, so they are read under it, a page at a time, copied (values
// are shared, never changed): a node with many keys holds up gossip for
// one page at most, and fn runs without the lock, free to call the node.
// A key written between pages may be seen or missed, as with the store.
func (n *Node) scanStore(view lsync.PeerMeta, st lsync.Storage, fn func(r *lsync.Record) bool) error {
	if n.disk != nil {
		_, err := st.Scan(view, 0, fn)
		return err
	}
	page := make([]lsync.Record, 0, scanPage)
	for after := uint64(0); ; {
		page = page[:0]
		n.mu.Lock()
		_, err := st.Scan(view, after, func(r *lsync.Record) bool {
			if len(page) == scanPage {
				return false
			}
			page = append(page, *r)
			return true
		})
		n.mu.Unlock()
		for i := range page {
			if !fn(&page[i]) {
				return nil
			}
		}
		if err != nil || len(page) < scanPage {
			return err
		}
		after = page[len(page)-1].Version
	}
}

// readErr wraps a failed store read. A read after Close is ErrClosed, the
// error callers test for on every method, rather than the store's own.
func readErr(err error, format string, args ...any) error {
	if errors.Is(err, store.ErrClosed) {
		return ErrClosed
	}
	return fmt.Errorf("node: "+format+": %w", append(args, err)...)
}

// viewOf resolves peer and returns what the engine holds of it and the
// storage to read its records from, which the caller reads through
// scanStore: a node with many keys must not hold up gossip while they are
// read.
func (n *Node) viewOf(peer string) (lsync.PeerMeta, lsync.Storage, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	id, ok := n.resolve(peer)
	if !ok {
		return lsync.PeerMeta{}, nil, false
	}
	view, ok := n.eng.View(id)
	return view, n.eng.Storage(), ok
}

// resolve maps an id or alias to an id, and "" or "self" to this node's
// id; the caller holds mu.
func (n *Node) resolve(peer string) (string, bool) {
	if peer == "" || peer == "self" {
		return n.id, true
	}
	if _, ok := n.eng.Peer(peer); ok {
		return peer, true
	}
	for _, p := range n.eng.Peers() {
		if p.Alias == peer {
			return p.ID, true
		}
	}
	if peer == n.eng.Self().Alias {
		return n.id, true
	}
	return "", false
}

// PeerState is a peer's liveness as the failure detector sees it.
type PeerState string

// Peer states.
const (
	StateJoining   PeerState = "joining" // heard of, not yet seen alive
	StateAlive     PeerState = "alive"
	StateSuspended PeerState = "suspended"
	StateDead      PeerState = "dead"
	StateLeft      PeerState = "left" // announced it was leaving
)

// Peer describes one other node.
type Peer struct {
	ID    string    `json:"id"`
	Alias string    `json:"alias"`
	Addr  string    `json:"addr"`
	State PeerState `json:"state"`
	Phi   float64   `json:"phi"`
	// LastHeard is how long ago the peer's heartbeat was last seen to rise
	// (in any digest, from anyone): the silence phi measures. Milliseconds
	// in JSON; -1 when never heard.
	LastHeard time.Duration `json:"-"`
	// Heartbeat counts the peer's heartbeats since it booted; Boot counts
	// its boots on its data directory. (On the wire they are one number,
	// boot<<32 + counter, so that a restarted node's heartbeats are above
	// its old ones; every surface shows the two parts.)
	Heartbeat  uint64 `json:"heartbeat"`
	Boot       uint64 `json:"boot"`
	MaxVersion uint64 `json:"max_version"`
	Generation uint64 `json:"generation"`
	Keys       int    `json:"keys"` // live keys as this node holds them: each once, deleted ones not
	// LagVersions is how far this node's copy of the peer's data trails
	// the newest watermark digests claim for it, in versions (writes,
	// with the default counter versioner); Lag is how long the copy has
	// trailed (milliseconds in JSON as lag_ms). Both are 0 in step.
	LagVersions uint64        `json:"lag_versions"`
	Lag         time.Duration `json:"-"`
}

// MarshalJSON adds last_heard_ms and lag_ms to the JSON form.
func (p Peer) MarshalJSON() ([]byte, error) {
	type plain Peer // without this method
	ms := int64(-1)
	if p.LastHeard >= 0 {
		ms = p.LastHeard.Milliseconds()
	}
	return json.Marshal(struct {
		plain
		LastHeardMS int64 `json:"last_heard_ms"`
		LagMS       int64 `json:"lag_ms"`
	}{plain(p), ms, p.Lag.Milliseconds()})
}

// UnmarshalJSON reads what MarshalJSON writes, last_heard_ms included.
func (p *Peer) UnmarshalJSON(b []byte) error {
	type plain Peer
	var j struct {
		plain
		LastHeardMS int64 `json:"last_heard_ms"`
		LagMS       int64 `json:"lag_ms"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = Peer(j.plain)
	p.Lag = time.Duration(j.LagMS) * time.Millisecond
	p.LastHeard = time.Duration(j.LastHeardMS) * time.Millisecond
	if j.LastHeardMS < 0 {
		p.LastHeard = -1
	}
	return nil
}

// splitHeartbeat splits a wire heartbeat into its boot and its count.
func splitHeartbeat(hb uint64) (boot, count uint64) { return hb >> 32, hb & (1<<32 - 1) }

// Peers returns every other known node, sorted by id.
func (n *Node) Peers() []Peer {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.clock.Now()
	infos := n.eng.Peers()
	out := make([]Peer, 0, len(infos))
	for _, p := range infos {
		l := n.eng.Liveness(p.ID, now)
		st := StateJoining
		if l.Tracked {
			st = peerState(l.State)
		}
		if l.Left {
			st = StateLeft
		}
		phi := l.Phi
		if math.IsNaN(phi) || math.IsInf(phi, 0) {
			phi = 0 // JSON cannot carry them; the detector should not produce them
		}
		heard := time.Duration(-1)
		if l.Heard {
			heard = max(0, now.Sub(l.LastHeard))
		}
		boot, count := splitHeartbeat(p.Heartbeat)
		behind, since := n.eng.Lag(p.ID)
		var lag time.Duration
		if behind > 0 {
			lag = max(0, now.Sub(since))
		}
		out = append(out, Peer{
			ID: p.ID, Alias: p.Alias, Addr: p.Addr, State: st, Phi: phi, LastHeard: heard,
			Heartbeat: count, Boot: boot, MaxVersion: p.MaxVersion, Generation: p.Generation, Keys: p.Keys,
			LagVersions: behind, Lag: lag,
		})
	}
	return out
}

// LivePeers returns the peers currently alive.
func (n *Node) LivePeers() []Peer { return n.peersIn(StateAlive) }

// SuspendedPeers returns the peers currently suspended.
func (n *Node) SuspendedPeers() []Peer { return n.peersIn(StateSuspended) }

// DeadPeers returns the peers currently dead.
func (n *Node) DeadPeers() []Peer { return n.peersIn(StateDead) }

func (n *Node) peersIn(s PeerState) []Peer {
	var out []Peer
	for _, p := range n.Peers() {
		if p.State == s {
			out = append(out, p)
		}
	}
	return out
}

func peerState(s health.State) PeerState {
	switch s {
	case health.Alive:
		return StateAlive
	case health.Suspended:
		return StateSuspended
	case health.Dead:
		return StateDead
	}
	return StateJoining
}

// Status summarises the local node.
type Status struct {
	// Failed is set once a store write failed (ErrStoreFailed): the node
	// stopped beating, gossiping and taking writes until restarted.
	Failed     string        `json:"failed,omitempty"`
	ID         string        `json:"id"`
	Alias      string        `json:"alias"`
	Addr       string        `json:"addr"`
	Cluster    string        `json:"cluster"`
	Generation uint64        `json:"generation"`
	Heartbeat  uint64        `json:"heartbeat"` // heartbeats since this boot (see Peer)
	Boot       uint64        `json:"boot"`      // boots on this data directory (signed: of this identity)
	MaxVersion uint64        `json:"max_version"`
	Keys       int           `json:"keys"` // live keys: each once, deleted ones not (leviathan_keys)
	Peers      int           `json:"peers"`
	Uptime     time.Duration `json:"uptime_ns"`
	// Time is the node's clock when the status was taken.
	Time time.Time `json:"time"`
	// PhiThreshold is the phi above which peers are suspended.
	PhiThreshold float64 `json:"phi_threshold"`
	Stats        Stats   `json:"stats"`
	// Store is the store's size on disk, when it reports one (Badger does).
	Store *StoreSize `json:"store,omitempty"`
	// DataDir is where the data lives, absolute ("" in memory or with a
	// store given by WithStore).
	DataDir string `json:"data_dir,omitempty"`
	// KeyID names the node's key (Identity); "" without key_file.
	KeyID string `json:"key_id,omitempty"`
}

// StoreSize is the store's size on disk in bytes, as du counts it
// (allocated blocks, so Badger's sparse preallocated value log counts for
// what it holds): the LSM tables, the value log, and every file of the
// data directory together. An in-memory store reports its LSM size.
type StoreSize struct {
	LSMBytes  int64 `json:"lsm_bytes"`
	VLogBytes int64 `json:"vlog_bytes"`
	DiskBytes int64 `json:"disk_bytes"`
}

// Stats are counters since start.
type Stats struct {
	Rounds         uint64 `json:"rounds"`
	MessagesIn     uint64 `json:"messages_in"`
	MessagesOut    uint64 `json:"messages_out"`
	BytesIn        uint64 `json:"bytes_in"`
	BytesOut       uint64 `json:"bytes_out"`
	DecodeErrors   uint64 `json:"decode_errors"`
	SendErrors     uint64 `json:"send_errors"`
	StoreErrors    uint64 `json:"store_errors"`
	DeltasApplied  uint64 `json:"deltas_applied"`
	Batches        uint64 `json:"batches"`
	RejectedDeltas uint64 `json:"rejected_deltas"`
	BadCluster     uint64 `json:"bad_cluster"`

	// Unauthenticated counts messages dropped by encryption (not sealed,
	// forged, tampered, or sealed with a key not installed).
	Unauthenticated uint64 `json:"unauthenticated"`
	// FutureGenerations counts digest entries and deltas dropped for a
	// generation more than a year ahead of this node's clock.
	FutureGenerations uint64 `json:"future_generations"`

	// PushesOut and PushBytesOut count eager pushes sent (one per
	// target, included in MessagesOut and BytesOut); PushesThrottled the
	// committed batches left to rounds because pushes ran over their
	// rate, PushesTooLarge those that did not fit one datagram. Probes
	// counts the summaries sent after pushes to find the nodes they
	// missed (docs/design.md, "Eager push").
	PushesOut       uint64 `json:"pushes_out"`
	PushBytesOut    uint64 `json:"push_bytes_out"`
	PushesThrottled uint64 `json:"pushes_throttled"`
	PushesTooLarge  uint64 `json:"pushes_too_large"`
	Probes          uint64 `json:"probes"`

	// Write flow control (max_write_lag): WriteLag is the records of this
	// node's own that its live peers lack, at the 0.75 quantile, by their
	// last digests; WriteRateLimit the records per second local writes
	// are held to while the cluster is behind (0: not limited);
	// WritesDelayed counts the writes (Set, Delete, SetMany chunks) that
	// waited for admission.
	WriteLag       uint64  `json:"write_lag"`
	WriteRateLimit float64 `json:"write_rate_limit"`
	WritesDelayed  uint64  `json:"writes_delayed"`
}

// Status returns the local node's summary.
func (n *Node) Status() Status {
	var size *StoreSize // walks the data directory: not under mu
	if s, ok := n.storeSize(); ok {
		size = &s
	}
	dataDir := n.dataDir()
	n.mu.Lock()
	defer n.mu.Unlock()
	self := n.eng.Self()
	info, _ := n.eng.Peer(self.ID)
	cs := n.eng.Stats()
	ps := n.eng.PushStats()
	fl := n.eng.Flow()
	msgsIn, bytesIn := n.counters.in.total()
	msgsOut, bytesOut := n.counters.out.total()
	boot, count := splitHeartbeat(info.Heartbeat)
	var up time.Duration
	if n.running {
		up = n.clock.Now().Sub(n.started)
	}
	var failed string
	if n.failed != nil {
		failed = n.failed.Error()
	}
	return Status{
		Failed: failed,
		ID:     self.ID, Alias: self.Alias, Addr: self.Addr, Cluster: n.cfg.Cluster,
		Generation: self.Generation, Heartbeat: count, Boot: boot, MaxVersion: self.MaxVersion,
		Keys: info.Keys, Peers: len(n.eng.Peers()), Uptime: up, Store: size, PhiThreshold: n.cfg.PhiThreshold,
		DataDir: dataDir, Time: n.clock.Now(), KeyID: n.keyID(),
		Stats: Stats{
			Rounds:         n.counters.rounds.Load(),
			MessagesIn:     msgsIn,
			MessagesOut:    msgsOut,
			BytesIn:        bytesIn,
			BytesOut:       bytesOut,
			DecodeErrors:   n.counters.in.msgs[undecodable].Load(),
			SendErrors:     n.counters.sendErrors.Load(),
			StoreErrors:    n.counters.storeErrors.Load(),
			DeltasApplied:  n.counters.deltasApplied.Load(),
			Batches:        n.counters.batches.Load(),
			RejectedDeltas: cs.OwnIDDeltas + cs.GapDeltas + cs.InvalidDeltas + cs.StaleGenDeltas,
			BadCluster:     cs.BadCluster,

			Unauthenticated:   n.unauthenticated(),
			FutureGenerations: n.eng.FutureGenerations(),
			PushesOut:         n.counters.out.msgs[lsync.MsgPush].Load(),
			PushBytesOut:      n.counters.out.bytes[lsync.MsgPush].Load(),
			PushesThrottled:   ps.Throttled,
			PushesTooLarge:    ps.TooLarge,
			Probes:            ps.Probes,
			WriteLag:          fl.Lag,
			WriteRateLimit:    fl.Rate,
			WritesDelayed:     n.admission.delayed.Load(),
		},
	}
}
