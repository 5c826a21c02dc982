package node

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/transport"
	"github.com/leviathan-gossip/leviathan/sync/wire"
)

// signedCluster is the key files of a few node ids and the pins of all
// of them, for configs with signed = true.
type signedCluster struct {
	dir   string
	keys  map[string]*identity.Key
	files map[string]string
	pins  map[string][]string
}

func newSignedCluster(t testing.TB, ids ...string) *signedCluster {
	t.Helper()
	c := &signedCluster{dir: t.TempDir(), keys: make(map[string]*identity.Key), files: make(map[string]string),
		pins: make(map[string][]string)}
	for _, id := range ids {
		path := filepath.Join(c.dir, id+".key")
		k, _, err := identity.LoadOrCreate(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.keys[id], c.files[id] = k, path
		c.pins[id] = []string{identity.FormatPublicKey(k.Public())}
	}
	return c
}

// config is fastConfig of id, signing when signed.
func (c *signedCluster) config(id string, signed bool, keys []string) Config {
	cfg := fastConfig(id)
	cfg.Port = 0
	cfg.EncryptKeys = keys
	if signed {
		cfg.KeyFile, cfg.TrustedKeys, cfg.Signed = c.files[id], c.pins, true
	}
	return cfg
}

// startSignedTrio starts ca, cb and cc, joined and converged.
func startSignedTrio(t *testing.T, c *signedCluster, signed bool, keys []string) []*Node {
	t.Helper()
	return startThree(t, func(id string) Config { return c.config(id, signed, keys) })
}

// heldOf is n's view of id: its entry as the core holds it.
func heldOf(n *Node, id string) (lsync.PeerInfo, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.eng.State().Peer(id)
}

// leftAt reports whether n holds id as gone on purpose.
func leftAt(n *Node, id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.eng.Left(id)
}

// ownRecord is n's signed record as it sends it.
func ownRecord(t *testing.T, n *Node) *identity.NodeRecord {
	t.Helper()
	n.mu.Lock()
	raw := n.eng.OwnRecord()
	n.mu.Unlock()
	r, err := identity.ParseNodeRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSignedRefusesForgedClaims: a member that holds the cluster key and
// a key of its own, but not P's, tries to make node A take a new
// address, generation, alias or leave for P. With signed = true every
// attempt is refused: P stays alive at its address and generation under
// its alias, A keeps P's data, and P's next write reaches A.
func TestSignedRefusesForgedClaims(t *testing.T) {
	key := testKeyB64(32)
	type victim struct {
		st  Status
		rec *identity.NodeRecord
	}
	var sc *signedCluster
	tests := []struct {
		name   string
		forge  func(t *testing.T, p victim, attacker string) []lsync.Message
		reason string // a rejected_total reason that must rise, or ""
	}{
		{"a new address", func(t *testing.T, p victim, at string) []lsync.Message {
			return []lsync.Message{&lsync.Syn{Cluster: "test", From: "cb", Digest: []lsync.DigestEntry{
				{ID: "cc", Addr: at, Generation: p.st.Generation, Heartbeat: p.st.Boot<<32 + p.st.Heartbeat + 60, RecordSeq: p.rec.Seq}}}}
		}, ""},
		{"a new generation at the member's address, in P's name", func(t *testing.T, p victim, at string) []lsync.Message {
			var out []lsync.Message
			for i := range uint64(4) {
				out = append(out, &lsync.Members{Cluster: "test", From: "cc", Up: 1, Members: []lsync.DigestEntry{
					{ID: "cc", Addr: at, Generation: p.st.Generation + 1000, Heartbeat: 1<<32 + i, RecordSeq: p.rec.Seq}}})
			}
			return out
		}, "unsigned_claim"},
		{"a new alias", func(t *testing.T, p victim, at string) []lsync.Message {
			return []lsync.Message{&lsync.Members{Cluster: "test", From: "cb", Up: 1, Members: []lsync.DigestEntry{
				{ID: "cc", Alias: "evil", Addr: p.st.Addr, Generation: p.st.Generation, Heartbeat: p.st.Boot<<32 + p.st.Heartbeat + 60, RecordSeq: p.rec.Seq}}}}
		}, ""},
		{"a leave just above P's heartbeat", func(t *testing.T, p victim, at string) []lsync.Message {
			return []lsync.Message{&lsync.Syn{Cluster: "test", From: "cb", Digest: []lsync.DigestEntry{
				{ID: "cc", Addr: p.st.Addr, Generation: p.st.Generation, Heartbeat: p.st.Boot<<32 + p.st.Heartbeat + 60, Leaving: true, RecordSeq: p.rec.Seq}}}}
		}, "unsigned_claim"},
		{"P's record signed with the member's own key", func(t *testing.T, p victim, at string) []lsync.Message {
			r, err := identity.SignNodeRecord(sc.keys["cm"], identity.NodeRecord{ID: "cc", Addr: at, Alias: "evil",
				Generation: p.st.Generation + 1000, Seq: p.rec.Seq + 1, Leaving: true})
			if err != nil {
				t.Fatal(err)
			}
			raw, err := r.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var out []lsync.Message
			for i := range uint64(3) {
				out = append(out, &lsync.Members{Cluster: "test", From: "cc", Up: 1, Records: [][]byte{raw}, Members: []lsync.DigestEntry{
					{ID: "cc", Alias: "evil", Addr: at, Generation: p.st.Generation + 1000, Heartbeat: 1<<32 + i, Leaving: i == 2, RecordSeq: p.rec.Seq + 1}}})
			}
			return out
		}, "untrusted_key"},
		{"P's record altered", func(t *testing.T, p victim, at string) []lsync.Message {
			r := *p.rec
			r.Addr, r.Seq, r.Leaving = at, p.rec.Seq+1, true
			raw, err := r.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			return []lsync.Message{&lsync.Members{Cluster: "test", From: "cb", Records: [][]byte{raw}, Members: []lsync.DigestEntry{
				{ID: "cc", Addr: at, Generation: p.st.Generation, Heartbeat: p.st.Boot<<32 + p.st.Heartbeat + 60, Leaving: true, RecordSeq: p.rec.Seq + 1}}}}
		}, "bad_signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc = newSignedCluster(t, "ca", "cb", "cc", "cm")
			nodes := startSignedTrio(t, sc, true, []string{key})
			a, c := nodes[0], nodes[2]
			before, _ := heldOf(a, "cc")
			k, _ := base64.StdEncoding.DecodeString(key)
			kr, err := transport.NewKeyring(k)
			if err != nil {
				t.Fatal(err)
			}
			at := newAttacker(t, a.Addr(), kr)
			rejectedBefore := rejectedCount(t, a, tt.reason)
			for i, m := range tt.forge(t, victim{st: c.Status(), rec: ownRecord(t, c)}, at.addr()) {
				b, err := wire.Encode(m)
				if err != nil {
					t.Fatal(err)
				}
				at.send(fmt.Sprint("forgery ", i), at.seal(b, at.addr()))
			}
			if tt.reason != "" {
				eventually(t, 10*time.Second, func() error {
					if got := rejectedCount(t, a, tt.reason); got <= rejectedBefore {
						return fmt.Errorf("leviathan_rejected_total{reason=%q} at %v", tt.reason, got)
					}
					return nil
				})
			}
			// The forgeries land within milliseconds. For a second, a's
			// view of P is watched: a forgery taken and then refuted by P
			// would show in between.
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for end := time.Now().Add(time.Second); time.Now().Before(end); <-tick.C {
				after, _ := heldOf(a, "cc")
				if after.Addr != before.Addr || after.Alias != "cc" || after.Generation != before.Generation || after.Leaving || leftAt(a, "cc") {
					t.Fatalf("a holds cc as %+v, was %+v", after, before)
				}
			}
			eventually(t, 10*time.Second, func() error { return allAlive(nodes, "cc") })
			if e, err := a.Get(context.Background(), "cc", "k"); err != nil || string(e.Value) != "v" {
				t.Fatalf("a lost cc's data: %+v, %v", e, err)
			}
			v, err := c.Set(context.Background(), "after", []byte("the forgery"))
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, func() error { return converged(nodes, "cc", "after", v) })
		})
	}
}

