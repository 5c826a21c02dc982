package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/node"
)

// liveKeys is how many keys writeKeys leaves live.
const liveKeys = 8

// writeKeys makes 20 writes through n's admin API that leave liveKeys
// keys: overwrites, deletes of keys held, keys set again after their
// delete. wait runs after each step, so that a replica takes each step in
// an exchange of its own.
func writeKeys(t *testing.T, srv *httptest.Server, wait func()) {
	t.Helper()
	steps := [][]string{
		{"PUT k0", "PUT k1", "PUT k2", "PUT k3", "PUT k4", "PUT k5", "PUT k6", "PUT k7", "PUT k8", "PUT k9"},
		{"PUT k0", "PUT k1", "PUT k2"},          // overwrites: still 10
		{"DELETE k3", "DELETE k4", "DELETE k5"}, // 7
		{"PUT k3"},                              // set again after its delete: 8
		{"PUT k3"},                              // and overwritten
		{"DELETE k9"},                           // 7
		{"PUT k9"},                              // 8
	}
	writes := 0
	for i, step := range steps {
		for _, w := range step {
			method, key, _ := strings.Cut(w, " ")
			req, err := http.NewRequest(method, srv.URL+"/kv/"+key, strings.NewReader(fmt.Sprint("value ", i)))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: status %d", w, resp.StatusCode)
			}
			writes++
		}
		wait()
	}
	if writes != 20 {
		t.Fatalf("%d writes, want 20", writes)
	}
}

// surfaces checks every surface of n that shows keys: its own in Status,
// /status (the status page's header) and the leviathan_keys metric, the
// other node's (id) in Peers and /peers (the status page's table).
func surfaces(n *node.Node, srv *httptest.Server, other string) error {
	if k := n.Status().Keys; k != liveKeys {
		return fmt.Errorf("%s: Status.Keys %d", n.ID(), k)
	}
	var st struct {
		Keys int `json:"keys"`
	}
	resp, err := srv.Client().Get(srv.URL + "/status")
	if err != nil {
		return err
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	_ = resp.Body.Close()
	if err != nil || st.Keys != liveKeys {
		return fmt.Errorf("%s: /status keys %d (%v)", n.ID(), st.Keys, err)
	}
	if k, err := keysMetric(n); err != nil || k != liveKeys {
		return fmt.Errorf("%s: leviathan_keys %v (%v)", n.ID(), k, err)
	}
	held := -1
	for _, p := range n.Peers() {
		if p.ID == other {
			held = p.Keys
		}
	}
	if held != liveKeys {
		return fmt.Errorf("%s: Peers() shows %d keys of %s", n.ID(), held, other)
	}
	var peers []node.Peer
	resp, err = srv.Client().Get(srv.URL + "/peers")
	if err != nil {
		return err
	}
	err = json.NewDecoder(resp.Body).Decode(&peers)
	_ = resp.Body.Close()
	if err != nil || len(peers) != 1 || peers[0].ID != other || peers[0].Keys != liveKeys {
		return fmt.Errorf("%s: /peers %+v (%v)", n.ID(), peers, err)
	}
	return nil
}

// keysMetric is n's leviathan_keys gauge, as a scrape gathers it.
func keysMetric(n *node.Node) (float64, error) {
	fams, err := n.Gatherer().Gather()
	if err != nil {
		return 0, err
	}
	for _, f := range fams {
		if f.GetName() == "leviathan_keys" && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue(), nil
		}
	}
	return 0, errors.New("no leviathan_keys gauge")
}

// TestEverySurfaceCountsLiveKeys: two nodes on disk each make 20 writes
// that leave 8 live keys, the other taking each step in an exchange of
// its own; every surface of each says 8, for itself and for the other,
// and so does the other node once restarted from its data directory.
func TestEverySurfaceCountsLiveKeys(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	cfgs := make([]node.Config, 2)
	nodes := udpCluster(t, 2, func(i int, c *node.Config) {
		c.InMemory, c.DataDir = false, dirs[i]
		cfgs[i] = *c
	})
	srvs := make([]*httptest.Server, 2)
	for i, n := range nodes {
		srvs[i] = httptest.NewServer(handler(n))
		defer srvs[i].Close()
	}
	// replicated waits until the other node holds all that n wrote.
	replicated := func(n, other *node.Node) func() {
		return func() {
			eventually(t, 15*time.Second, func() error {
				want := n.Status().MaxVersion
				for _, p := range other.Peers() {
					if p.ID == n.ID() && p.MaxVersion == want {
						return nil
					}
				}
				return fmt.Errorf("%s does not hold %s up to version %d yet", other.ID(), n.ID(), want)
			})
		}
	}
	writeKeys(t, srvs[0], replicated(nodes[0], nodes[1]))
	writeKeys(t, srvs[1], replicated(nodes[1], nodes[0]))
	for i, n := range nodes {
		if err := surfaces(n, srvs[i], nodes[1-i].ID()); err != nil {
			t.Fatal(err)
		}
	}

	a, aID := nodes[0], nodes[0].ID()
	if err := nodes[1].Close(); err != nil {
		t.Fatal(err)
	}
	cfg := cfgs[1]
	cfg.Seeds = []string{a.Addr()}
	b := startNode(t, cfg)
	srv := httptest.NewServer(handler(b))
	defer srv.Close()
	// At once: the counts come from the data directory, not from peers.
	if err := surfaces(b, srv, aID); err != nil {
		t.Fatalf("restarted: %v", err)
	}
	// And a's view of b stays the same once b is back.
	eventually(t, 15*time.Second, func() error {
		for _, p := range a.LivePeers() {
			if p.ID == b.ID() {
				return surfaces(a, srvs[0], b.ID())
			}
		}
		return fmt.Errorf("%s does not see %s alive", aID, b.ID())
	})
}
