package sim

import (
	"cmp"
	"hash/fnv"
	"slices"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/health"
	"github.com/leviathan-gossip/leviathan/internal/engine"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// TestMonitorsDetectWithoutFalseSuspicions: 30 nodes with 10% loss watch
// each other for two minutes after they formed without suspecting a live
// node; a crash is then suspected by every other node within 10 s, each by
// a verdict of the crashed node's monitors, not by relayed heartbeats.
// suspicionWatch counts what the nodes suspect: when each first suspected
// the victim once it is down (since at), and suspicions of live nodes.
type suspicionWatch struct {
	at        time.Duration
	got       map[int]time.Duration
	falseSusp int
}

func watchSuspicions(c *Cluster, victim int) *suspicionWatch {
	w := &suspicionWatch{got: map[int]time.Duration{}}
	c.Hooks.Events = func(i int, evs []engine.Event) {
		for _, ev := range evs {
			if ev.Kind != engine.Suspend {
				continue
			}
			for _, id := range ev.Peers {
				switch {
				case id == c.Node(victim).ID && !c.Node(victim).Up():
					if _, ok := w.got[i]; !ok {
						w.got[i] = c.Now() - w.at
					}
				case c.Node(c.byID[id]).Up():
					w.falseSusp++
				}
			}
		}
	}
	return w
}

func TestMonitorsDetectWithoutFalseSuspicions(t *testing.T) {
	c := newCluster(t, 30, 21, NetConfig{Drop: 0.1, DelayMin: DefaultNet.DelayMin, DelayMax: DefaultNet.DelayMax})
	const victim = 17
	w := watchSuspicions(c, victim)
	c.RunFor(2 * time.Minute)
	if w.falseSusp != 0 {
		t.Fatalf("%d suspicions of live nodes in two minutes", w.falseSusp)
	}
	var relayed0 uint64
	for _, n := range c.Nodes() {
		relayed0 += n.Detector().Causes().Relayed
	}
	w.at = c.Now()
	c.Crash(victim)
	c.RunFor(10 * time.Second)
	if len(w.got) != 29 {
		t.Fatalf("%d of 29 nodes suspected the crash within 10 s", len(w.got))
	}
	var relayed uint64
	for _, n := range c.Nodes() {
		relayed += n.Detector().Causes().Relayed
	}
	if relayed != relayed0 {
		t.Fatalf("%d suspicions by relayed heartbeats, want verdicts only", relayed-relayed0)
	}
	noViolations(t, c)
}

// TestCutOffNodeRefutes: a node whose beats to its monitors are all cut
// (it still gossips) is voted against and suspended; it refutes, and its
// monitors stop expecting its beats, so in the end every node holds it
// alive.
func TestCutOffNodeRefutes(t *testing.T) {
	c := newCluster(t, 12, 22, NetConfig{})
	const x = 7
	mons := c.Node(x).Engine().Monitors()
	if len(mons) != 5 {
		t.Fatalf("monitors %v", mons)
	}
	for _, id := range mons {
		c.Block(x, c.byID[id])
	}
	suspended := false
	c.Hooks.Events = func(i int, evs []engine.Event) {
		for _, ev := range evs {
			for _, id := range ev.Peers {
				suspended = suspended || ev.Kind == engine.Suspend && id == c.Node(x).ID
			}
		}
	}
	c.RunFor(20 * time.Second)
	if !suspended {
		t.Fatal("a node no monitor hears from was never suspended")
	}
	if c.Node(x).Engine().Refutations() == 0 {
		t.Fatal("the suspected node never refuted")
	}
	c.RunFor(60 * time.Second)
	for i := range 12 {
		if i != x && healthOf(c, i, x) != health.Alive {
			t.Fatalf("node %d holds the cut-off node %v after it refuted", i, healthOf(c, i, x))
		}
	}
	noViolations(t, c)
}

// TestFormerMonitorStandsDown: x's third monitor y crashes, so x's sixth
// member m moves up and x beats to it; y comes back, so x drops m again
// and sends it Releases, one with each of its next 5 beats (releaseSends).
// With those Releases (and the beats) from x to m all lost, m still holds
// x as beating to it and finds x silent, but it is no longer one of x's
// monitors on its own ring: it must not vote against x.
func TestFormerMonitorStandsDown(t *testing.T) {
	for _, tc := range []struct {
		name         string
		block        bool
		wantReleases int
	}{
		{"releases arrive", false, 5},
		{"releases lost", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 12, 23, NetConfig{})
			const x = 4
			mons := c.Node(x).Engine().Monitors()
			y := c.byID[mons[2]]
			c.Crash(y)
			c.RunFor(20 * time.Second)
			now := c.Node(x).Engine().Monitors()
			if slices.Contains(now, mons[2]) || len(now) != 5 {
				t.Fatalf("x's monitors %v after its monitor %s crashed", now, mons[2])
			}
			m := c.byID[now[4]]
			if !c.Node(m).Engine().Monitor().Direct(c.Node(x).ID) {
				t.Fatalf("x's new monitor %s does not hold x's beats direct", c.Node(m).ID)
			}
			if tc.block {
				c.Block(x, m)
			}
			releases, votes := 0, 0
			c.Hooks.Message = func(i int, msg lsync.Message) {
				switch v := msg.(type) {
				case *lsync.Beat:
					if i == m && v.From == c.Node(x).ID && v.Release {
						releases++
					}
				case *lsync.Suspect:
					for _, vt := range v.Votes {
						if vt.ID == c.Node(x).ID && vt.By == c.Node(m).ID {
							votes++
						}
					}
				}
			}
			if err := c.Restart(y); err != nil {
				t.Fatal(err)
			}
			c.RunFor(40 * time.Second)
			if got := c.Node(x).Engine().Monitors(); !slices.Equal(got, mons) {
				t.Fatalf("x's monitors %v after %s came back, want %v", got, mons[2], mons)
			}
			// At least: the ring may move more than once while y returns.
			if tc.block && releases != 0 || releases < tc.wantReleases {
				t.Errorf("%s received %d Releases from x, want %d", c.Node(m).ID, releases, tc.wantReleases)
			}
			if votes != 0 {
				t.Errorf("%s, no longer x's monitor, sent %d votes against x", c.Node(m).ID, votes)
			}
			if c.Node(m).Engine().Monitor().Direct(c.Node(x).ID) {
				t.Errorf("%s still holds x's beats direct", c.Node(m).ID)
			}
			noViolations(t, c)
		})
	}
}

