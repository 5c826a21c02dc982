package node

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/leviathan-gossip/leviathan/store"
	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/proof"
)

// PageProof proves Count deltas of a ChangePage from First on: the proof,
// in package sync/proof's wire form, that their origin signed them, all
// in one signed batch of its records. Check it with VerifyPage, or with
// package sync/proof directly (proof.Parse with the page's peer and
// generation, then Proof.Verify with the leaves of the deltas' records).
type PageProof struct {
	First int    `json:"first"`
	Count int    `json:"count"`
	Proof []byte `json:"proof"`
}

// ProofChangeStore is a ChangeStore that keeps its records' proofs and
// reads them with a page (store.Badger does). With signed = true, Changes
// hands them on.
type ProofChangeStore interface {
	ChangesWithProofs(peer string, cur store.Cursor, limit int) (store.Page, error)
}

// ErrPageUnproven is what VerifyPage returns for a page with a delta that
// no proof covers, or one whose proof does not verify: its records are
// not known to be their origin's.
var ErrPageUnproven = errors.New("node: change page not proven by its origin")

// pageProofs cuts, for the deltas of out (the first len(out.Deltas)
// records of p, whose proofs p holds), the proof of each run of deltas
// from one signed batch.
func pageProofs(out *ChangePage, p store.Page) {
	n := min(len(out.Deltas), len(p.Proofs))
	for i := 0; i < n; {
		t := p.Proofs[i].Tree
		if t == nil {
			i++
			continue
		}
		j := i
		var spans []proof.Span
		for j < n && p.Proofs[j].Tree == t {
			pos := p.Proofs[j].Pos
			if k := len(spans) - 1; k >= 0 && spans[k].Hi == pos {
				spans[k].Hi++
			} else {
				spans = append(spans, proof.Span{Lo: pos, Hi: pos + 1})
			}
			j++
		}
		if pr, _, err := t.Subset(spans); err == nil {
			if b, err := pr.AppendWire(nil); err == nil {
				out.Proofs = append(out.Proofs, PageProof{First: i, Count: j - i, Proof: b})
			}
		}
		i = j
	}
}

// VerifyPage checks that every delta of page is proven by the page's
// proofs under key, the public key of the page's peer (the page's
// OriginKey, which the node took from the peer's signed node record; an
// application that pins keys passes its own), or under a key retired
// for the proof's batch that the page's OriginRecord names, when key
// signed that record. It returns ErrPageUnproven, wrapped with what
// failed, for a delta no proof covers or a proof that does not verify.
func VerifyPage(page ChangePage, key ed25519.PublicKey) error {
	if len(page.Deltas) == 0 {
		return nil
	}
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: no origin key", ErrPageUnproven)
	}
	retired, err := pageRetired(page, key)
	if err != nil {
		return err
	}
	covered := 0
	for _, pp := range page.Proofs {
		if pp.First != covered || pp.Count <= 0 || pp.First+pp.Count > len(page.Deltas) {
			return fmt.Errorf("%w: proof of deltas %d to %d, %d proven before it", ErrPageUnproven, pp.First, pp.First+pp.Count, covered)
		}
		ds := page.Deltas[pp.First : pp.First+pp.Count]
		pr, err := proof.Parse(pp.Proof, ds[0].Peer, page.Next.Generation)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrPageUnproven, err)
		}
		leaves := make([]proof.Hash, len(ds))
		for i := range ds {
			if ds[i].Peer != ds[0].Peer {
				return fmt.Errorf("%w: one proof for two peers", ErrPageUnproven)
			}
			leaves[i] = proof.LeafHash(ds[i].Peer, ds[i].signedRecord())
		}
		if err := verifyRetired(pr, key, retired, leaves); err != nil {
			return fmt.Errorf("%w: deltas %d to %d: %w", ErrPageUnproven, pp.First, pp.First+pp.Count, err)
		}
		covered += pp.Count
	}
	if covered != len(page.Deltas) {
		return fmt.Errorf("%w: %d of %d deltas proven", ErrPageUnproven, covered, len(page.Deltas))
	}
	return nil
}

// signedRecord is the record as its origin signed it: a delete's bytes
// are its Deletion.
func (d *Delta) signedRecord() *proof.Record {
	r := &proof.Record{Key: d.Key, Value: d.Value, Version: d.Version, Tombstone: d.Deleted}
	if d.Deleted {
		r.Value = d.Deletion
	}
	return r
}

// pageRetired is the retired keys of the page's OriginRecord, once the
// record is known to be the page's peer's, signed by key.
func pageRetired(page ChangePage, key ed25519.PublicKey) ([]identity.RetiredKey, error) {
	if page.OriginRecord == nil {
		return nil, nil
	}
	rec, err := identity.ParseNodeRecord(page.OriginRecord)
	if err == nil && rec.ID != page.Deltas[0].Peer {
		err = fmt.Errorf("record of %q", rec.ID)
	}
	if err == nil {
		err = rec.Verify(onlyKey(key), time.Time{})
	}
	if err != nil {
		return nil, fmt.Errorf("%w: origin record: %w", ErrPageUnproven, err)
	}
	return rec.Retired, nil
}

// verifyRetired verifies pr under key or, failing its signature, under a
// retired key that covers its batch.
func verifyRetired(pr *proof.Proof, key ed25519.PublicKey, retired []identity.RetiredKey, leaves []proof.Hash) error {
	err := pr.Verify(key, leaves, nil)
	if err == nil || !errors.Is(err, proof.ErrBadSignature) {
		return err
	}
	for i := range retired {
		if r := &retired[i]; r.Covers(pr.Generation, pr.Last) && pr.Verify(r.PublicKey, leaves, nil) == nil {
			return nil
		}
	}
	return err
}

// onlyKey is a trust that takes one key, for any id: the key an
// application verifies a page with.
type onlyKey ed25519.PublicKey

func (k onlyKey) Check(_ string, pub ed25519.PublicKey, _ []byte, _ time.Time) error {
	if !pub.Equal(ed25519.PublicKey(k)) {
		return fmt.Errorf("%w: %s is not the origin key", identity.ErrUntrusted, identity.IDOf(pub))
	}
	return nil
}

func (onlyKey) Revoked(ed25519.PublicKey) bool { return false }

// origin is the public key of id's verified node record, and the record
// when it names retired keys; nil without one (signing off).
func (n *Node) origin(id string) (key, record []byte) {
	n.mu.Lock()
	rec, ok := n.eng.Record(id)
	n.mu.Unlock()
	if !ok || rec == nil {
		return nil, nil
	}
	if len(rec.Retired) > 0 {
		// The record is immutable once held: encoded outside the lock.
		record, _ = rec.Marshal()
	}
	return slices.Clone(rec.PublicKey), record
}
