package node

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/proof"
)

// A node that rotates its key keeps its data directory, whose records'
// proofs, and every copy its peers hold, the old key signed. So that
// they still stand, its record names the old key as retired, for its
// generation and up to its newest version then (identity.RetiredKey):
// a node that joins later, or trusts only the new key, takes them, and
// a leaked old key forges nothing newer. The node notes the key it
// signs with (identity.KeyHistory) in two copies: one in the data
// directory, which describes the proofs stored beside it, and one
// beside the key file, which outlives a wiped data directory as the
// identity state does, so that a node wiped after a rotation still
// names the keys that signed the copies its peers give back. A start
// with another key than the history's is a rotation, with no operator
// action, whether the new key replaced the old file or sits in a new
// one (whose side holds no history yet: the data directory's copy
// speaks). The rotation is noted at once, the old key's bounds exact,
// with a mark that the stored proofs are to be signed again with the
// new key; the signer does that before it signs anything else, so that
// the node serves them all under the new key, and clears the mark only
// after: a crash in between signs them again.

// keyHistoryFile names the copy of the history in the data directory.
const keyHistoryFile = "signing_keys"

// keyHistorySuffix names the copy beside the key file: key_file with
// this suffix.
const keyHistorySuffix = ".signing_keys"

// keyHistoryCopies are the paths of a node's two copies of its key
// history: beside its key file, then in its data directory.
type keyHistoryCopies struct{ keyFile, dataDir string }

func (n *Node) keyHistoryCopies() keyHistoryCopies {
	return keyHistoryCopies{keyFile: n.cfg.KeyFile + keyHistorySuffix, dataDir: filepath.Join(n.dataDir(), keyHistoryFile)}
}

// load reads the history: the data directory's copy, which describes
// the proofs stored there, or the key file's when the data directory
// holds none (wiped, or new).
func (c keyHistoryCopies) load() (identity.KeyHistory, error) {
	h, err := identity.LoadKeyHistory(c.dataDir)
	if err != nil || len(h.Current) > 0 {
		return h, err
	}
	return identity.LoadKeyHistory(c.keyFile)
}

// save writes h to each copy that does not hold it: the key file's
// first, the data directory's last, as load prefers it. The key file's
// copy only costs a later wipe the keys it names, so failing to write
// it is reported apart (errKeyFileHistory), and the node runs on.
func (c keyHistoryCopies) save(h identity.KeyHistory) error {
	var kerr error
	if held, err := identity.LoadKeyHistory(c.keyFile); err != nil || !held.Equal(h) {
		if err := h.Save(c.keyFile); err != nil {
			kerr = fmt.Errorf("%w: %w", errKeyFileHistory, err)
		}
	}
	if held, err := identity.LoadKeyHistory(c.dataDir); err != nil || !held.Equal(h) {
		if err := h.Save(c.dataDir); err != nil {
			return err
		}
	}
	return kerr
}

// errKeyFileHistory: the key history was not written beside the key
// file.
var errKeyFileHistory = errors.New("key history not written beside key_file: if data_dir is wiped, this node refuses its records proven by its retired keys")

// retireKeys reads the key history, gives the engine the keys to name as
// retired, and leaves to the signer what a rotation asks. It runs once
// the engine holds the node's own records, before the node signs its
// record.
func (n *Node) retireKeys() error {
	if n.signer == nil || n.dataDir() == "" {
		return nil
	}
	copies := n.keyHistoryCopies()
	h, err := copies.load()
	if err != nil {
		return err
	}
	self := n.eng.Self()
	next := h.Rotate(n.ident.key.Public(), self.Generation, self.MaxVersion)
	n.eng.SetRetiredKeys(next.Retired)
	if err := copies.save(next); errors.Is(err, errKeyFileHistory) {
		n.log.Warn().Err(err).Msg("key history")
	} else if err != nil {
		return err
	}
	if !next.Equal(h) && len(h.Current) > 0 {
		n.log.Warn().Str("key_id", n.ident.key.ID().String()).Str("retired_key_id", identity.IDOf(h.Current).String()).
			Uint64("generation", self.Generation).Uint64("through", self.MaxVersion).
			Msg("key rotated: the node record names the old key as retired; stored record proofs are signed again with the new key")
	}
	if next.Rekey {
		next.Rekey = false
		n.signer.rekey, n.signer.history, n.signer.historyCopies = true, next, copies
	}
	return nil
}

// rekeyStored signs the node's stored proofs again with its key after a
// rotation, then clears the history's mark.
func (s *recordSigner) rekeyStored() {
	if !s.rekey {
		return
	}
	sign := func(h proof.Header) (proof.Signed, error) { return proof.Sign(s.key, h) }
	batches, err := s.store.Rekey(s.n.id, sign)
	if err != nil {
		s.n.log.Error().Err(err).Msg("stored record proofs not signed again with the new key; they stand under the retired key")
		return
	}
	if err := s.historyCopies.save(s.history); errors.Is(err, errKeyFileHistory) {
		s.n.log.Warn().Err(err).Msg("key history")
	} else if err != nil {
		s.n.log.Error().Err(err).Msg("key history not cleared; the next start signs the stored proofs again")
		return
	}
	s.n.log.Info().Int("batches", batches).Msg("stored record proofs signed again with the new key")
}
