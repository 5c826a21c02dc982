package engine

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/health"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// requests returns the addresses a Ready asks for a member list.
func requests(rd Ready) []string {
	var to []string
	for _, o := range rd.Send {
		if m, ok := o.Msg.(*lsync.Members); ok && m.Request {
			to = append(to, o.To)
		}
	}
	return to
}

// hellos returns the addresses a Ready sends a hello (its own entry only).
func hellos(rd Ready) []string {
	var to []string
	for _, o := range rd.Send {
		if m, ok := o.Msg.(*lsync.Members); ok && !m.Request && len(m.Members) == 1 {
			to = append(to, o.To)
		}
	}
	slices.Sort(to)
	return to
}

func TestJoinAsksEverySeedFirstThenOne(t *testing.T) {
	e := newEngine(t, "j", "s1:1", "s2:1", "s3:1", "j:1")
	first := requests(e.Round(t0))
	slices.Sort(first)
	if want := []string{"s1:1", "s2:1", "s3:1"}; !slices.Equal(first, want) {
		t.Fatalf("first round asks %v, want every seed but itself %v", first, want)
	}
	for i := 1; i < maxJoinAsks; i++ {
		if got := requests(e.Round(t0.Add(time.Duration(i) * time.Second))); len(got) != 1 {
			t.Fatalf("round %d asks %v, want one seed", i+1, got)
		}
	}
	if got := requests(e.Round(t0.Add(time.Minute))); len(got) != 0 {
		t.Fatalf("still asking after %d rounds: %v", maxJoinAsks, got)
	}
}

// TestMemberListMakesAJoinerSeeAllAlive: a seed holds b and c alive as
// soon as they asked it (their own word); a joiner that asks it sees a, b
// and c alive as soon as the answer arrives, where a digest's single
// sighting of each would have left them joining until a second, risen
// heartbeat. The joiner greets each member it heard of but the seed, and
// they hold it alive on that. Answers naming no one new end the join once
// no member was new for joinQuietRounds.
func TestMemberListMakesAJoinerSeeAllAlive(t *testing.T) {
	a, b, c, d := newEngine(t, "a"), newEngine(t, "b", "a:1"), newEngine(t, "c", "a:1"), newEngine(t, "d", "a:1")
	by := map[string]*Engine{"a:1": a, "b:1": b, "c:1": c, "d:1": d}
	var found []string
	for _, rd := range append(exchange(t, t0, "b:1", b.Round(t0), by), exchange(t, t0, "c:1", c.Round(t0), by)...) {
		found = append(found, eventOf(rd, Discover)...)
	}
	if slices.Sort(found); !slices.Equal(found, []string{"b", "c"}) {
		t.Fatalf("the seed discovered %v on their asks, want b and c: they spoke to it themselves", found)
	}
	ask := func(now time.Time) Ready {
		t.Helper()
		for _, o := range d.Round(now).Send {
			if m, ok := o.Msg.(*lsync.Members); ok && m.Request {
				return exchange(t, now, "d:1", Ready{Send: []Outgoing{o}}, by)[0]
			}
		}
		return Ready{}
	}
	now := t0.Add(time.Second)
	answer := ask(now)
	if len(answer.Send) != 1 {
		t.Fatalf("the seed answered %+v, want one member list", answer.Send)
	}
	if list := answer.Send[0].Msg.(*lsync.Members); len(list.Members) != 4 || list.Up != 4 {
		t.Fatalf("member list of %d entries, %d up; want a, b, c and d alive", len(list.Members), list.Up)
	}
	rd := d.Step(now, "a:1", answer.Send[0].Msg)
	d.Commit(&rd)
	if got := eventOf(rd, Discover); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("the joiner discovered %v on the answer, want a b c", got)
	}
	if got, want := hellos(rd), []string{"b:1", "c:1"}; !slices.Equal(got, want) {
		t.Fatalf("the joiner greeted %v, want %v", got, want)
	}
	greeted := exchange(t, now, "d:1", rd, by)
	if got := eventOf(greeted[0], Discover); !slices.Equal(got, []string{"d"}) {
		t.Fatalf("b discovered %v on the greeting, want d", got)
	}
	for i := 2; i <= 2+joinQuietRounds; i++ {
		now = t0.Add(time.Duration(i) * time.Second)
		for _, r := range ask(now).Send {
			step := d.Step(now, "a:1", r.Msg)
			d.Commit(&step)
		}
		if want := i > joinQuietRounds; d.listed != want {
			t.Fatalf("%v after the last new member: join over %v, want %v", now.Sub(t0.Add(time.Second)), d.listed, want)
		}
	}
	now = now.Add(time.Second)
	if got := requests(d.Round(now)); len(got) != 0 || !d.joined {
		t.Fatalf("still joining (asks %v) after answers naming no one new, all alive, with every member alive here", got)
	}
	// Joined: a member first heard of now is not greeted.
	e := lsync.DigestEntry{ID: "e", Addr: "e:1", Generation: 1, Heartbeat: 1 << 32}
	rd = d.Step(now, "b:1", &lsync.Syn{Cluster: "test", From: "b", Digest: []lsync.DigestEntry{b.State().OwnEntry(), e}})
	if got := hellos(rd); len(got) != 0 {
		t.Fatalf("greeted %v after the join", got)
	}
}

