package engine

import (
	"slices"
	"time"

	"github.com/leviathan-gossip/leviathan/health"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Joining. A digest carries about 31 entries, so a node that learnt the
// cluster from digests alone needed a dozen rounds or more to hear of 100
// members twice (15–32 s at N = 100 with 1 s rounds), and until it knew
// them its ring of monitors differed from everyone else's. Instead, while
// joining, each round also asks a seed for its member list (memberlist's
// push-pull on join): the answer names every member the seed holds up and
// vouches for those it holds alive, so the node sees them alive at once.
// The seed holds the joiner alive from its ask (the joiner's own word),
// so the next joiners see it alive in their answers.
//
// Members that start after the node asked would wait for its next ask, up
// to two rounds after its start (its first round, then its phase): so the
// node greets every member it hears of while joining with its own entry
// (greet), and a member that started earlier sees it alive as soon as it
// starts.
//
// Joining ends once no member was heard of for the first time for
// joinQuietRounds rounds, an answer then named no one new and held
// everyone it named alive, and this node holds alive nearly all the
// members it knows; or after maxJoinAsks rounds. An early answer, from a
// seed of a cluster still forming, names only the few members it heard
// from yet, all alive; and under loss a member whose first messages were
// lost reaches the seeds rounds after the rest. A node that stopped on
// such an answer learns the rest from quiet digests, a few entries a
// round, which under loss takes up to a minute. The first seedAsks asks go
// to seeds, later ones to a live member, which holds as complete a list by
// then and spreads the load off the seeds.
const (
	maxJoinAsks     = 30
	seedAsks        = 10
	joinQuietRounds = 2
)

// joining reports whether the node is still asking for member lists.
func (e *Engine) joining() bool {
	return !e.joined && e.joinAsks < maxJoinAsks
}

// joinAsk adds this round's request for a member list: to a seed when
// there is one (it is where the members are), else to the round's first
// target. The first goes to every seed, so that each has heard from the
// joiner itself (which vouches for it, see health.Detector.Vouch) and
// lists it alive to the next joiners at once. Until a list arrives, the
// node asks again joinRetry into the round.
func (e *Engine) joinAsk(rd *Ready, to []string, now time.Time) {
	if e.listed && e.mostlyLive() {
		e.joined = true
	}
	if !e.joining() || len(to) == 0 {
		return
	}
	e.ask(rd, to)
	if !e.gotList {
		e.retryAt = now.Add(e.cfg.Gossip / joinRetry)
		rd.ProbeAt = e.wakeAt()
	}
}

// joinRetry is how far into a round (a fifth) a node that has had no
// member list yet asks again: one whose asks were lost, or dropped by a
// seed swamped by a cold start, would otherwise wait a round. Answers come
// within milliseconds, or over a stream within a few retransmissions.
const joinRetry = 5

// retryJoin asks again if the retry is due and no list has come since.
func (e *Engine) retryJoin(rd *Ready, now time.Time) {
	if e.retryAt.IsZero() || now.Before(e.retryAt) {
		return
	}
	e.retryAt = time.Time{}
	if e.joining() && !e.gotList && !e.leaving {
		e.ask(rd, nil)
	}
}

// wakeAt is when the driver is next to call Probe: the earlier of the
// pending probe and join retry, zero if neither.
func (e *Engine) wakeAt() time.Time {
	switch {
	case e.probeAt.IsZero():
		return e.retryAt
	case e.retryAt.IsZero():
		return e.probeAt
	}
	return earlier(e.probeAt, e.retryAt)
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// ask sends one request for a member list, counted against maxJoinAsks:
// see joinAsk. fallback (a round's targets) is asked when there is no
// seed; without it, a live member.
func (e *Engine) ask(rd *Ready, fallback []string) {
	n := e.joinAsks + 1 // this ask's number
	var seeds []string
	for _, s := range e.seeds {
		if s != e.cfg.Self.Addr {
			seeds = append(seeds, s)
		}
	}
	switch {
	case n > seedAsks && len(e.ts.live) > len(seeds):
		// A live member that is not a seed (a few tries at random).
		for range 8 {
			if a := e.ts.live[e.rng.Intn(len(e.ts.live))]; !slices.Contains(seeds, a) {
				seeds = []string{a}
				break
			}
		}
		seeds = seeds[:1]
	case len(seeds) == 0 && len(fallback) > 0:
		seeds = fallback[:1]
	case len(seeds) == 0 && len(e.ts.live) > 0:
		seeds = []string{e.ts.live[e.rng.Intn(len(e.ts.live))]}
	case len(seeds) == 0:
		return // no one to ask
	case n > 1:
		seeds = seeds[e.rng.Intn(len(seeds)):][:1]
	}
	e.joinAsks = n
	req := e.withOwnRecord(&lsync.Members{Cluster: e.cfg.Cluster, From: e.cfg.Self.ID, Request: true,
		Members: []lsync.DigestEntry{e.state.OwnEntry()}})
	for _, addr := range seeds {
		rd.Send = append(rd.Send, Outgoing{To: addr, Msg: req})
	}
}

// stepMembers does what a member list asks beyond what the core took from
// it: answer a request, end the join once answers stop naming anyone new.
func (e *Engine) stepMembers(m *lsync.Members, from string, st *lsync.Step, rd *Ready, now time.Time) {
	if m.Request {
		rd.Send = append(rd.Send, Outgoing{To: from, Msg: e.memberList()})
		return
	}
	if len(m.Members) > 1 { // a list, not a hello
		e.gotList = true
	}
	// Done once the answer names no one new, no member was new here for
	// joinQuietRounds, and the sender holds everyone it named alive: a
	// seed of a cluster still forming has members heard of but not yet
	// alive, which the next answer vouches for.
	quiet := now.Sub(e.heardNew) >= joinQuietRounds*e.cfg.Gossip
	if !e.joined && e.joinAsks > 0 && len(st.New) == 0 && quiet && len(m.Members) > 1 && m.Up == len(m.Members) {
		e.listed = true
	}
}

// greet sends this node's own entry to each member first heard of while
// it joins, as a hello: the member holds it alive on its word at once,
// rather than at its own next ask or when a digest brings the node's
// heartbeat risen. One datagram per member, once: a member is first heard
// of only once, and only member lists and digests (bounded, from holders
// of the cluster key) name one. Neither the message's sender (it heard
// from this node already, or hears its answer) nor a seed (every joiner
// asks each seed in its first round, and a cold start's load is theirs
// already) is greeted.
func (e *Engine) greet(ids []string, from string, rd *Ready) {
	if len(ids) == 0 || !e.joining() || e.leaving || e.helloLeft > 0 {
		return // a hello under way goes to every member named (noteOutdated)
	}
	var msg *lsync.Members
	for _, id := range ids {
		p, ok := e.state.Peer(id)
		if !ok || p.Addr == "" || p.Addr == e.cfg.Self.Addr || p.Addr == from || slices.Contains(e.seeds, p.Addr) {
			continue
		}
		if msg == nil {
			msg = e.helloMsg()
		}
		rd.Send = append(rd.Send, Outgoing{To: p.Addr, Msg: msg})
	}
}

// lateAsk asks a live member for its list once more when, after the join,
// some member heard of has not been seen alive here for lateAskRounds
// rounds: one first heard of in a quiet digest needs a second, risen
// sighting of its heartbeat to come up, and quiet digests carry a few
// entries each (at N = 100 and 50 % loss one node waited 26 s for the last
// member it heard of after its join, where a member that holds it alive
// vouches for it in one answer). The wait grows while such members
// remain, as a ghost that never comes up (a member gone before this node
// joined) stays until the core forgets it.
func (e *Engine) lateAsk(rd *Ready, now time.Time) {
	if !e.joined || e.ts.joining == 0 {
		e.lateSince, e.lateWait, e.lateAsks = time.Time{}, 0, 0
		return
	}
	if e.lateSince.IsZero() {
		e.lateSince = now
		e.lateWait = max(e.lateWait, lateAskRounds*e.cfg.Gossip)
		return
	}
	if now.Sub(e.lateSince) < e.lateWait || len(e.ts.live) == 0 {
		return
	}
	// An ask is one datagram, lost as often as the network loses them:
	// the wait doubles only after lateAsksAtFirst of them.
	e.lateSince = now
	if e.lateAsks++; e.lateAsks >= lateAsksAtFirst {
		e.lateWait *= 2
	}
	addr := e.ts.live[e.rng.Intn(len(e.ts.live))]
	req := e.withOwnRecord(&lsync.Members{Cluster: e.cfg.Cluster, From: e.cfg.Self.ID, Request: true,
		Members: []lsync.DigestEntry{e.state.OwnEntry()}})
	rd.Send = append(rd.Send, Outgoing{To: addr, Msg: req})
}

// lateAskRounds is how long a member heard of after the join may stay
// unconfirmed before lateAsk asks for a list; lateAsksAtFirst asks are
// that far apart before the wait doubles.
const (
	lateAskRounds   = 5
	lateAsksAtFirst = 3
)

// mostlyLive reports whether this node holds alive all but 1 % of the
// members it knows (as of the last round or health check), as the
// simulator's warm-up counts a cluster formed.
func (e *Engine) mostlyLive() bool {
	if e.ts.dirty {
		e.rebuild()
	}
	known := len(e.ts.live) + len(e.ts.unrch)
	return len(e.ts.live) >= known-known/100
}

// memberList is the answer to a joiner: this node and every member it
// holds up (alive, or heard of and not yet suspected), within one message
// the joiner's decoder accepts.
func (e *Engine) memberList() *lsync.Members {
	rank := func(id string) lsync.Rank {
		if _, left := e.left[id]; left {
			return lsync.Unlisted
		}
		switch s, _ := e.det.State(id); s {
		case health.Alive:
			return lsync.Alive
		case health.Joining:
			return lsync.Listed
		}
		return lsync.Unlisted
	}
	limit := e.cfg.Limits.MaxDigestEntries
	if limit <= 0 {
		limit = lsync.DefaultMaxDigestEntries
	}
	budget := e.cfg.MessageBudget - membersHead
	listBudget := budget
	if e.recs != nil {
		// A record is about four entries' size: the list takes a fifth,
		// its records the rest.
		listBudget = budget / 5
	}
	list, up := e.state.MemberList(rank, listBudget, limit, e.rng)
	m := &lsync.Members{Cluster: e.cfg.Cluster, From: e.cfg.Self.ID, Members: list, Up: up}
	e.listRecords(m, budget-listBudget)
	return m
}

// membersHead bounds a Members message without its entries: header,
// cluster and id (at most 255 bytes each) and the list's length.
const membersHead = 4 + 2*(3+255) + 1 + 5

// Hello. A node whose data directory was wiped comes back with a new
// generation, and peers drop its old data only on its own word (evidence,
// see sync.Config.GenerationEvidence): a few messages from it, at its
// address, with rising heartbeats. Most peers would hear from it directly
// only now and then, and kept it suspended at its old generation for
// minutes. So once it learns that peers hold an older generation of it, it
// tells every member itself, with each of its next heartbeats until the
// evidence is complete: a Members message holding only its own entry.

// noteOutdated starts the hello when a message showed this node's older
// generation (once per run), and repeats it to the members a member list
// just named: the first such message is usually a seed's answer to the
// join, or a peer's Syn that came before it, when few members are known.
func (e *Engine) noteOutdated(st *lsync.Step, rd *Ready) {
	switch {
	case e.leaving:
	case st.Outdated && e.helloLeft == 0:
		e.helloLeft = max(e.cfg.GenerationEvidence, 1)
		e.sendHello(rd)
	case e.helloLeft > 0 && len(st.New) > 0:
		e.sendHello(rd)
	}
}

// hello sends the node's own entry, with a new heartbeat, to every member
// while the hello lasts: one beat for each message of evidence peers need.
func (e *Engine) hello(rd *Ready) {
	if e.helloLeft <= 0 {
		return
	}
	e.helloLeft--
	if e.helloLeft == 0 {
		e.helloLeft = -1 // done for this run
	}
	e.sendHello(rd)
}

// helloMsg is a hello: a member list of this node's own entry alone.
func (e *Engine) helloMsg() *lsync.Members {
	return e.withOwnRecord(&lsync.Members{Cluster: e.cfg.Cluster, From: e.cfg.Self.ID, Members: []lsync.DigestEntry{e.state.OwnEntry()}, Up: 1})
}

func (e *Engine) sendHello(rd *Ready) {
	msg := e.helloMsg()
	for _, addr := range e.state.Addresses() {
		if addr != e.cfg.Self.Addr {
			rd.Send = append(rd.Send, Outgoing{To: addr, Msg: msg})
		}
	}
}

// JoinState reports the member lists asked for and whether the join ended
// on an answer that named no one new (for tests and measurements).
func (e *Engine) JoinState() (asks int, joined bool) { return e.joinAsks, e.joined }
