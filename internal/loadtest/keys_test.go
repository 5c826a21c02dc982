package loadtest

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/leviathan-gossip/leviathan/node"
)

// TestKeysSignConfigs: the keys NewKeys writes, read back by LoadKeys as
// a receiver process does, make configs that validate as signed, each
// node with its own key file and every node's key pinned.
func TestKeysSignConfigs(t *testing.T) {
	dir := t.TempDir()
	ids := []string{"writer", "follower0", "follower1"}
	made, err := NewKeys(filepath.Join(dir, "keys"), ids...)
	if err != nil {
		t.Fatal(err)
	}
	read, err := LoadKeys(made.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(made, read) {
		t.Fatalf("LoadKeys read %+v, NewKeys made %+v", read, made)
	}
	files := map[string]bool{}
	for _, id := range ids {
		cfg := node.DefaultConfig()
		cfg.Alias, cfg.DataDir = id, filepath.Join(dir, id)
		read.Sign(&cfg, id)
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if !cfg.Signed || len(cfg.TrustedKeys) != len(ids) || files[cfg.KeyFile] {
			t.Fatalf("%s: signed %v, %d keys pinned, key file %s (shared: %v)", id, cfg.Signed, len(cfg.TrustedKeys), cfg.KeyFile, files[cfg.KeyFile])
		}
		files[cfg.KeyFile] = true
	}
	var none *Keys
	cfg := node.DefaultConfig()
	none.Sign(&cfg, "writer")
	if cfg.Signed || cfg.KeyFile != "" {
		t.Fatal("nil Keys signed a config")
	}
}
