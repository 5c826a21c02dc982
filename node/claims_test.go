package node

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/transport"
	"github.com/leviathan-gossip/leviathan/sync/wire"
)

// startTrio starts three nodes on real loopback sockets, joined and
// converged on a key of each.
func startTrio(t *testing.T, keys []string) []*Node {
	t.Helper()
	return startThree(t, func(id string) Config {
		cfg := fastConfig(id)
		cfg.Port = 0
		cfg.EncryptKeys = keys
		return cfg
	})
}

// startThree starts ca, cb and cc with the configs cfgOf gives, cb and cc
// seeded by ca, and waits until each holds a key written at each, and cc
// is alive everywhere.
func startThree(t *testing.T, cfgOf func(id string) Config) []*Node {
	t.Helper()
	var nodes []*Node
	for i, id := range []string{"ca", "cb", "cc"} {
		cfg := cfgOf(id)
		if i > 0 {
			cfg.Seeds = []string{nodes[0].Addr()}
		}
		nodes = append(nodes, startNode(t, cfg))
	}
	for _, n := range nodes {
		v, err := n.Set(context.Background(), "k", []byte("v"))
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, func() error { return converged(nodes, n.ID(), "k", v) })
	}
	eventually(t, 10*time.Second, func() error { return allAlive(nodes, "cc") })
	return nodes
}

// allAlive reports whether every node but id itself holds id alive.
func allAlive(nodes []*Node, id string) error {
	for _, n := range nodes {
		if n.ID() == id {
			continue
		}
		p, ok := peerOf(n, id)
		if !ok || p.State != StateAlive {
			return fmt.Errorf("%s holds %s %v (known %v)", n.ID(), id, p.State, ok)
		}
	}
	return nil
}

// TestForgedClaimsCostNothing sends, from a socket of no member, each of
// the forgeries that once evicted or silenced a node to one node of three:
// votes and a leave at an absurd heartbeat, a watermark near 2^62, and
// deltas of ten thousand made-up nodes. Every node keeps (or takes back)
// the victim alive, the victim's next write reaches every node, and no
// made-up node is held anywhere.
func TestForgedClaimsCostNothing(t *testing.T) { testForgedClaims(t, nil) }

// TestForgedClaimsByAMember is the same with a cluster key, sent by a
// member that holds it: the bounds, not the key, stop each forgery.
func TestForgedClaimsByAMember(t *testing.T) {
	testForgedClaims(t, []string{testKeyB64(32)})
}

