package sim

import (
	"fmt"
	"math/rand"
	"slices"
	"time"

	"github.com/leviathan-gossip/leviathan/internal/engine"
)

// ChurnResult is the outcome of steady writes while nodes crash and
// restart.
type ChurnResult struct {
	Common
	MaxStalenessS   float64 `json:"max_staleness_s"`
	StalenessP99S   float64 `json:"staleness_s_p99"`
	StaleEntriesP99 float64 `json:"stale_entries_p99"`
	Writes          uint64  `json:"writes"`
	Deferred        uint64  `json:"deferred"`  // times the flow controller held a write back
	Coalesced       uint64  `json:"coalesced"` // held-back writes superseded by a newer one
	Crashes         int     `json:"crashes"`
	RateAvg         float64 `json:"flow_rate_avg"` // allowed writes/s/node at the end (flow on)
	BytesPerNode    float64 `json:"bytes_per_node_per_s"`
	ConvergedS      float64 `json:"converged_s"` // after writes and crashes stop; -1 if not within 120s
}

// writer is one node's application: it wants to write at a set rate, and
// with flow control on, waits for its engine's admission.
type writer struct {
	pending int    // writes wanted but held back
	seq     uint64 // keys cycle through a small set, as application state does
	times   []time.Duration
	vers    []uint64
}

// Churn forms the cluster, then for Duration has every node write at
// WriteRate while a random node crashes every CrashEvery and restarts
// Downtime later. It samples, each second, how stale every running
// node's view of every other node is: the age of the oldest write it
// lacks, counted from when it could first have received it (a node that
// was down cannot have).
func Churn(p Params) (*ChurnResult, error) {
	p = p.withDefaults(120 * time.Second)
	c, com, err := start(p)
	if err != nil {
		return nil, err
	}
	com.Scenario = "churn"
	r := &ChurnResult{Common: com}
	ws := make([]*writer, len(c.nodes))
	for i := range ws {
		ws[i] = &writer{}
	}
	booted := make([]time.Duration, len(c.nodes))
	rng := rand.New(rand.NewSource(p.Seed))
	t0 := c.Now()
	end := t0 + p.Duration
	before := c.Traffic()
	c.scheduleWrites(p, ws, r, end)
	c.scheduleCrashes(p, rng, r, booted, end)
	stale, entries := &hist{width: 0.1}, &hist{width: 1}
	for c.Now() < end {
		c.RunFor(time.Second)
		c.sampleStaleness(ws, booted, stale, entries)
	}
	after := c.Traffic()
	r.BytesPerNode = round2(float64(after.BytesOut-before.BytesOut) / float64(len(c.nodes)) / p.Duration.Seconds())
	r.MaxStalenessS = round2(stale.max)
	r.StalenessP99S = round2(stale.quantile(0.99))
	r.StaleEntriesP99 = round2(entries.quantile(0.99))
	if p.Flow {
		sum := 0.0
		for _, n := range c.nodes {
			if st := n.eng.Flow(); st.Limited {
				sum += st.Rate
			} else {
				sum += p.WriteRate
			}
		}
		r.RateAvg = round2(sum / float64(len(c.nodes)))
	}
	// Restart whoever is down, stop writing and see the cluster converge.
	for i, n := range c.nodes {
		if !n.up {
			if err := c.Restart(i); err != nil {
				return nil, err
			}
		}
	}
	tc := c.Now()
	r.ConvergedS = -1
	for c.Now()-tc < 120*time.Second {
		c.RunFor(time.Second)
		if c.Converged() == nil {
			r.ConvergedS = round2((c.Now() - tc).Seconds())
			break
		}
	}
	c.finish(&r.Common)
	return r, nil
}

