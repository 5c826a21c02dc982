package engine

import (
	"math/rand"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/health"
	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/wire"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newEngine(t testing.TB, id string, seeds ...string) *Engine {
	t.Helper()
	return newEngineWith(t, id, nil, seeds...)
}

// newEngineWith is newEngine with its config changed by tweak first.
func newEngineWith(t testing.TB, id string, tweak func(*Config), seeds ...string) *Engine {
	t.Helper()
	h := health.DefaultConfig()
	cfg := Config{
		Cluster: "test", Self: lsync.PeerMeta{ID: id, Alias: id, Addr: id + ":1", Generation: 1},
		Boot: 1, Seeds: seeds, Fanout: 3, Gossip: time.Second, DeadGrace: time.Hour, Tombstones: time.Hour,
		PacketBudget: 1400, MessageBudget: 4 << 20, Health: h, Rand: rand.New(rand.NewSource(1)),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.Restored()
	return e
}

// exchange delivers every message of rd to the engines by address and
// returns what they send on, committing each batch at once.
func exchange(t *testing.T, now time.Time, from string, rd Ready, by map[string]*Engine) []Ready {
	t.Helper()
	var out []Ready
	for _, o := range rd.Send {
		to := by[o.To]
		if to == nil {
			continue
		}
		b, err := wire.Encode(o.Msg)
		if err != nil {
			t.Fatal(err)
		}
		m, err := wire.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		next := to.Step(now, from, m)
		to.Commit(&next)
		next.ReadDeltas()
		to.NoteSent(&next)
		out = append(out, next)
	}
	return out
}

func TestWriteNeedsCommitBeforeTheNext(t *testing.T) {
	e := newEngine(t, "a")
	rd, err := e.Write(t0, []lsync.Record{{Key: "k", Value: []byte("v")}})
	if err != nil || rd.Batch.Empty() || !rd.LocalWrite() {
		t.Fatalf("write: %v, %+v", err, rd)
	}
	if _, err := e.Write(t0, []lsync.Record{{Key: "k2"}}); err != ErrBusy {
		t.Fatalf("second write while the first is out: %v, want ErrBusy", err)
	}
	if _, ok := e.State().Get("a", "k"); ok {
		t.Fatal("an uncommitted write is visible")
	}
	e.Commit(&rd)
	if r, ok := e.State().Get("a", "k"); !ok || r.Version != 1 {
		t.Fatalf("committed write: %+v %v", r, ok)
	}
	if _, err := e.Write(t0, []lsync.Record{{Key: "k2"}}); err != nil {
		t.Fatalf("write after commit: %v", err)
	}
}

func TestTwoEnginesExchangeAWrite(t *testing.T) {
	a, b := newEngine(t, "a"), newEngine(t, "b", "a:1")
	by := map[string]*Engine{"a:1": a, "b:1": b}
	wr, err := a.Write(t0, []lsync.Record{{Key: "k", Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	a.Commit(&wr)
	// b knows only its seed: its round (a Syn, and a request for the
	// member list while joining) goes there, a answers, b acks.
	round := b.Round(t0)
	if len(round.Send) != 2 || round.Send[0].To != "a:1" || round.Send[1].To != "a:1" {
		t.Fatalf("first round of b goes to %+v, want the seed", round.Send)
	}
	if m, ok := round.Send[1].Msg.(*lsync.Members); !ok || !m.Request {
		t.Fatalf("b's round asks for no member list: %#v", round.Send[1].Msg)
	}
	replies := exchange(t, t0, "b:1", round, by)
	for _, r := range replies {
		for _, next := range exchange(t, t0, "a:1", r, by) {
			exchange(t, t0, "b:1", next, by)
		}
	}
	if r, ok := b.State().Get("a", "k"); !ok || string(r.Value) != "v" {
		t.Fatalf("b holds %+v (%v), want a's write", r, ok)
	}
	if _, ok := a.State().Peer("b"); !ok {
		t.Fatal("a did not learn b")
	}
}

func TestBookkeepingMapsAreBounded(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pullAge   time.Duration // pull opened this long before the round
		leftAge   time.Duration // leave heard this long before the round
		leftKnown bool          // the peer that left is still known
		wantPulls int
		wantLeft  int
	}{
		{"fresh pull and leave kept", time.Second, time.Minute, true, 1, 1},
		{"pull unanswered for two rounds given up", 3 * time.Second, time.Minute, true, 0, 1},
		{"leave of a peer no longer known forgotten", time.Second, time.Minute, false, 1, 0},
		{"leave older than LeftTTL forgotten", time.Second, 3 * time.Hour, true, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newEngine(t, "a"), newEngine(t, "b", "a:1")
			if tc.leftKnown {
				// a hears of b through b's first Syn.
				round := b.Round(t0)
				exchange(t, t0, "b:1", round, map[string]*Engine{"a:1": a})
			}
			now := t0.Add(time.Hour)
			a.pulls["b:1"] = now.Add(-tc.pullAge)
			a.left["b"] = now.Add(-tc.leftAge)
			a.Round(now)
			left, pulls, _ := a.Tracked()
			if pulls != tc.wantPulls || left != tc.wantLeft {
				t.Fatalf("tracked %d pulls and %d leaves, want %d and %d", pulls, left, tc.wantPulls, tc.wantLeft)
			}
		})
	}
}

func TestStepWhileBusyKeepsLivenessAndDropsData(t *testing.T) {
	a, b := newEngine(t, "a"), newEngine(t, "b", "a:1")
	wb, err := b.Write(t0, []lsync.Record{{Key: "k", Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	b.Commit(&wb)
	out, err := a.Write(t0, []lsync.Record{{Key: "mine"}}) // a's disk is busy with this
	if err != nil {
		t.Fatal(err)
	}
	ack := func() Ready {
		// b's round reaches a; a's reply comes back to b; b's Ack carries
		// its write to a.
		syn := b.Round(t0)
		rd := a.Step(t0, "b:1", syn.Send[0].Msg)
		a.Commit(&rd) // what a's driver does (b's meta, once a is not busy)
		rd.ReadDeltas()
		a.NoteSent(&rd)
		if len(rd.Send) == 0 {
			t.Fatal("a did not answer")
		}
		next := b.Step(t0, "a:1", rd.Send[0].Msg)
		b.Commit(&next)
		next.ReadDeltas()
		b.NoteSent(&next)
		if len(next.Send) == 0 {
			t.Fatal("b sent no Ack")
		}
		if m, ok := next.Send[0].Msg.(*lsync.Ack); !ok || len(m.Deltas) == 0 {
			t.Fatalf("b's answer %+v carries no deltas", next.Send[0].Msg)
		}
		return a.Step(t0, "b:1", next.Send[0].Msg)
	}
	if rd := ack(); !rd.Batch.Empty() {
		t.Fatalf("a stepped a batch while busy: %+v", rd.Batch)
	}
	if _, known := a.Detector().State("b"); !known {
		t.Fatal("a took no liveness from b while busy")
	}
	a.Commit(&out)
	rd := ack()
	if rd.Batch.Empty() {
		t.Fatal("a took no data once its batch was committed")
	}
	a.Commit(&rd)
	if r, ok := a.State().Get("b", "k"); !ok || string(r.Value) != "v" {
		t.Fatalf("a holds %+v (%v) of b", r, ok)
	}
}

// TestSilentSeedIsReported: a seed that never answers is reported once,
// after SilentSeedRounds exchanges, by address; one that answers is not,
// and a silent seed that answers at last is reported answering.
func TestSilentSeedIsReported(t *testing.T) {
	tests := []struct {
		name         string
		answerAfter  int // rounds before the seed answers; 0 never
		wantReported int // times reported silent over 3*SilentSeedRounds rounds
		wantAnswered bool
	}{
		{"never answers", 0, 1, false},
		{"answers at once", 1, 0, false},
		{"answers late", SilentSeedRounds + 2, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newEngine(t, "a", "seed:1")
			seed := newEngine(t, "seed")
			reported, answered := 0, false
			now := t0
			for r := 1; r <= 3*SilentSeedRounds; r++ {
				now = now.Add(time.Second)
				rd := a.Round(now)
				for _, s := range rd.SilentSeeds {
					if s != "seed:1" {
						t.Fatalf("reported %q", s)
					}
					reported++
				}
				if tt.answerAfter == 0 || r < tt.answerAfter {
					continue
				}
				for _, o := range rd.Send {
					if o.To != "seed:1" {
						continue
					}
					back := seed.Step(now, "a:1", o.Msg)
					seed.Commit(&back)
					for _, b := range back.Send {
						got := a.Step(now, "seed:1", b.Msg)
						a.Commit(&got)
						answered = answered || got.AnsweredSeed == "seed:1"
					}
				}
			}
			if reported != tt.wantReported || answered != tt.wantAnswered {
				t.Fatalf("reported silent %d times, answered %v; want %d, %v", reported, answered, tt.wantReported, tt.wantAnswered)
			}
		})
	}
}
