package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	gosync "sync"
	"sync/atomic"

	"github.com/leviathan-gossip/leviathan/store"
)

// The identity state. With signed = true a node is its key: peers take
// its records only under that key's proofs, and hold them at the node's
// generation. key_file is kept apart from data_dir so that the identity
// survives a wiped data directory; the identity state, beside it, lets
// the data survive too. It holds the node's generation and the highest
// boot it has started, and is written (to a temporary file, synced, then
// renamed) at each start and at each change of generation.
//
// A node that starts on a new store with this state boots at the stored
// generation and one boot above: peers still hold its records at that
// generation, and its heartbeats (based at boot<<32) rise above the ones
// they hold. It then takes its records back from them as a lost tail
// (sync.State.ExpectWipedData) before its first write. The state says
// so (Recovering) until that write, so that a restart in between, on a
// store no longer new, takes the data back as well. Without the state a
// new store starts a new generation, and peers drop the old one's data.
//
// While the node runs it holds a lock on its key file, so that a second
// start with the same key on the same host, into another data directory,
// is refused: two processes issuing versions as one node would each
// overwrite what the other wrote.

// identityStateSuffix names the state file: key_file with this suffix.
const identityStateSuffix = ".state"

// identityState is what the state file holds.
type identityState struct {
	ID         string `json:"id"`
	Generation uint64 `json:"generation"`
	Boot       uint64 `json:"boot"`
	// Recovering is set from before a start that may be on a wiped store
	// until this node's first write on it: a restart in between recovers
	// again, though its store is no longer new.
	Recovering bool `json:"recovering,omitempty"`
	// Horizon is the highest GC horizon the node's record stated, written
	// before a record states it: peers may have collected the node's
	// tombstones that far, and refill a wiped node past them only as far
	// as its record states (engine.KeepHorizons). A refutation's new
	// generation keeps the data, and the horizon with it.
	Horizon uint64 `json:"horizon,omitempty"`
}

// errKeyInUse: another running node holds the key file's lock.
var errKeyInUse = errors.New("in use by another running node with this key; one identity is one node")

// errIdentityState: the state file exists but cannot be read as one.
var errIdentityState = errors.New("identity state unreadable")

// identityStatePath is the state file of key file keyFile.
func identityStatePath(keyFile string) string { return keyFile + identityStateSuffix }

// readIdentityState reads the state file at path; ok is false when there
// is none.
func readIdentityState(path string) (st identityState, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return identityState{}, false, nil
	}
	if err != nil {
		return identityState{}, false, fmt.Errorf("%w: %s: %w", errIdentityState, path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil || st.ID == "" || st.Generation == 0 || st.Boot == 0 {
		return identityState{}, false, fmt.Errorf("%w: %s: not an identity state (%v)", errIdentityState, path, err)
	}
	return st, true, nil
}

// writeIdentityState replaces the state file at path with st, durably: a
// crash leaves the old state or the new one, never a torn file.
func writeIdentityState(path string, st identityState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("identity state: %w", err)
	}
	tmp := path + ".tmp"
	if err := writeSynced(tmp, append(b, '\n')); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("identity state %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("identity state %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("identity state %s: %w", path, err)
	}
	return nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a rename in dir durable. Platforms that cannot sync a
// directory (opening one for it fails) are left as they are.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// identityKeeper is a node's hold on its identity state: the key file's
// lock, and the state last written. Its methods do file I/O: never call
// them under n.mu.
type identityKeeper struct {
	path   string
	unlock func()
	mu     gosync.Mutex  // serialises save
	cur    identityState // what the file is to hold
	saved  identityState
	ok     bool          // saved is what the file holds
	prior  identityState // what it held at start
	// recovering is set while a wiped store's data comes back, until
	// the first local write.
	recovering atomic.Bool
}

// openIdentityState locks the key file and reads the identity state, with
// signed = true; it returns nil otherwise. The state is used for node id
// only: a key file moved to another id starts that id afresh.
func (n *Node) openIdentityState(id string) (*identityKeeper, error) {
	if !n.cfg.Signed || n.ident == nil {
		return nil, nil
	}
	unlock, err := lockKeyFile(n.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("node: key_file %s: %w", n.cfg.KeyFile, err)
	}
	k := &identityKeeper{path: identityStatePath(n.cfg.KeyFile), unlock: unlock}
	st, ok, err := readIdentityState(k.path)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("node: %w (remove it to start this node as a new generation, whose data peers drop)", err)
	}
	if ok && st.ID == id {
		k.saved, k.ok, k.prior = st, true, st
	}
	return k, nil
}

