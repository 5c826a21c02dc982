package node

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/leviathan-gossip/leviathan/store"
)

// Cursor is a position in one peer's changefeed (see Changes): everything
// of that generation up to that version has been read. The zero Cursor
// reads from the start.
type Cursor = store.Cursor

// ChangePage is one read of a changefeed.
type ChangePage struct {
	// Deltas changed after the cursor, ascending by version, each key at
	// its current value (a key changed twice appears once). Deletes have
	// Deleted set and no value.
	Deltas []Delta `json:"deltas"`
	// Next is the cursor to store with the deltas and read from next.
	Next Cursor `json:"next"`
	// More is set when the page stopped at its limit, or at PageMaxBytes,
	// with more to read.
	More bool `json:"more"`
	// Proofs, with signed = true, prove the deltas by their origin's key,
	// OriginKey, taken from its signed node record: check them with
	// VerifyPage before taking the deltas. Deltas no proof covers (the
	// origin has not signed them yet) are at the end of a page.
	Proofs    []PageProof `json:"proofs,omitempty"`
	OriginKey []byte      `json:"origin_key,omitempty"`
	// OriginRecord is the origin's signed node record
	// (identity.NodeRecord's encoding, signed by OriginKey) when it names
	// retired keys: proofs its origin signed before a key rotation verify
	// under them, and VerifyPage takes them from it. Nil otherwise.
	OriginRecord []byte `json:"origin_record,omitempty"`
}

// Changefeed errors. After either, drop what is held of that peer and read
// again from the zero Cursor.
var (
	// ErrGenerationChanged: the peer was wiped and came back, or the
	// node's copy of it was refilled.
	ErrGenerationChanged = store.ErrGenerationChanged
	// ErrCompacted: deletes after the cursor were collected
	// (tombstone_grace passed), so they can no longer be listed.
	ErrCompacted = store.ErrCompacted
	// ErrCursorAhead: the cursor's version is above what the node holds of
	// the peer at that generation: the node is still catching up (after a
	// restart on a new or older store), or the cursor is mistyped or from
	// a node further ahead. Continuing from it would skip the changes in
	// between; a consumer waits and asks again.
	ErrCursorAhead = errors.New("node: cursor ahead of the peer's data")
	// ErrNoChangefeed: the node's store (see WithStore) is no
	// ChangeStore.
	ErrNoChangefeed = errors.New("node: store has no changefeed")
)

// PageMaxBytes bounds what one page of Changes, GET /changes or GET
// /kv/{peer} carries, counted about as its JSON writes keys and values
// (text and base64), so that a page of large values stays one a reader
// and the node's encoder can hold. A page stops before the record that
// would pass it, but always holds at least one.
const PageMaxBytes = 4 << 20

// Changes reads the durable records of peer (an id or alias, "" or "self"
// for this node) changed after cur, at most limit of them (limit <= 0
// means 1000) and at most PageMaxBytes of them, straight from the store:
// it never waits for gossip.
//
// It is the way for an application to ingest deltas into its own storage
// without ever re-reading everything: store Next in the same transaction
// as the deltas applied, and resume from it after any crash of either
// side. Events (Subscribe) say when to read; the cursor says from where.
//
// ctx is checked before the store is read; one page's read is not
// interrupted.
func (n *Node) Changes(ctx context.Context, peer string, cur Cursor, limit int) (ChangePage, error) {
	if err := ctx.Err(); err != nil {
		return ChangePage{}, fmt.Errorf("node: changes of %q: %w", peer, err)
	}
	feed := n.caps.feed
	if feed == nil {
		return ChangePage{}, ErrNoChangefeed
	}
	if peer == "self" {
		peer = ""
	}
	n.mu.Lock()
	id, known := n.resolve(peer)
	view, _ := n.eng.View(id)
	n.mu.Unlock()
	if !known {
		return ChangePage{}, fmt.Errorf("%w %q", ErrUnknownPeer, peer)
	}
	// Generation 0 is a cursor's start: it takes the peer's current one. A
	// later generation is the store's to judge (ErrGenerationChanged).
	if (cur.Generation == 0 || cur.Generation == view.Generation) && cur.Version > view.MaxVersion {
		return ChangePage{}, fmt.Errorf("%w: %+v, %q is at generation %d, version %d",
			ErrCursorAhead, cur, id, view.Generation, view.MaxVersion)
	}
	var p store.Page
	var err error
	pf, proven := feed.(ProofChangeStore)
	proven = proven && n.cfg.Signed
	if proven {
		p, err = pf.ChangesWithProofs(id, cur, limit)
	} else {
		p, err = feed.Changes(id, cur, limit)
	}
	switch {
	case errors.Is(err, store.ErrUnknownPeer):
		// Known to gossip but nothing durable yet.
		return ChangePage{Next: cur}, nil
	case err != nil:
		return ChangePage{}, readErr(err, "changes of %q", id)
	}
	out := fitPage(id, p)
	if proven {
		for i, r := range p.Records[:len(out.Deltas)] {
			if r.Tombstone {
				out.Deltas[i].Deletion = r.Value
			}
		}
		pageProofs(&out, p)
		out.OriginKey, out.OriginRecord = n.origin(id)
	}
	return out, nil
}

// fitPage turns a store page into deltas, cut at PageMaxBytes. The
// records ascend by version, so a page cut after a record resumes right
// after it with the cursor at that record's version; index entries
// skipped between it and the next record are stale and skipped again.
func fitPage(id string, p store.Page) ChangePage {
	out := ChangePage{Next: p.Next, More: p.More, Deltas: make([]Delta, 0, len(p.Records))}
	budget := PageMaxBytes
	for _, r := range p.Records {
		d := Delta{Peer: id, Key: r.Key, Value: r.Value, Version: r.Version, Deleted: r.Tombstone}
		if r.Tombstone {
			d.Value = nil // a tombstone's value is its deletion time, not data
		}
		size := JSONSize(d.Key, d.Value)
		if size > budget && len(out.Deltas) > 0 {
			out.Next.Version, out.More = out.Deltas[len(out.Deltas)-1].Version, true
			break
		}
		budget -= size
		out.Deltas = append(out.Deltas, d)
	}
	return out
}

// JSONSize is about the bytes a key and its value take in a page's JSON
// (Delta's, and the admin API's /kv): the value as text when it is UTF-8,
// always in base64, and the field names and version around them. Pages
// are bounded with it (PageMaxBytes).
func JSONSize(key string, value []byte) int {
	size := 64 + len(key) + base64.StdEncoding.EncodedLen(len(value))
	if utf8.Valid(value) {
		size += len(value)
	}
	return size
}
