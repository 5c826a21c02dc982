package sim

import (
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/health"
	"github.com/leviathan-gossip/leviathan/internal/engine"
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