// bootStore boots the store (store.Boot) and, with signed = true, the
// identity state around it; wiped reports that the node's data is to be
// taken back from peers (sync.State.ExpectWipedData).
func (n *Node) bootStore(id string) (self store.SelfInfo, wiped bool, err error) {
	k, err := n.openIdentityState(id)
	if err != nil {
		return self, false, err
	}
	n.keeper = k
	gen := uint64(n.clock.Now().UnixMilli())
	if k != nil && k.ok {
		// Taken by a new store only. Marked first: a crash after the
		// store's boot, before its data is back, must recover again.
		gen = k.saved.Generation
		mark := k.saved
		mark.Recovering = true
		if err := k.save(mark); err != nil {
			n.log.Warn().Err(err).Msg("identity state not written beside key_file")
		}
	}
	self, err = n.store.Boot(id, gen)
	if err != nil {
		return self, false, fmt.Errorf("node: %w", err)
	}
	if k == nil {
		return self, false, nil
	}
	if k.ok {
		wiped = self.Fresh || k.prior.Recovering
		self.Boot = max(self.Boot, k.prior.Boot+1)
	}
	st := identityState{ID: id, Generation: self.Generation, Boot: self.Boot, Recovering: wiped}
	if k.ok && k.prior.Generation == self.Generation {
		st.Horizon = k.prior.Horizon
	}
	if err := k.save(st); err != nil {
		// The node runs as it would without the state; only a later
		// wipe of data_dir costs it its data.
		n.log.Warn().Err(err).Msg("identity state not written beside key_file: if data_dir is wiped, peers drop this node's data")
	}
	k.recovering.Store(wiped)
	return self, wiped, nil
}

// wroteOnce ends the recovery of a wiped store at this run's first local
// write: the state no longer says recovering. Called under n.mu, it
// writes the file in a goroutine of its own.
func (n *Node) wroteOnce() {
	k := n.keeper
	if k == nil || n.closed || !k.recovering.CompareAndSwap(true, false) {
		return // closed: Close may be waiting for n.wg already
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := k.endRecovery(); err != nil {
			n.log.Warn().Err(err).Msg("identity state not updated after recovery: the next start waits for peers again")
		}
	}()
}

// endRecovery clears Recovering in the state file.
func (k *identityKeeper) endRecovery() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cur.Recovering = false
	return k.flush()
}

// save writes st unless the file holds it already.
func (k *identityKeeper) save(st identityState) error {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cur = st
	return k.flush()
}

// saveGeneration writes the node's generation, changed at run time (a
// refutation), with the boot of this run.
func (k *identityKeeper) saveGeneration(gen uint64) error {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cur.ID == "" {
		return nil // not booted
	}
	k.cur.Generation = gen
	return k.flush()
}

// saveHorizon raises the horizon the state holds to h.
func (k *identityKeeper) saveHorizon(h uint64) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cur.ID == "" || h <= k.cur.Horizon {
		return nil
	}
	k.cur.Horizon = h
	return k.flush()
}

// horizon is the horizon the state holds.
func (k *identityKeeper) horizon() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cur.Horizon
}

// keepHorizons gives the engine the horizon kept in the identity state,
// raised first to the store's own: the node's record states it from its
// first signing on, so that peers which collected the node's tombstones
// under an earlier record refill it past them, its data wiped or not. It
// runs at start, before the record is signed, with n.mu not held.
func (n *Node) keepHorizons() {
	k := n.keeper
	if k == nil {
		return
	}
	if gc := n.eng.Self().GCVersion; gc > k.horizon() {
		if err := k.saveHorizon(gc); err != nil {
			n.log.Warn().Err(err).Msg("identity state: horizon not written beside key_file: if data_dir is wiped, peers may not refill this node")
		}
	}
	n.eng.KeepHorizons(k.horizon())
}

// keepHorizon writes horizon h, which the engine is to sign (HorizonDue),
// to the identity state in a goroutine of its own, then lets the engine
// sign it. Called under n.mu.
func (n *Node) keepHorizon(h uint64) {
	if n.closed {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.keeper.saveHorizon(h); err != nil {
			n.log.Warn().Err(err).Uint64("horizon", h).Msg("identity state: horizon not written beside key_file: if data_dir is wiped, peers may not refill this node")
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		if !n.closed {
			n.eng.KeptHorizon(h, n.clock.Now())
		}
	}()
}

func (k *identityKeeper) flush() error {
	if k.ok && k.saved == k.cur {
		return nil
	}
	if err := writeIdentityState(k.path, k.cur); err != nil {
		return err
	}
	k.saved, k.ok = k.cur, true
	return nil
}

// close releases the key file's lock.
func (k *identityKeeper) close() {
	if k != nil && k.unlock != nil {
		k.unlock()
		k.unlock = nil
	}
}
