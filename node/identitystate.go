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
// (sync.State.ExpectWipedData) before its first write. Without the state
// a new store starts a new generation, and peers drop the old one's data.
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
	ok     bool // saved is what the file holds
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
		k.saved, k.ok = st, true
	}
	return k, nil
}

// bootAs is the generation a new store should take, and whether there is
// a stored one.
func (k *identityKeeper) bootAs() (generation uint64, ok bool) {
	if k == nil || !k.ok {
		return 0, false
	}
	return k.saved.Generation, true
}

// boot is the boot to run at: above every boot the state saw, even when
// the store's count started over.
func (k *identityKeeper) boot(storeBoot uint64) uint64 {
	if k == nil || !k.ok {
		return storeBoot
	}
	return max(storeBoot, k.saved.Boot+1)
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
