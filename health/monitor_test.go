package health

import (
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"testing"
	"time"
)

// fakeCluster is a replication core of committed members, all at
// generation 1 and heartbeat 5, addressed id+":1". SetMembers is called
// from Refresh with the members the detector holds up, as the engine
// does.
type fakeCluster struct {
	m     *Monitor
	peers map[string]PeerView
	dirty bool
}

func (c *fakeCluster) Peer(id string) (PeerView, bool) { p, ok := c.peers[id]; return p, ok }

func (c *fakeCluster) Member(id string) bool { _, ok := c.peers[id]; return ok }

func (c *fakeCluster) PlausibleBeat(id string, hb uint64) bool { return hb <= c.peers[id].Heartbeat }

func (c *fakeCluster) Generation() uint64 { return 1 }

func (c *fakeCluster) BeatAbove(hb uint64) uint64 { return hb + 1 }

func (c *fakeCluster) Refresh() {
	if !c.dirty {
		return
	}
	c.dirty = false
	var alive, down, live []string
	for _, id := range slices.Sorted(maps.Keys(c.peers)) {
		if st, ok := c.m.det.State(id); ok && (st == Alive || st == Joining) {
			alive = append(alive, id)
			if st == Alive {
				live = append(live, c.peers[id].Addr)
			}
		} else {
			down = append(down, id)
		}
	}
	c.m.SetMembers(alive, down, live)
}

// newMonitored returns the Monitor of node self with 5 monitors per
// peer, over a cluster of ids, every one of them discovered alive at
// start (plus a second).
func newMonitored(t *testing.T, self string, ids []string, start time.Time) (*Monitor, *fakeCluster) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Monitored = true
	det, err := NewDetector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &fakeCluster{peers: make(map[string]PeerView), dirty: true}
	m := NewMonitor(MonitorConfig{Self: self, Monitors: 5, Gossip: time.Second, Rand: rand.New(rand.NewSource(1))}, det, c)
	c.m = m
	for _, id := range ids {
		c.peers[id] = PeerView{Addr: id + ":1", Generation: 1, Heartbeat: 5}
		det.Heartbeat(id, start)
		det.Vouch(id) // it spoke to this node itself
	}
	if got := det.Check(start.Add(time.Second)).Discovered; len(got) != len(ids) {
		t.Fatalf("discovered %v, want every peer", got)
	}
	c.Refresh()
	return m, c
}

// TestVotesReachMonitorsOfAPeerOffTheRing: a peer already suspended here
// is off this node's ring, yet a vote against it still goes to the members
// that follow where its hash falls, and to the peer.
func TestVotesReachMonitorsOfAPeerOffTheRing(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 12 {
		ids = append(ids, fmt.Sprintf("p%d", i))
	}
	a, c := newMonitored(t, "a", append(slices.Clone(ids), "x"), t0)
	onRing := a.voteTargets("x")
	a.TakeVotes([]Vote{
		{ID: "x", Generation: 1, Heartbeat: 5, By: "p1"}, {ID: "x", Generation: 1, Heartbeat: 5, By: "p2"}}, t0.Add(time.Second))
	a.det.setVerdict("x", true)
	a.Check(t0.Add(2 * time.Second))
	c.dirty = true
	c.Refresh()
	if _, on := a.ringPos("x"); on {
		t.Fatal("x is still on the ring while suspended")
	}
	offRing := a.voteTargets("x")
	if len(onRing) != 6 || !slices.Equal(offRing, onRing) {
		t.Fatalf("votes against x go to %v off the ring, %v on it; want x and its five monitors both times", offRing, onRing)
	}
}