// TestVerdictsSpreadAndLoneVotesDoNot: 60 nodes at 50 % loss. In a
// quiet minute after the cluster formed, monitors miss runs of beats and
// vote, but a lone vote goes only to the peer's monitors and to the peer
// (a Suspect anywhere else would mean every vote gossiped cluster-wide),
// and no live node is suspected. Then a crash is suspected by every
// node within 15 s, and never taken back: the crashed node's last
// heartbeats, relayed after the verdict, do not undo it.
func TestVerdictsSpreadAndLoneVotesDoNot(t *testing.T) {
	c := newCluster(t, 60, 24, NetConfig{Drop: 0.5, DelayMin: DefaultNet.DelayMin, DelayMax: DefaultNet.DelayMax})
	const victim = 33
	monitorsOf := func(id string) []string {
		// The rings agree once the cluster formed: any live node's will do.
		return ringAfter(c, id)
	}
	var stray, lone, falseSusp, recovered int
	crashed := false
	var at time.Duration
	got := map[int]time.Duration{}
	c.Hooks.Message = func(i int, m lsync.Message) {
		s, ok := m.(*lsync.Suspect)
		if !ok || crashed {
			return
		}
		for _, v := range s.Votes {
			if v.By == v.ID {
				continue // a refutation: gossiped, so that it reaches any verdict
			}
			lone++
			if me := c.Node(i).ID; me != v.ID && !slices.Contains(monitorsOf(v.ID), me) {
				stray++
			}
		}
	}
	c.Hooks.Events = func(i int, evs []engine.Event) {
		for _, ev := range evs {
			for _, id := range ev.Peers {
				switch {
				case ev.Kind == engine.Recover && crashed && id == c.Node(victim).ID:
					recovered++
				case ev.Kind != engine.Suspend:
				case crashed && id == c.Node(victim).ID:
					if _, ok := got[i]; !ok {
						got[i] = c.Now() - at
					}
				case c.Node(c.byID[id]).Up():
					falseSusp++
				}
			}
		}
	}
	c.RunFor(time.Minute)
	if lone == 0 {
		t.Fatal("no vote in a minute at 50 % loss: the test shows nothing")
	}
	if stray != 0 || falseSusp != 0 {
		t.Fatalf("%d of %d votes reached nodes neither monitoring nor monitored; %d false suspicions", stray, lone, falseSusp)
	}
	crashed, at = true, c.Now()
	c.Crash(victim)
	c.RunFor(30 * time.Second)
	var last time.Duration
	for _, d := range got {
		last = max(last, d)
	}
	if len(got) != 59 || last > 15*time.Second {
		t.Fatalf("%d of 59 nodes suspected the crash, the last after %v; want all within 15 s", len(got), last)
	}
	if recovered != 0 {
		t.Fatalf("the crashed node recovered %d times after its verdict", recovered)
	}
	noViolations(t, c)
}

