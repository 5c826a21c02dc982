package node

import (
	"path/filepath"

	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/proof"
)

// A node that rotates its key keeps its data directory, whose records'
// proofs, and every copy its peers hold, the old key signed. So that
// they still stand, its record names the old key as retired, for its
// generation and up to its newest version then (identity.RetiredKey):
// a node that joins later, or trusts only the new key, takes them, and
// a leaked old key forges nothing newer. The node learns which key
// signed its proofs from the data directory itself, where it notes the
// key it signs with (identity.KeyHistory): a start with another key is a
// rotation, with no operator action, and a wiped directory forgets the
// keys with the records they signed. The rotation is noted at once, the
// old key's bounds exact, with a mark that the stored proofs are to be
// signed again with the new key; the signer does that before it signs
// anything else, so that the node serves them all under the new key,
// and clears the mark only after: a crash in between signs them again.

// keyHistoryFile names the file in the data directory that holds the
// history.
const keyHistoryFile = "signing_keys"

// retireKeys reads the key history, gives the engine the keys to name as
// retired, and leaves to the signer what a rotation asks. It runs once
// the engine holds the node's own records, before the node signs its
// record.
func (n *Node) retireKeys() error {
	if n.signer == nil || n.dataDir() == "" {
		return nil
	}
	path := filepath.Join(n.dataDir(), keyHistoryFile)
	h, err := identity.LoadKeyHistory(path)
	if err != nil {
		return err
	}
	self := n.eng.Self()
	next := h.Rotate(n.ident.key.Public(), self.Generation, self.MaxVersion)
	n.eng.SetRetiredKeys(next.Retired)
	if !next.Equal(h) {
		if err := next.Save(path); err != nil {
			return err
		}
		if len(h.Current) > 0 {
			n.log.Warn().Str("key_id", n.ident.key.ID().String()).Str("retired_key_id", identity.IDOf(h.Current).String()).
				Uint64("generation", self.Generation).Uint64("through", self.MaxVersion).
				Msg("key rotated: the node record names the old key as retired; stored record proofs are signed again with the new key")
		}
	}
	if next.Rekey {
		next.Rekey = false
		n.signer.rekey, n.signer.history, n.signer.historyPath = true, next, path
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
	if err := s.history.Save(s.historyPath); err != nil {
		s.n.log.Error().Err(err).Msg("key history not cleared; the next start signs the stored proofs again")
		return
	}
	s.n.log.Info().Int("batches", batches).Msg("stored record proofs signed again with the new key")
}