// TestJoinGoesOnWhileMembersAreUnconfirmed: an answer that names no one
// new, all alive, does not end the join while this node holds most of the
// members it knows unconfirmed (an early seed's short list, the rest heard
// of in digests); asks after the first seedAsks go to a live member, not a
// seed; and the join ends for good after maxJoinAsks rounds.
func TestJoinGoesOnWhileMembersAreUnconfirmed(t *testing.T) {
	d := newEngineWith(t, "d", nil, "a:1")
	now := t0
	// The seed a and b spoke to d themselves: alive at its next check.
	for _, id := range []string{"a", "b"} {
		d.Step(now, id+":1", &lsync.Syn{Cluster: "test", From: id, Digest: []lsync.DigestEntry{{ID: id, Addr: id + ":1", Generation: 1, Heartbeat: 5}}})
	}
	// Ten more are heard of in a digest only.
	var heard []lsync.DigestEntry
	for i := range 10 {
		id := fmt.Sprintf("g%d", i)
		heard = append(heard, lsync.DigestEntry{ID: id, Addr: id + ":1", Generation: 1, Heartbeat: 5})
	}
	d.Step(now, "b:1", &lsync.Syn{Cluster: "test", From: "b", Digest: heard})
	d.Check(now.Add(time.Second))
	if got := requests(d.Round(now.Add(time.Second))); !slices.Equal(got, []string{"a:1"}) {
		t.Fatalf("first round asks %v, want the seed", got)
	}
	// The seed's answer names a and b, both alive at the seed, when no one
	// was new for joinQuietRounds.
	list := &lsync.Members{Cluster: "test", From: "a", Up: 2, Members: []lsync.DigestEntry{
		{ID: "a", Addr: "a:1", Generation: 1, Heartbeat: 6}, {ID: "b", Addr: "b:1", Generation: 1, Heartbeat: 6}}}
	now = now.Add(joinQuietRounds * time.Second)
	d.Step(now, "a:1", list)
	if !d.listed {
		t.Fatal("an answer naming no one new, all alive, did not count")
	}
	for i := 2; i <= maxJoinAsks+2; i++ {
		now = now.Add(time.Second)
		got := requests(d.Round(now))
		switch {
		case i > maxJoinAsks:
			if len(got) != 0 {
				t.Fatalf("round %d asks %v after maxJoinAsks", i, got)
			}
		case len(got) != 1:
			t.Fatalf("round %d asks %v, want one: 10 of 12 members are unconfirmed", i, got)
		case i <= seedAsks && got[0] != "a:1":
			t.Fatalf("round %d asks %v, want the seed", i, got)
		case i > seedAsks && got[0] != "b:1":
			t.Fatalf("round %d asks %v, want the live member b", i, got)
		}
	}
	if d.joined {
		t.Fatal("joined with most members unconfirmed")
	}
}

// TestHelloAfterWipe: a node that learns peers hold an older generation of
// it sends its own entry to every member at once and with each of its next
// heartbeats, as many as the evidence peers need, then stops.
func TestHelloAfterWipe(t *testing.T) {
	e := newEngineWith(t, "w", evidence2, "a:1")
	old := lsync.DigestEntry{ID: "w", Addr: "w:1", Generation: 0, Heartbeat: 9 << 32}
	list := &lsync.Members{Cluster: "test", From: "a", Up: 3, Members: []lsync.DigestEntry{
		{ID: "a", Addr: "a:1", Generation: 1, Heartbeat: 1 << 32},
		{ID: "b", Addr: "b:1", Generation: 1, Heartbeat: 1 << 32},
		old,
	}}
	want := []string{"a:1", "b:1"}
	if got := hellos(e.Step(t0, "a:1", list)); !slices.Equal(got, want) {
		t.Fatalf("hello on seeing its old generation went to %v, want %v", got, want)
	}
	for i := 1; i <= 2; i++ {
		if got := hellos(e.Beat(t0.Add(time.Duration(i) * time.Second))); !slices.Equal(got, want) {
			t.Fatalf("beat %d: hello to %v, want %v", i, got, want)
		}
	}
	if got := hellos(e.Beat(t0.Add(3 * time.Second))); len(got) != 0 {
		t.Fatalf("hello goes on after the evidence was sent: %v", got)
	}
	if got := hellos(e.Step(t0.Add(4*time.Second), "a:1", list)); len(got) != 0 {
		t.Fatalf("a second hello in the same run: %v", got)
	}
}