// ringAfter is the Monitors members after id on the ring of every node,
// as all rings are once the cluster formed.
func ringAfter(c *Cluster, id string) []string {
	ids := make([]string, 0, len(c.Nodes()))
	for _, n := range c.Nodes() {
		ids = append(ids, n.ID)
	}
	h := func(s string) uint64 { f := fnv.New64a(); f.Write([]byte(s)); return f.Sum64() }
	slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(h(a), h(b)) })
	at := slices.Index(ids, id)
	var out []string
	for k := 1; k <= c.Config().Monitors; k++ {
		out = append(out, ids[(at+k)%len(ids)])
	}
	return out
}

// TestBlockOfMonitorsFailing: a node and its five monitors, consecutive on
// the ring, crash at once. No quorum of the old monitors can form against
// the first three of them, most of whose monitors went with them. The live
// nodes that take the dead monitors' places on the ring expect beats that
// never come and vote (expect.go), and the detector's last resort (phi over
// relayed heartbeats) is allowed for them besides, so every live node
// suspects the whole block well before the last resort's 10 x dead_after.
// No live node is suspected on the way.
func TestBlockOfMonitorsFailing(t *testing.T) {
	c := newCluster(t, 20, 25, NetConfig{})
	const x = 6
	block := append([]string{c.Node(x).ID}, ringAfter(c, c.Node(x).ID)...)
	falseSusp := 0
	c.Hooks.Events = func(i int, evs []engine.Event) {
		for _, ev := range evs {
			if ev.Kind != engine.Suspend {
				continue
			}
			for _, id := range ev.Peers {
				if c.Node(c.byID[id]).Up() {
					falseSusp++
				}
			}
		}
	}
	for _, id := range block {
		c.Crash(c.byID[id])
	}
	start := c.Now()
	held := func() bool {
		for _, n := range c.Nodes() {
			if !n.Up() {
				continue
			}
			for _, id := range block {
				if healthOf(c, n.Index, c.byID[id]) == health.Alive {
					return true
				}
			}
		}
		return false
	}
	if !c.RunWhile(start+6*time.Minute, held) {
		t.Fatal("a live node holds part of the block alive 6 minutes after it crashed")
	}
	if took := c.Now() - start; took > time.Minute || falseSusp != 0 {
		t.Fatalf("the block took %v to be suspected everywhere, with %d suspicions of live nodes", took, falseSusp)
	}
	noViolations(t, c)
}
