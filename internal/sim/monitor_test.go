package sim

import (
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
func TestMonitorsDetectWithoutFalseSuspicions(t *testing.T) {
	c := newCluster(t, 30, 21, NetConfig{Drop: 0.1, DelayMin: DefaultNet.DelayMin, DelayMax: DefaultNet.DelayMax})
	const victim = 17
	crashed := false
	var falseSusp int
	var at time.Duration
	got := map[int]time.Duration{}
	c.Hooks.Events = func(i int, evs []engine.Event) {
		for _, ev := range evs {
			if ev.Kind != engine.Suspend {
				continue
			}
			for _, id := range ev.Peers {
				switch {
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
	c.RunFor(2 * time.Minute)
	if falseSusp != 0 {
		t.Fatalf("%d suspicions of live nodes in two minutes", falseSusp)
	}
	var relayed0 uint64
	for _, n := range c.Nodes() {
		relayed0 += n.Detector().Causes().Relayed
	}
	crashed, at = true, c.Now()
	c.Crash(victim)
	c.RunFor(10 * time.Second)
	if len(got) != 29 {
		t.Fatalf("%d of 29 nodes suspected the crash within 10 s", len(got))
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
// and sends it Releases, one with each of its next releaseSends beats.
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
			if !c.Node(m).Detector().Direct(c.Node(x).ID) {
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
			if releases != tc.wantReleases {
				t.Errorf("%s received %d Releases from x, want %d", c.Node(m).ID, releases, tc.wantReleases)
			}
			if votes != 0 {
				t.Errorf("%s, no longer x's monitor, sent %d votes against x", c.Node(m).ID, votes)
			}
			if c.Node(m).Detector().Direct(c.Node(x).ID) {
				t.Errorf("%s still holds x's beats direct", c.Node(m).ID)
			}
			noViolations(t, c)
		})
	}
}