func testForgedClaims(t *testing.T, keys []string) {
	const far = uint64(1) << 62
	// refuted: the forgery is believable, so it was taken, and undone by
	// the victim's refutation or by its own word overruling it where it
	// was taken (which shows it was taken, key or not).
	tests := []struct {
		name    string
		forge   func(a, b, c Status) []lsync.Message
		refuted bool
	}{
		{"votes far above the victim's heartbeat", func(a, b, c Status) []lsync.Message {
			return []lsync.Message{&lsync.Suspect{Cluster: "test", From: a.ID, Votes: []lsync.Vote{
				{ID: c.ID, Generation: c.Generation, Heartbeat: far, By: a.ID},
				{ID: c.ID, Generation: c.Generation, Heartbeat: far, By: b.ID}}}}
		}, false},
		{"votes just above the victim's heartbeat", func(a, b, c Status) []lsync.Message {
			hb := c.Boot<<32 + c.Heartbeat + 2
			return []lsync.Message{&lsync.Suspect{Cluster: "test", From: b.ID, Votes: []lsync.Vote{
				{ID: c.ID, Generation: c.Generation, Heartbeat: hb, By: a.ID},
				{ID: c.ID, Generation: c.Generation, Heartbeat: hb, By: b.ID}}}}
		}, true},
		{"a leave far above", func(a, b, c Status) []lsync.Message {
			return []lsync.Message{&lsync.Syn{Cluster: "test", From: b.ID, Digest: []lsync.DigestEntry{
				{ID: c.ID, Addr: c.Addr, Generation: c.Generation, Heartbeat: far, Leaving: true}}}}
		}, false},
		{"a leave just above", func(a, b, c Status) []lsync.Message {
			return []lsync.Message{&lsync.Syn{Cluster: "test", From: b.ID, Digest: []lsync.DigestEntry{
				{ID: c.ID, Addr: c.Addr, Generation: c.Generation, Heartbeat: c.Boot<<32 + c.Heartbeat + 60, Leaving: true}}}}
		}, true},
		{"a watermark near 2^62", func(a, b, c Status) []lsync.Message {
			return []lsync.Message{&lsync.Ack{Cluster: "test", From: b.ID, Deltas: []lsync.NodeDelta{
				{ID: c.ID, Generation: c.Generation, From: c.MaxVersion, To: far, GCVersion: far}}}}
		}, false},
		{"ten thousand made-up nodes", func(a, b, c Status) []lsync.Message {
			var out []lsync.Message
			for d := 0; d < 20; d++ {
				m := &lsync.Ack{Cluster: "test", From: b.ID}
				for i := 0; i < 500; i++ {
					m.Deltas = append(m.Deltas, lsync.NodeDelta{ID: fmt.Sprintf("made-up-%d-%d", d, i), Generation: 1, To: 1,
						Records: []lsync.Record{{Key: "x", Value: []byte("y"), Version: 1}}})
				}
				out = append(out, m)
			}
			return out
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := startTrio(t, keys)
			a, b, c := nodes[0], nodes[1], nodes[2]
			var kr *transport.Keyring
			if len(keys) > 0 {
				k, _ := base64.StdEncoding.DecodeString(keys[0])
				kr, _ = transport.NewKeyring(k)
			}
			at := newAttacker(t, a.Addr(), kr)
			for i, m := range tt.forge(a.Status(), b.Status(), c.Status()) {
				b, err := wire.Encode(m)
				if err != nil {
					t.Fatal(err)
				}
				if len(b) > 60_000 {
					at.stream(fmt.Sprint("forgery ", i), hello(at.addr()), frame(at.seal(b, at.addr())))
				} else {
					at.send(fmt.Sprint("forgery ", i), at.seal(b, at.addr()))
				}
			}
			// The forgery lands within milliseconds, and an eviction once
			// lasted for good: alive a second on is the forgery refuted,
			// not yet read.
			settled := time.Now().Add(time.Second)
			eventually(t, 10*time.Second, func() error {
				if time.Now().Before(settled) {
					return fmt.Errorf("settling")
				}
				return allAlive(nodes, c.ID())
			})
			if tt.refuted {
				eventually(t, 10*time.Second, func() error {
					c.mu.Lock()
					n := c.eng.Refutations() + c.eng.Stats().ClaimsRefuted
					c.mu.Unlock()
					a.mu.Lock()
					n += a.eng.Stats().Overruled
					a.mu.Unlock()
					if n == 0 {
						return fmt.Errorf("the forgery was neither refuted nor overruled")
					}
					return nil
				})
			}
			v, err := c.Set(context.Background(), "after", []byte("the forgery"))
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, func() error { return converged(nodes, c.ID(), "after", v) })
			for _, n := range nodes {
				if got := len(n.Peers()); got != 2 {
					t.Fatalf("%s holds %d peers, want the 2 real ones", n.ID(), got)
				}
				if p, _ := peerOf(n, c.ID()); n != c && p.MaxVersion >= far {
					t.Fatalf("%s holds %s's watermark at %d", n.ID(), c.ID(), p.MaxVersion)
				}
			}
			if !slices.ContainsFunc(c.LivePeers(), func(p Peer) bool { return p.ID == a.ID() }) {
				t.Fatalf("the victim lost sight of %s", a.ID())
			}
		})
	}
}

// peerOf is n's view of the peer id.
func peerOf(n *Node, id string) (Peer, bool) {
	for _, p := range n.Peers() {
		if p.ID == id {
			return p, true
		}
	}
	return Peer{}, false
}