// flowConfig is the engine's flow control for a churn run: behind is
// further than one message carries of a node's records (the paper's
// overflow), and the floor is a tenth of the wanted rate.
func (p Params) flowConfig(budget int) engine.FlowConfig {
	if !p.Flow {
		return engine.FlowConfig{}
	}
	fc := engine.DefaultFlowConfig(uint64(max(1, budget/(p.ValueSize+32))))
	fc.MinRate = min(fc.MinRate, max(p.WriteRate/10, 0.1))
	return fc
}

// scheduleWrites starts each node's writer at a random phase.
func (c *Cluster) scheduleWrites(p Params, ws []*writer, r *ChurnResult, end time.Duration) {
	period := time.Duration(float64(time.Second) / p.WriteRate)
	for i := range c.nodes {
		i := i
		var tick func()
		tick = func() {
			if c.Now() >= end {
				return
			}
			c.writeTick(i, p, ws[i], r)
			c.At(c.Now()+period, tick)
		}
		c.At(c.Now()+time.Duration(c.nodes[i].rng.Int63n(int64(period))), tick)
	}
}

// writeTick is one wanted write, plus any held back that now fit.
func (c *Cluster) writeTick(i int, p Params, w *writer, r *ChurnResult) {
	n := c.nodes[i]
	if !n.up {
		return // the application is down with its node
	}
	w.pending++
	if w.pending > p.Keys {
		// Keys cycle through p.Keys names: a write held back that long
		// has been superseded by a newer write of the same key.
		w.pending = p.Keys
		r.Coalesced++
	}
	for w.pending > 0 {
		if p.Flow && n.eng.Admit(c.clock.Time(), 1) > 0 {
			r.Deferred++
			return
		}
		w.seq++
		v, err := c.Write(i, KV{Key: fmt.Sprintf("k%d", w.seq%uint64(p.Keys)), Value: make([]byte, p.ValueSize)})
		if err != nil {
			c.violate("churn write: %v", err)
			return
		}
		w.pending--
		w.times = append(w.times, c.Now())
		w.vers = append(w.vers, v)
		r.Writes++
	}
}

// scheduleCrashes crashes a random running node every CrashEvery, and
// restarts it Downtime later. Seeds are spared, so the cluster can always
// be rejoined.
func (c *Cluster) scheduleCrashes(p Params, rng *rand.Rand, r *ChurnResult, booted []time.Duration, end time.Duration) {
	if len(c.nodes) <= c.cfg.Seeds {
		return
	}
	for t := c.Now() + p.CrashEvery; t < end; t += p.CrashEvery {
		c.At(t, func() {
			i := c.cfg.Seeds + rng.Intn(len(c.nodes)-c.cfg.Seeds)
			if !c.nodes[i].up {
				return
			}
			c.Crash(i)
			r.Crashes++
			c.At(c.Now()+p.Downtime, func() {
				if c.nodes[i].up {
					return // already restarted when the churn window closed
				}
				if err := c.Restart(i); err != nil {
					c.violate("churn restart: %v", err)
				}
				booted[i] = c.Now()
			})
		})
	}
}

// sampleStaleness records, for every running observer and every other
// node, the age of the oldest write the observer lacks, and per observer
// the number of writes it lacks in all. Writes of a node that is down are
// left out: what it wrote last may exist nowhere else until it restarts,
// which is the crash's cost, not gossip's; from its restart they count.
func (c *Cluster) sampleStaleness(ws []*writer, booted []time.Duration, stale, entries *hist) {
	now := c.Now()
	for _, y := range c.nodes {
		if !y.up {
			continue
		}
		missing := 0
		for _, x := range c.nodes {
			w := ws[x.Index]
			if x == y || !x.up || len(w.vers) == 0 {
				continue
			}
			info, _ := y.State().Peer(x.ID)
			k, _ := slices.BinarySearch(w.vers, info.MaxVersion+1)
			if k == len(w.vers) {
				stale.add(0)
				continue
			}
			missing += len(w.vers) - k
			since := max(w.times[k], booted[y.Index], booted[x.Index])
			stale.add(max(now-since, 0).Seconds())
		}
		entries.add(float64(missing))
	}
}