// rejectedCount reads leviathan_rejected_total{reason} of n (0 for "").
func rejectedCount(t *testing.T, n *Node, reason string) float64 {
	t.Helper()
	if reason == "" {
		return 0
	}
	return metricValue(t, n, "leviathan_rejected_total", map[string]string{"reason": reason})
}

// metricValue reads one counter of n's metrics (0 when absent).
func metricValue(t *testing.T, n *Node, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := n.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestUnsignedTakesAMovedGeneration is the contrast: without signing, the
// same member makes a node take P at the member's address under a new
// generation (dropping P's data there), by speaking as P from that
// address. This is the forgery signing exists for.
func TestUnsignedTakesAMovedGeneration(t *testing.T) {
	key := testKeyB64(32)
	sc := newSignedCluster(t, "ca", "cb", "cc")
	nodes := startSignedTrio(t, sc, false, []string{key})
	a, c := nodes[0], nodes[2]
	st := c.Status()
	k, _ := base64.StdEncoding.DecodeString(key)
	kr, err := transport.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	at := newAttacker(t, a.Addr(), kr)
	// The member repeats its word, with rising heartbeats, until it is
	// taken: a datagram lost on a loaded machine must not pass for a
	// refusal.
	var i uint64
	eventually(t, 10*time.Second, func() error {
		if p, _ := heldOf(a, "cc"); p.Generation != st.Generation+1000 || p.Addr != at.addr() {
			if i%10 == 0 {
				at.sendMsg("moved", &lsync.Members{Cluster: "test", From: "cc", Up: 1, Members: []lsync.DigestEntry{
					{ID: "cc", Addr: at.addr(), Generation: st.Generation + 1000, Heartbeat: 1<<32 + i/10}}})
			}
			i++
			return fmt.Errorf("a holds cc as %+v", p)
		}
		return nil
	})
}

// TestSignedAndUnsignedDecode: a node that signs and one that does not
// read each other's messages (the signed fields trail), though the
// signing node takes nothing of the other without its record.
func TestSignedAndUnsignedDecode(t *testing.T) {
	sc := newSignedCluster(t, "ca", "cb")
	s := startNode(t, sc.config("ca", true, nil))
	cfg := sc.config("cb", false, nil)
	cfg.Seeds = []string{s.Addr()}
	u := startNode(t, cfg)
	eventually(t, 10*time.Second, func() error {
		for _, n := range []*Node{s, u} {
			if got := n.counters.in.msgs[lsync.MsgMembers].Load() + n.counters.in.msgs[lsync.MsgSyn].Load(); got < 3 {
				return fmt.Errorf("%s received %d member lists and Syns", n.ID(), got)
			}
		}
		return nil
	})
	for _, n := range []*Node{s, u} {
		if bad := n.counters.in.msgs[undecodable].Load(); bad > 0 {
			t.Errorf("%s could not decode %d messages", n.ID(), bad)
		}
	}
	if _, known := heldOf(s, "cb"); known {
		t.Error("the signing node took the unsigned node without a record")
	}
	if _, known := heldOf(u, "ca"); !known {
		t.Error("the unsigned node did not take the signing node's entry")
	}
}

// TestSignedLeaveAndReturn: a signing node's leave is taken (its own
// record says so), and so is its return wiped, at another address and
// under a new generation, which only its new record states.
func TestSignedLeaveAndReturn(t *testing.T) {
	sc := newSignedCluster(t, "ca", "cb", "cc")
	nodes := startSignedTrio(t, sc, true, nil)
	a, c := nodes[0], nodes[2]
	gen := c.Status().Generation
	if err := c.Leave(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if p, ok := peerOf(a, "cc"); !ok || p.State != StateLeft {
			return fmt.Errorf("a holds cc %v", p.State)
		}
		return nil
	})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Without its identity state, a node on a new store (in memory) starts
	// a new generation; here on a new port too.
	if err := os.Remove(identityStatePath(sc.files["cc"])); err != nil {
		t.Fatal(err)
	}
	cfg := sc.config("cc", true, nil)
	cfg.Seeds = []string{a.Addr()}
	back := startNode(t, cfg)
	if back.Status().Generation == gen || back.Addr() == c.Addr() {
		t.Fatalf("back at %s, generation %d: want both new", back.Addr(), back.Status().Generation)
	}
	v, err := back.Set(context.Background(), "again", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, func() error {
		p, _ := heldOf(a, "cc")
		if p.Addr != back.Addr() || p.Generation != back.Status().Generation {
			return fmt.Errorf("a holds cc at %s, generation %d", p.Addr, p.Generation)
		}
		return converged([]*Node{a, nodes[1]}, "cc", "again", v)
	})
	for _, n := range nodes[:2] {
		if got := rejectedCount(t, n, "unsigned_claim") + rejectedCount(t, n, "bad_signature") + rejectedCount(t, n, "untrusted_key"); got > 0 {
			t.Errorf("%s refused %v records or claims of genuine nodes", n.ID(), got)
		}
	}
}
