package proof

import (
	"crypto/ed25519"
	"fmt"

	"github.com/leviathan-gossip/leviathan/sync/identity"
)

// Proof shows that some records of one signed batch are its origin's: the
// signed header, which of the batch's records it covers (Held, as spans
// of their indices in version order) and, in tree order, the hash of each
// maximal subtree that holds none of them. Given the held records, it
// rebuilds the signed root, and it proves nothing about any other record.
//
// The same proof is what a sender sends with a slice of the batch, and
// what a holder keeps beside the records it holds: after compaction or
// tombstone collection it keeps the proof of the records left (Subset),
// and it answers any later request, from the origin or not, with the
// proof of the records asked (Subset again). Its hashes number at most
// one per record dropped, fewer when dropped records are neighbours.
type Proof struct {
	Signed
	Held   []Span
	Hashes []Hash
}

// Seal signs recs (ascending by version, at most MaxLeaves) as one batch
// of origin at generation, and returns the proof of all of them and their
// leaf hashes.
func Seal(k *identity.Key, origin string, generation uint64, recs []Record) (*Proof, []Hash, error) {
	if len(recs) == 0 || len(recs) > MaxLeaves {
		return nil, nil, fmt.Errorf("proof: seal: %d records: want 1 to %d", len(recs), MaxLeaves)
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Version <= recs[i-1].Version {
			return nil, nil, fmt.Errorf("proof: seal: version %d after %d", recs[i].Version, recs[i-1].Version)
		}
	}
	leaves := Leaves(origin, recs)
	s, err := Sign(k, Header{Origin: origin, Generation: generation, First: recs[0].Version,
		Last: recs[len(recs)-1].Version, Count: len(recs), Root: RootOf(leaves)})
	if err != nil {
		return nil, nil, err
	}
	return Full(s), leaves, nil
}

// Full is the proof of every record of a signed batch: it needs no
// hashes.
func Full(s Signed) *Proof {
	return &Proof{Signed: s, Held: []Span{{0, s.Count}}}
}

// Len is the number of records p covers.
func (p *Proof) Len() int { return CountOf(p.Held) }

// Index returns the batch index of p's j-th held record (0 <= j < Len).
func (p *Proof) Index(j int) int {
	for _, s := range p.Held {
		if j < s.Len() {
			return s.Lo + j
		}
		j -= s.Len()
	}
	return -1
}

// check reports what makes p malformed whatever its records: its header,
// its spans, or a number of hashes other than its spans call for.
func (p *Proof) check() error {
	if err := p.Header.check(); err != nil {
		return err
	}
	if err := checkSpans(p.Held, p.Count); err != nil {
		return err
	}
	if want := hashCount(p.Count, p.Held); len(p.Hashes) != want {
		return fmt.Errorf("%w: %d hashes, the leaves held call for %d", ErrMalformed, len(p.Hashes), want)
	}
	return nil
}

// Root rebuilds the root from leaves, the hashes of the held records in
// order (LeafHash with the header's origin).
func (p *Proof) Root(leaves []Hash) (Hash, error) {
	return p.root(leaves)
}

func (p *Proof) root(leaves []Hash) (Hash, error) {
	if err := p.check(); err != nil {
		return Hash{}, err
	}
	if n := p.Len(); len(leaves) != n {
		return Hash{}, fmt.Errorf("%w: %d records for a proof of %d", ErrMismatch, len(leaves), n)
	}
	return rootFrom(p.Count, p.Held, leaves, p.Hashes), nil
}

// Match reports whether leaves, with p's hashes, rebuild the root p's
// header names; it does not check the signature.
func (p *Proof) Match(leaves []Hash) error {
	root, err := p.root(leaves)
	if err != nil {
		return err
	}
	if root != p.Header.Root {
		return fmt.Errorf("%w: batch of %q at versions %d to %d", ErrMismatch, p.Origin, p.First, p.Last)
	}
	return nil
}

// Bind sets p's root to the one leaves rebuild with p's hashes: what a
// proof parsed from its wire form needs before Subset or Merge, when its
// records were verified before (the holder's own store). It checks no
// signature.
func (p *Proof) Bind(leaves []Hash) error {
	root, err := p.root(leaves)
	if err != nil {
		return err
	}
	p.Header.Root = root
	return nil
}

// Verify reports whether the records whose leaf hashes are leaves are the
// held records of a batch that pub signed: it rebuilds the root from them
// and p's hashes, checks that pub signed the header with that root, and
// only then sets it as p's. Any record or hash altered rebuilds another
// root, which the signature does not cover. With a cache, a header
// already verified is not verified again.
func (p *Proof) Verify(pub ed25519.PublicKey, leaves []Hash, cache *Verified) error {
	root, err := p.root(leaves)
	if err != nil {
		return err
	}
	s := p.Signed
	s.Header.Root = root
	if cache != nil {
		err = cache.Verify(pub, &s)
	} else {
		err = s.Verify(pub)
	}
	if err != nil {
		return err
	}
	p.Header.Root = root
	return nil
}

// Subset returns the proof of some of p's held records, and their leaf
// hashes: those at the positions keep (spans of positions among the held
// records, 0 to Len), given leaves, the hashes of all of p's held records.
// It is how a holder drops records from its proof (compaction, collected
// tombstones) and how it proves a slice of a batch it sends. p must have
// its root (from Seal, Verify or Bind): the result is checked to rebuild
// it.
func (p *Proof) Subset(leaves []Hash, keep []Span) (*Proof, []Hash, error) {
	if err := p.check(); err != nil {
		return nil, nil, err
	}
	n := p.Len()
	if len(leaves) != n {
		return nil, nil, fmt.Errorf("%w: %d leaf hashes for a proof of %d", ErrMismatch, len(leaves), n)
	}
	if err := checkSpans(keep, n); err != nil {
		return nil, nil, fmt.Errorf("proof: subset: %w", err)
	}
	if len(keep) == 1 && keep[0].Lo == 0 && keep[0].Hi == n {
		if err := p.Match(leaves); err != nil {
			return nil, nil, err
		}
		return p, leaves, nil
	}
	t, err := NewTree(p, leaves)
	if err != nil {
		return nil, nil, err
	}
	return t.Subset(keep)
}

// Merge returns the proof of every record that a or b holds, two proofs
// of the same signed batch with their roots, with their leaf hashes: how
// a holder that received a batch in slices, in several messages, keeps
// one proof of it.
func Merge(a *Proof, aLeaves []Hash, b *Proof, bLeaves []Hash) (*Proof, []Hash, error) {
	t, err := NewTree(a, aLeaves)
	if err != nil {
		return nil, nil, fmt.Errorf("proof: merge: %w", err)
	}
	if err := t.Add(b, bLeaves); err != nil {
		return nil, nil, fmt.Errorf("proof: merge: %w", err)
	}
	p, leaves := t.Proof()
	return p, leaves, nil
}