// TestHelloProvesTheGenerationAtOnce: two hellos of a wiped peer (its own
// entry, from its address, with rising heartbeats) prove its new
// generation; it is reported back at once, not at the next health check.
func TestHelloProvesTheGenerationAtOnce(t *testing.T) {
	a := newEngineWith(t, "a", evidence2)
	w := lsync.DigestEntry{ID: "w", Addr: "w:1", Generation: 1, Heartbeat: 5 << 32}
	for i, hb := range []uint64{w.Heartbeat, w.Heartbeat + 1} {
		w.Heartbeat = hb
		rd := a.Step(t0.Add(time.Duration(i)*time.Second), "w:1", &lsync.Members{Cluster: "test", From: "w", Up: 1, Members: []lsync.DigestEntry{w}})
		a.Commit(&rd)
	}
	a.Check(t0.Add(2 * time.Second))
	for s := 3; s <= 120; s++ { // w went silent: down (checks a second apart)
		a.Check(t0.Add(time.Duration(s) * time.Second))
	}
	if st, _ := a.Detector().State("w"); st == health.Alive {
		t.Fatal("w still alive after two minutes of silence")
	}
	reborn := func(hb uint64) *lsync.Members {
		return &lsync.Members{Cluster: "test", From: "w", Up: 1, Members: []lsync.DigestEntry{{ID: "w", Addr: "w:1", Generation: 7, Heartbeat: hb}}}
	}
	now := t0.Add(2*time.Minute + time.Second)
	first := a.Step(now, "w:1", reborn(1<<32))
	a.Commit(&first)
	if got := eventOf(first, Recover); len(got) != 0 {
		t.Fatalf("back on one message: %v", got)
	}
	second := a.Step(now.Add(time.Second), "w:1", reborn(1<<32+1))
	if got := eventOf(second, Recover); !slices.Equal(got, []string{"w"}) {
		t.Fatalf("second hello reported %v, want w back at once", second.Events)
	}
	a.Commit(&second)
	if p, _ := a.State().Peer("w"); p.Generation != 7 {
		t.Fatalf("w held at generation %d, want the new 7", p.Generation)
	}
}

func evidence2(c *Config) { c.GenerationEvidence = 2 }

func eventOf(rd Ready, k EventKind) []string {
	for _, ev := range rd.Events {
		if ev.Kind == k {
			return ev.Peers
		}
	}
	return nil
}

// TestLateAskForAMemberNeverConfirmed: after its join, a node that hears
// of a member in a digest and does not see it alive asks a live member for
// its list lateAskRounds later, twice more at that spacing, then less
// often; once the member is confirmed it stops.
func TestLateAskForAMemberNeverConfirmed(t *testing.T) {
	d := newEngineWith(t, "d", nil, "a:1")
	own := func(id string, hb uint64) *lsync.Syn {
		return &lsync.Syn{Cluster: "test", From: id, Digest: []lsync.DigestEntry{{ID: id, Addr: id + ":1", Generation: 1, Heartbeat: hb}}}
	}
	d.Step(t0, "a:1", own("a", 5))
	d.Check(t0)
	if got := requests(d.Round(t0)); !slices.Equal(got, []string{"a:1"}) {
		t.Fatalf("first round asks %v, want the seed", got)
	}
	answered := t0.Add(joinQuietRounds * time.Second) // no one new since a
	d.Step(answered, "a:1", &lsync.Members{Cluster: "test", From: "a", Up: 2, Members: []lsync.DigestEntry{
		{ID: "a", Addr: "a:1", Generation: 1, Heartbeat: 6}, d.State().OwnEntry()}})
	now := answered.Add(time.Second)
	d.Round(now)
	if !d.joined {
		t.Fatal("not joined with its only member alive")
	}
	// g is heard of in a's digest, once: it stays joining here.
	d.Step(now, "a:1", &lsync.Syn{Cluster: "test", From: "a", Digest: []lsync.DigestEntry{{ID: "g", Addr: "g:1", Generation: 1, Heartbeat: 3}}})
	d.Check(now)
	var asked []int
	for i := 1; i <= 50; i++ {
		if got := requests(d.Round(now.Add(time.Duration(i) * time.Second))); len(got) > 0 {
			if !slices.Equal(got, []string{"a:1"}) {
				t.Fatalf("round %d asks %v, want the live member a", i, got)
			}
			asked = append(asked, i)
		}
	}
	// lateSince is set in the first round after g was heard of.
	if want := []int{1 + lateAskRounds, 1 + 2*lateAskRounds, 1 + 3*lateAskRounds, 1 + 5*lateAskRounds, 1 + 9*lateAskRounds}; !slices.Equal(asked, want) {
		t.Fatalf("late asks in rounds %v, want %v", asked, want)
	}
	now = now.Add(51 * time.Second)
	d.Step(now, "g:1", own("g", 50)) // g speaks for itself
	d.Check(now)
	for i := 1; i <= 4*lateAskRounds; i++ {
		if got := requests(d.Round(now.Add(time.Duration(i) * time.Second))); len(got) > 0 {
			t.Fatalf("asks %v in round %d after g came up", got, i)
		}
	}
}

