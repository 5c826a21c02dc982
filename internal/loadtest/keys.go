package loadtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/leviathan-gossip/leviathan/node"
	"github.com/leviathan-gossip/leviathan/sync/identity"
)

// Keys are the key files of a signed run's nodes, one per node id, and
// the pins of all of them, kept in one directory so that a process
// started for a node finds its key and its trust there: <id>.key, and
// trusted.json, the trusted_keys map every node is given.
type Keys struct {
	Dir  string
	Pins map[string][]string
}

const trustedFile = "trusted.json"

// NewKeys creates a key file for each id in dir and writes the pins.
// The directory must be none of the nodes' data directories, which a
// key file may not be inside.
func NewKeys(dir string, ids ...string) (*Keys, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("loadtest: keys: %w", err)
	}
	k := &Keys{Dir: dir, Pins: make(map[string][]string, len(ids))}
	for _, id := range ids {
		key, _, err := identity.LoadOrCreate(k.file(id), nil)
		if err != nil {
			return nil, fmt.Errorf("loadtest: keys: %w", err)
		}
		k.Pins[id] = []string{identity.FormatPublicKey(key.Public())}
	}
	b, err := json.Marshal(k.Pins)
	if err != nil {
		return nil, fmt.Errorf("loadtest: keys: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, trustedFile), b, 0o600); err != nil {
		return nil, fmt.Errorf("loadtest: keys: %w", err)
	}
	return k, nil
}

// LoadKeys reads the pins NewKeys wrote to dir.
func LoadKeys(dir string) (*Keys, error) {
	b, err := os.ReadFile(filepath.Join(dir, trustedFile))
	if err != nil {
		return nil, fmt.Errorf("loadtest: keys: %w", err)
	}
	k := &Keys{Dir: dir}
	if err := json.Unmarshal(b, &k.Pins); err != nil {
		return nil, fmt.Errorf("loadtest: keys: %s: %w", trustedFile, err)
	}
	return k, nil
}

func (k *Keys) file(id string) string { return filepath.Join(k.Dir, id+".key") }

// Sign makes cfg, the config of node id, sign with id's key and trust
// every key pinned; on nil Keys it leaves cfg unsigned.
func (k *Keys) Sign(cfg *node.Config, id string) {
	if k == nil {
		return
	}
	cfg.KeyFile, cfg.TrustedKeys, cfg.Signed = k.file(id), k.Pins, true
}
