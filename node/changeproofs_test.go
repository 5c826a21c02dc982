package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestChangefeedCarriesProofs: with signed = true, a page of another node's
// changes carries its origin's key and proofs, by which an application
// checks every delta itself, deletes included; a delta altered after the
// node served it fails the check, and so does a page cut short of its
// proofs. Without signing a page carries none.
func TestChangefeedCarriesProofs(t *testing.T) {
	sc := newSignedCluster(t, "ca", "cb")
	a := startNode(t, sc.config("ca", true, nil))
	cfgB := sc.config("cb", true, nil)
	cfgB.Seeds = []string{a.Addr()}
	b := startNode(t, cfgB)
	ctx := context.Background()
	var last uint64
	for i := range 40 {
		v, err := a.Set(ctx, fmt.Sprintf("key-%02d", i), []byte(fmt.Sprint("value ", i)))
		if err != nil {
			t.Fatal(err)
		}
		last = v
	}
	v, err := a.Delete(ctx, "key-07")
	if err != nil {
		t.Fatal(err)
	}
	last = v
	eventually(t, 20*time.Second, func() error {
		for _, p := range b.Peers() {
			if p.ID == "ca" && p.MaxVersion >= last {
				return nil
			}
		}
		return fmt.Errorf("cb does not hold ca up to %d", last)
	})

	var page ChangePage
	eventually(t, 10*time.Second, func() error {
		page, err = b.Changes(ctx, "ca", Cursor{}, 1000)
		if err != nil {
			return err
		}
		return VerifyPage(page, page.OriginKey)
	})
	if len(page.Deltas) != 40 || !bytes.Equal(page.OriginKey, sc.keys["ca"].Public()) {
		t.Fatalf("%d deltas, origin key %x; want 40 and a's key", len(page.Deltas), page.OriginKey)
	}
	deleted := 0
	for _, d := range page.Deltas {
		if d.Deleted {
			deleted++
		}
	}
	if deleted != 1 {
		t.Fatalf("%d deletes in the page, want 1", deleted)
	}

	tests := []struct {
		name   string
		change func(p *ChangePage)
	}{
		{"a value altered", func(p *ChangePage) { p.Deltas[3].Value = []byte("forged") }},
		{"a delete's bytes altered", func(p *ChangePage) {
			for i := range p.Deltas {
				if p.Deltas[i].Deleted {
					p.Deltas[i].Deletion = []byte("forged")
				}
			}
		}},
		{"a proof dropped", func(p *ChangePage) { p.Proofs = p.Proofs[:len(p.Proofs)-1] }},
		{"another key", func(p *ChangePage) { p.OriginKey = sc.keys["cb"].Public() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := page
			p.Deltas = append([]Delta(nil), page.Deltas...)
			p.Proofs = append([]PageProof(nil), page.Proofs...)
			tc.change(&p)
			if err := VerifyPage(p, p.OriginKey); !errors.Is(err, ErrPageUnproven) {
				t.Fatalf("VerifyPage: %v, want ErrPageUnproven", err)
			}
		})
	}
}

// TestUnsignedChangefeedHasNoProofs: a node without signing serves pages
// as they are, with no proofs or key.
func TestUnsignedChangefeedHasNoProofs(t *testing.T) {
	a := startNode(t, fastConfig("a"))
	if _, err := a.Set(context.Background(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	page, err := a.Changes(context.Background(), "self", Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Deltas) != 1 || page.Proofs != nil || page.OriginKey != nil {
		t.Fatalf("page %+v: want one delta and no proofs", page)
	}
	if err := VerifyPage(page, nil); !errors.Is(err, ErrPageUnproven) {
		t.Fatalf("an unsigned page verified: %v", err)
	}
}