// TestJoiningRoundsAreLoud: a node still joining opens full rounds (its
// own entry in a digest) even with nothing else new: a quiet round's
// summary would not carry its entry, and a joiner whose asks were lost
// would stay unknown. Once it stops asking, a round with nothing new is
// quiet again.
func TestJoiningRoundsAreLoud(t *testing.T) {
	quiet := func(c *Config) {
		c.Monitors, c.QuietSummary, c.QuietFanout, c.QuietDigest = 5, true, 1, 400
	}
	d := newEngineWith(t, "d", quiet, "s1:1", "s2:1", "s3:1")
	for i := range maxJoinAsks + 1 {
		var syns, own int
		for _, o := range d.Round(t0.Add(time.Duration(i) * time.Second)).Send {
			if m, ok := o.Msg.(*lsync.Syn); ok {
				syns++
				if len(m.Digest) > 0 && m.Digest[0].ID == "d" {
					own++
				}
			}
		}
		if joining := i < maxJoinAsks; syns == 0 || joining && own != syns || !joining && own != 0 {
			t.Fatalf("round %d (joining %v): %d Syns, %d with its own entry", i, joining, syns, own)
		}
	}
}

// TestJoinAsksAgainUntilAListComes: a joiner whose asks bring no member
// list asks one seed again a fifth of a round later (through Probe), each
// round, until a list comes; a hello (a list of one) does not count.
// Probe wakes for the earlier of the retry and a push's probe.
func TestJoinAsksAgainUntilAListComes(t *testing.T) {
	d := newEngineWith(t, "d", func(c *Config) { c.PushFanout = 3 }, "s1:1", "s2:1")
	retry := time.Second / joinRetry
	for round := range 3 {
		now := t0.Add(time.Duration(round) * time.Second)
		rd := d.Round(now)
		if !rd.ProbeAt.Equal(now.Add(retry)) {
			t.Fatalf("round %d: probe at %v, want the retry %v later", round, rd.ProbeAt, retry)
		}
		if got := requests(d.Probe(now.Add(retry / 2))); len(got) != 0 {
			t.Fatalf("round %d: asked again early: %v", round, got)
		}
		if got := requests(d.Probe(now.Add(retry))); len(got) != 1 {
			t.Fatalf("round %d: the retry asked %v, want one seed", round, got)
		}
		if round == 1 { // a hello is no list
			d.Step(now, "x:1", &lsync.Members{Cluster: "test", From: "x", Up: 1,
				Members: []lsync.DigestEntry{{ID: "x", Addr: "x:1", Generation: 1, Heartbeat: 1 << 32}}})
		}
	}
	now := t0.Add(3 * time.Second)
	d.Step(now, "s1:1", &lsync.Members{Cluster: "test", From: "s1", Up: 2, Members: []lsync.DigestEntry{
		{ID: "s1", Addr: "s1:1", Generation: 1, Heartbeat: 1 << 32}, {ID: "s2", Addr: "s2:1", Generation: 1, Heartbeat: 1 << 32}}})
	rd := d.Round(now.Add(time.Second))
	if got := requests(rd); len(got) != 1 || !rd.ProbeAt.IsZero() {
		t.Fatalf("after a list: asks %v, probe at %v; want the round's ask and no retry", got, rd.ProbeAt)
	}
	// A push's probe and a retry pending: Probe wakes for the earlier.
	e := newEngineWith(t, "e", func(c *Config) { c.PushFanout = 3 }, "s1:1")
	stepCommit(e, t0, "p:1", &lsync.Syn{Cluster: "test", From: "p", Digest: []lsync.DigestEntry{{ID: "p", Addr: "p:1", Generation: 1, Heartbeat: 5}}})
	e.Round(t0)
	w, err := e.Write(t0, []lsync.Record{{Key: "k", Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	e.Commit(&w)
	if want := t0.Add(time.Second / probeDelay); !w.ProbeAt.Equal(want) {
		t.Fatalf("after a push: probe at %v, want %v (before the retry)", w.ProbeAt, want)
	}
	if rd := e.Probe(t0.Add(time.Second / probeDelay)); !rd.ProbeAt.Equal(t0.Add(retry)) {
		t.Fatalf("after the push's probe: next at %v, want the retry at %v", rd.ProbeAt, t0.Add(retry))
	}
}
