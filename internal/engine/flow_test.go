package engine

import (
	"errors"
	"fmt"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// flowRig drives a flow controller in simulated time: an application that
// wants to write want records a second, and peers that each take carry[i]
// of the node's records a second and report what they hold once a round.
type flowRig struct {
	t      *testing.T
	f      *flow
	now    time.Time
	stride uint64    // versions per record: 1 as a counter, more as a clock
	held   []uint64  // records each peer holds
	carry  []float64 // records per second each peer takes
	live   []bool
	want   float64
	queue  float64 // records wanted and not written yet (at most a second's)
	// delayed counts writes told to wait; maxLag is the largest signal.
	delayed int
	maxLag  uint64
	steps   int
}

func newFlowRig(t *testing.T, cfg FlowConfig, stride uint64, carry ...float64) *flowRig {
	t.Helper()
	f, err := newFlow(cfg, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r := &flowRig{t: t, f: f, now: t0, stride: stride, carry: carry, held: make([]uint64, len(carry)),
		live: make([]bool, len(carry))}
	for i := range r.live {
		r.live[i] = true
	}
	return r
}

func (r *flowRig) wm() uint64 { return r.f.written * r.stride }

// run advances d in steps of a tenth of a round.
func (r *flowRig) run(d time.Duration) {
	const dt = 100 * time.Millisecond
	for end := r.now.Add(d); r.now.Before(end); {
		r.now = r.now.Add(dt)
		r.steps++
		r.queue = min(r.queue+r.want*dt.Seconds(), max(r.want, 1))
		k := 0
		for ; r.queue >= 1; r.queue-- {
			if r.f.admit(r.now, 1) > 0 {
				r.delayed++
				break
			}
			k++
		}
		if k > 0 {
			r.f.wrote(r.wm(), k)
		}
		for i := range r.held {
			r.held[i] = min(r.f.written, r.held[i]+uint64(r.carry[i]*dt.Seconds()))
		}
		if r.steps%10 != 0 {
			continue
		}
		for i := range r.held {
			r.f.observe(fmt.Sprint(i), r.held[i]*r.stride, r.wm(), r.now)
		}
		r.f.tick(r.now, r.wm(), func(id string) bool {
			var i int
			fmt.Sscan(id, &i)
			return r.live[i]
		})
		r.maxLag = max(r.maxLag, r.f.lag)
	}
}

// backlog is the records the quantile peer lacks, counted from the rig.
func (r *flowRig) backlog() uint64 {
	var worst uint64
	for i, h := range r.held {
		if r.live[i] {
			worst = max(worst, r.f.written-h)
		}
	}
	return worst
}

func TestFlowBehindCountsRecordsWhateverTheVersions(t *testing.T) {
	for _, stride := range []uint64{1, 65536} {
		t.Run(fmt.Sprint("stride ", stride), func(t *testing.T) {
			f, err := newFlow(DefaultFlowConfig(100), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			wm := uint64(0)
			write := func(n int) {
				f.wrote(wm, n)
				wm += uint64(n) * stride
			}
			write(10)
			f.tick(t0, wm, func(string) bool { return true })
			write(30)
			f.tick(t0.Add(time.Second), wm, func(string) bool { return true })
			write(60)
			for _, c := range []struct {
				claim uint64
				want  uint64
			}{
				{wm, 0},
				{wm + 5*stride, 0}, // claims above the watermark are held to it
				{0, 100},
				{10 * stride, 90},
				{25 * stride, 75}, // between marks
				{70 * stride, 30}, // after the last mark
			} {
				if got := f.behind(c.claim, wm); got != c.want {
					t.Errorf("behind(%d) = %d, want %d", c.claim, got, c.want)
				}
			}
		})
	}
}

// The history is bounded: a claim older than every mark counts what was
// written since the oldest, a lower bound above any sane MaxLag.
func TestFlowHistoryIsBounded(t *testing.T) {
	f, err := newFlow(DefaultFlowConfig(100), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wm := uint64(0)
	for i := range 3 * flowMarks {
		f.wrote(wm, 10)
		wm += 10
		f.tick(t0.Add(time.Duration(i)*time.Second), wm, func(string) bool { return true })
	}
	if f.nmarks != flowMarks {
		t.Fatalf("%d marks kept, want %d", f.nmarks, flowMarks)
	}
	if got, least := f.behind(0, wm), uint64(10*(flowMarks-1)); got < least || got > wm {
		t.Fatalf("behind(0) = %d, want at least %d and at most %d", got, least, wm)
	}
}

// An overloaded node (it wants 2000 records a second, its peers take 300)
// is limited to about what its peers take, which it measures, its backlog
// stays bounded while it writes, and once the writes stop the backlog
// drains and the limit is lifted.
func TestFlowThrottlesOnOverflowAndRecovers(t *testing.T) {
	cfg := DefaultFlowConfig(1000)
	for _, stride := range []uint64{1, 65536} {
		t.Run(fmt.Sprint("stride ", stride), func(t *testing.T) {
			r := newFlowRig(t, cfg, stride, 300, 300, 300, 300, 300, 300, 300)
			r.want = 2000
			r.run(60 * time.Second)
			st := r.f.stats()
			t.Logf("after 60 s: %+v, backlog %d, peak signal %d, written %d", st, r.backlog(), r.maxLag, r.f.written)
			if !st.Limited || st.Rate > 600 || r.delayed == 0 {
				t.Fatalf("not throttled to what the peers take: %+v, %d delayed", st, r.delayed)
			}
			if st.Capacity < 240 || st.Capacity > 360 {
				t.Fatalf("capacity %v, want about the 300 records/s the peers take", st.Capacity)
			}
			if b := r.backlog(); b > 4*cfg.MaxLag {
				t.Fatalf("backlog %d records after a minute, more than 4 × MaxLag", b)
			}
			if w := r.f.written; w < 60*200 || w > 60*400 {
				t.Fatalf("%d records written in 60 s, want about the 300/s the peers take", w)
			}
			r.want = 0
			for i := 0; i < 60 && (r.f.limited || r.backlog() > 0); i++ {
				r.run(time.Second)
			}
			if st := r.f.stats(); st.Limited || r.backlog() > 0 {
				t.Fatalf("a minute after the writes stopped: %+v, backlog %d", st, r.backlog())
			}
		})
	}
}

// A cluster that stalls takes the rate to the floor; once the backlog
// drained, the rate climbs back to half of what the peers take within ten
// rounds, not a small step at a time.
func TestFlowRecoversQuicklyAfterADrain(t *testing.T) {
	cfg := DefaultFlowConfig(1000)
	r := newFlowRig(t, cfg, 1, 300, 300, 300, 300, 300)
	r.want = 2000
	r.run(30 * time.Second)
	for i := range r.carry {
		r.carry[i] = 0
	}
	r.run(20 * time.Second)
	if st := r.f.stats(); st.Rate != cfg.MinRate {
		t.Fatalf("a stalled cluster: %+v, want the rate at the floor", st)
	}
	for i := range r.carry {
		r.carry[i] = 300
	}
	for i := 0; i < 60 && r.f.lag > cfg.MaxLag; i++ {
		r.run(time.Second)
	}
	drained := r.now
	for r.f.rate < 150 && r.now.Sub(drained) < 10*time.Second {
		r.run(time.Second)
	}
	if st := r.f.stats(); st.Rate < 150 {
		t.Fatalf("10 s after the backlog drained: %+v, want at least half the 300 records/s the peers take", st)
	}
}

// A cluster that keeps up never feels flow control, whatever it writes.
func TestFlowHealthyClusterIsNeverDelayed(t *testing.T) {
	r := newFlowRig(t, DefaultFlowConfig(1000), 1, 2000, 2000, 2000, 2000)
	r.want = 1500
	r.run(2 * time.Minute)
	if r.delayed > 0 || r.f.cuts > 0 || r.f.limited {
		t.Fatalf("%d writes delayed, %d cuts: %+v", r.delayed, r.f.cuts, r.f.stats())
	}
}

// Peers that are down, or a slow minority, do not throttle the node; a
// slow majority does.
func TestFlowSignalIsAQuantileOfLivePeers(t *testing.T) {
	for _, c := range []struct {
		name     string
		carry    []float64
		live     []bool
		throttle bool
	}{
		{"one stuck peer of five", []float64{0, 1000, 1000, 1000, 1000}, nil, false},
		{"four stuck peers, down, of eight", []float64{0, 0, 0, 0, 1000, 1000, 1000, 1000},
			[]bool{false, false, false, false, true, true, true, true}, false},
		{"three stuck peers of five", []float64{0, 0, 0, 1000, 1000}, nil, true},
		{"a lone stuck peer", []float64{0}, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newFlowRig(t, DefaultFlowConfig(1000), 1, c.carry...)
			if c.live != nil {
				r.live = c.live
			}
			r.want = 500
			r.run(30 * time.Second)
			if r.f.limited != c.throttle {
				t.Fatalf("limited = %v, want %v: %+v", r.f.limited, c.throttle, r.f.stats())
			}
		})
	}
}

// A limit lifts when no live peer has said anything for Fresh rounds:
// the peers it waited for went down.
func TestFlowSilenceLiftsTheLimit(t *testing.T) {
	cfg := DefaultFlowConfig(1000)
	r := newFlowRig(t, cfg, 1, 0, 0, 0)
	r.want = 500
	r.run(20 * time.Second)
	if !r.f.limited {
		t.Fatalf("not limited: %+v", r.f.stats())
	}
	r.live = []bool{false, false, false}
	r.run(time.Duration(cfg.Fresh-1) * time.Second)
	if !r.f.limited {
		t.Fatal("lifted before Fresh rounds of silence")
	}
	r.run(2 * time.Second)
	if r.f.limited {
		t.Fatalf("still limited after %d rounds without a live peer's word: %+v", cfg.Fresh+1, r.f.stats())
	}
}

// A write larger than the burst is admitted (into debt), and the writers
// after it wait the debt off; a refused writer reserved nothing.
func TestFlowAdmitIsABucketWithDebt(t *testing.T) {
	f, err := newFlow(DefaultFlowConfig(100), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d := f.admit(t0, 1<<20); d != 0 {
		t.Fatalf("unlimited: wait %v", d)
	}
	f.limit(t0, 100) // burst 25
	if d := f.admit(t0, 1000); d != 0 {
		t.Fatalf("a large write waits %v with the burst full", d)
	}
	d := f.admit(t0, 1)
	if want := time.Duration(float64(976) / 100 * float64(time.Second)); d != want {
		t.Fatalf("after 1000 records at 100/s, wait %v, want %v", d, want)
	}
	if again := f.admit(t0, 1); again != d {
		t.Fatalf("asking again waits %v, want the same %v: a refusal must reserve nothing", again, d)
	}
	if f.admit(t0.Add(d), 1) != 0 {
		t.Fatal("refused after the wait it was given")
	}
}

func TestFlowConfigValidation(t *testing.T) {
	for name, mod := range map[string]func(*FlowConfig){
		"quantile above 1": func(c *FlowConfig) { c.Quantile = 1.5 },
		"negative min":     func(c *FlowConfig) { c.MinRate = -1 },
		"factor 1":         func(c *FlowConfig) { c.Factor = 1 },
		"patience 17":      func(c *FlowConfig) { c.Patience = 17 },
		"negative fresh":   func(c *FlowConfig) { c.Fresh = -1 },
		"negative burst":   func(c *FlowConfig) { c.Burst = -time.Second },
	} {
		c := DefaultFlowConfig(100)
		mod(&c)
		if _, err := newFlow(c, time.Second); !errors.Is(err, lsync.ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want lsync.ErrInvalidConfig", name, err)
		}
	}
	if _, err := newFlow(FlowConfig{}, time.Second); err != nil {
		t.Fatalf("zero config (off): %v", err)
	}
}

// synFrom is peer id's Syn listing its own entry (heartbeat hb) and what
// it holds of node a.
func synFrom(id string, hb uint64, aGen, aHolds uint64) *lsync.Syn {
	return &lsync.Syn{Cluster: "test", From: id, Complete: true, Digest: []lsync.DigestEntry{
		{ID: id, Addr: id + ":1", Generation: 1, Heartbeat: 1<<32 + hb},
		{ID: "a", Addr: "a:1", Generation: aGen, MaxVersion: aHolds},
	}}
}

// The engine reads each peer's own word on this node from the digests it
// receives, and nobody else's; claims of another generation say nothing,
// claims above the watermark count as in step, and a peer that is not
// alive does not count.
func TestEngineFlowReadsPeersWordFromDigests(t *testing.T) {
	e := newEngineWith(t, "a", func(c *Config) { c.Flow = DefaultFlowConfig(50) })
	now := t0
	for hb := uint64(1); hb <= 2; hb++ {
		for _, id := range []string{"b", "c", "d"} {
			rd := e.Step(now, id+":1", synFrom(id, hb, 0, 0)) // no word on a yet
			e.Commit(&rd)
		}
		now = now.Add(time.Second)
	}
	e.Check(now)
	for _, id := range []string{"b", "c", "d"} {
		if !e.flowLive(id) {
			t.Fatalf("%s is not alive", id)
		}
	}
	recs := make([]lsync.Record, 100)
	for i := range recs {
		recs[i] = lsync.Record{Key: fmt.Sprint("k", i), Value: []byte("v")}
	}
	rd, err := e.Write(now, recs)
	if err != nil {
		t.Fatal(err)
	}
	e.Commit(&rd)
	round := func() FlowStats {
		now = now.Add(time.Second)
		e.Check(now)
		e.Round(now)
		return e.Flow()
	}
	for _, c := range []struct {
		name    string
		from    string
		msg     lsync.Message
		lag     uint64
		counted int
	}{
		{"own word", "b:1", synFrom("b", 3, 1, 40), 60, 1},
		{"in a SynAck", "b:1", &lsync.SynAck{Cluster: "test", From: "b", Digest: synFrom("b", 4, 1, 70).Digest}, 30, 1},
		{"an older generation", "b:1", synFrom("b", 5, 0, 0), 30, 1},
		{"above the watermark", "c:1", synFrom("c", 3, 1, 1<<40), 30, 2},
		{"an unknown sender", "z:1", synFrom("z", 1, 1, 0), 30, 2},
	} {
		rd := e.Step(now, c.from, c.msg)
		e.Commit(&rd)
		if st := round(); st.Lag != c.lag || st.Peers != c.counted {
			t.Fatalf("%s: lag %d over %d peers, want %d over %d", c.name, st.Lag, st.Peers, c.lag, c.counted)
		}
	}
	// d falls silent, is suspended, and its word no longer counts.
	rd = e.Step(now, "d:1", synFrom("d", 3, 1, 0))
	e.Commit(&rd)
	if st := round(); st.Lag != 100 || st.Peers != 3 {
		t.Fatalf("d's word: %+v", st)
	}
	for i := 0; i < 60; i++ {
		for _, id := range []string{"b", "c"} {
			rd := e.Step(now, id+":1", synFrom(id, uint64(10+i), 1, 100))
			e.Commit(&rd)
		}
		if st := round(); st.Peers == 2 {
			if st.Lag != 0 {
				t.Fatalf("b and c in step: %+v", st)
			}
			return
		}
	}
	t.Fatalf("d was never left out: %+v", e.Flow())
}

// Admission follows the controller: writes go through until the peers'
// backlog has stayed above MaxLag for Patience rounds, then wait.
func TestEngineAdmitThrottlesWhenPeersFallBehind(t *testing.T) {
	e := newEngineWith(t, "a", func(c *Config) { c.Flow = DefaultFlowConfig(50) })
	now := t0
	rd := e.Step(now, "b:1", synFrom("b", 1, 1, 0))
	e.Commit(&rd)
	for i := 0; i < 10; i++ {
		if d := e.Admit(now, 100); d != 0 {
			if e.Flow().Cuts == 0 || i < DefaultFlowConfig(0).Patience {
				t.Fatalf("round %d: told to wait %v: %+v", i, d, e.Flow())
			}
			return
		}
		recs := make([]lsync.Record, 100)
		for j := range recs {
			recs[j] = lsync.Record{Key: fmt.Sprint("k", j), Value: []byte("v")}
		}
		wr, err := e.Write(now, recs)
		if err != nil {
			t.Fatal(err)
		}
		e.Commit(&wr)
		// b holds nothing of a's.
		rd := e.Step(now, "b:1", synFrom("b", uint64(2+i), 1, 0))
		e.Commit(&rd)
		now = now.Add(time.Second)
		e.Check(now)
		e.Round(now)
	}
	t.Fatalf("never throttled: %+v", e.Flow())
}
