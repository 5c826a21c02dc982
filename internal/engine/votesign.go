package engine

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/leviathan-gossip/leviathan/health"
	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
)

// Signed votes. With Config.Signing, every vote is signed by its voter
// (identity.VoteClaim: the cluster, the node voted against, its
// generation and heartbeat with the proof of that heartbeat the voter
// holds, the voter and the voter's vote seq), and a refutation, a vote by
// a node about itself, by that node. A node signs its own vote once, when
// it first sends it, and relays others' votes with the signature they
// came with: it never signs for another node.
//
// A vote is taken only if its voter's newest verified record is held
// here and its key signed the vote; the voter is one of the victim's
// monitors as this node places them (a refutation is the victim's own);
// its heartbeat, if above the one held, is proven (beats.go); and its
// seq is above the highest taken here of that voter against that node.
// A signed vote therefore counts once at each node: a copy relayed or
// replayed later, after the victim's own word cleared it, is not taken
// again even where the heartbeat it quotes is not stale yet. Anything
// else never reaches the monitor.
//
// Signature checks cost about 50-100 µs each, so they are rationed: a
// vote checked once is known by its signature and never checked again
// (relays of a verdict's votes cost nothing), and checks are drawn from a
// bucket per sender and one for all senders, so that a flood of forged
// votes costs at most voteChecksRate checks a second.

// BadVoteSignature: a vote without a signature, or whose signature is
// not its voter's.
const BadVoteSignature RejectReason = "bad_vote_signature"

const (
	// maxSealedVotes bounds the signed votes kept, to relay them and to
	// know them again; the oldest go first.
	maxSealedVotes = 4096
	// maxVoteSeqs bounds the (voter, victim) pairs whose highest vote seq
	// is kept; a pair forgotten falls back on the heartbeat's staleness.
	maxVoteSeqs = 4096
	// Signature checks: a bucket per sender (at most voteSenders of them;
	// more, and they start afresh), and one for all.
	voteSenders           = 256
	voteChecksPerSender   = 64
	voteSenderRate        = 16 // per second
	voteChecksBurst       = 512
	voteChecksRate        = 128 // per second
	signedVotesPerMessage = 8   // about 130 bytes each: a Suspect in one datagram
)

// voteKey names a vote: whom against, at which heartbeat, by whom.
type voteKey struct {
	id      string
	gen, hb uint64
	by      string
}

// beatKey names a heartbeat of a node.
type beatKey struct {
	id      string
	gen, hb uint64
}

// sealed is what makes a vote signed: its proof, seq and signature.
type sealed struct {
	proof lsync.BeatProof
	seq   uint64
	sig   []byte
}

// bounded is a map that holds at most limit keys, dropping the oldest.
type bounded[K comparable, V any] struct {
	m     map[K]V
	order []K
	limit int
}

func newBounded[K comparable, V any](limit int) bounded[K, V] {
	return bounded[K, V]{m: make(map[K]V), limit: limit}
}

func (b *bounded[K, V]) get(k K) (V, bool) {
	v, ok := b.m[k]
	return v, ok
}

func (b *bounded[K, V]) put(k K, v V) {
	if _, ok := b.m[k]; !ok {
		if len(b.order) >= b.limit {
			delete(b.m, b.order[0])
			b.order = b.order[1:]
		}
		b.order = append(b.order, k)
	}
	b.m[k] = v
}

// bucket is a token bucket, refilled by the inputs' time.
type bucket struct {
	tokens float64
	at     time.Time
}

// take takes a token if one is left.
func (b *bucket) take(now time.Time, burst, rate float64) bool {
	if now.After(b.at) {
		b.tokens = min(burst, b.tokens+now.Sub(b.at).Seconds()*rate)
		b.at = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// voteBook is the signed votes' state of records.
type voteBook struct {
	sealed  bounded[voteKey, sealed]
	proofs  bounded[beatKey, lsync.BeatProof] // quoted by votes taken
	seqs    bounded[[2]string, uint64]        // (voter, victim): highest seq taken
	ownSeq  uint64
	senders map[string]*bucket
	all     bucket
}

func newVoteBook() voteBook {
	return voteBook{sealed: newBounded[voteKey, sealed](maxSealedVotes),
		proofs:  newBounded[beatKey, lsync.BeatProof](maxSealedVotes),
		seqs:    newBounded[[2]string, uint64](maxVoteSeqs),
		senders: make(map[string]*bucket), all: bucket{tokens: voteChecksBurst}}
}

// spend takes a signature check from the sender's bucket and the common
// one, or reports that none is left.
func (b *voteBook) spend(from string, now time.Time) bool {
	s := b.senders[from]
	if s == nil {
		if len(b.senders) >= voteSenders {
			clear(b.senders)
		}
		s = &bucket{tokens: voteChecksPerSender, at: now}
		b.senders[from] = s
	}
	if !s.take(now, voteChecksPerSender, voteSenderRate) {
		return false
	}
	if !b.all.take(now, voteChecksBurst, voteChecksRate) {
		s.tokens++ // not spent after all
		return false
	}
	return true
}

// claim is what v's signature covers.
func (e *Engine) claim(v *lsync.Vote) identity.VoteClaim {
	return identity.VoteClaim{Cluster: e.cfg.Cluster, ID: v.ID, Generation: v.Generation,
		Heartbeat: v.Heartbeat, Proof: v.Proof, By: v.By, Seq: v.Seq}
}

// sealVotes are votes to send with their signatures: this node's own,
// signed when first sent, and others' as they came. A vote of another
// node whose signature is no longer held is left out: no receiver would
// take it.
func (e *Engine) sealVotes(vs []health.Vote) []lsync.Vote {
	b := &e.recs.votes
	out := make([]lsync.Vote, 0, len(vs))
	for _, hv := range vs {
		v := lsync.Vote{ID: hv.ID, Generation: hv.Generation, Heartbeat: hv.Heartbeat, By: hv.By}
		k := voteKey{v.ID, v.Generation, v.Heartbeat, v.By}
		s, ok := b.sealed.get(k)
		if !ok {
			if v.By != e.cfg.Self.ID {
				continue
			}
			b.ownSeq = max(uint64(max(e.recs.now.UnixMilli(), 1)), b.ownSeq+1)
			v.Proof, v.Seq = e.voteProof(v.ID, v.Heartbeat), b.ownSeq
			if q, ok := e.quotedProof(v.ID, v.Generation, v.Heartbeat); ok && v.Proof.IsZero() {
				v.Proof = q
			}
			c := e.claim(&v)
			s = sealed{proof: v.Proof, seq: v.Seq, sig: identity.SignVote(e.recs.sign.Key, &c)}
			b.sealed.put(k, s)
			b.seqs.put([2]string{v.By, v.ID}, v.Seq) // taken here as it is made
			e.recs.stats.VotesSigned++
		}
		v.Proof, v.Seq, v.Sig = s.proof, s.seq, s.sig
		out = append(out, v)
	}
	return out
}

// gateVotes keeps, with signing, the votes of a Suspect that are taken
// (see the top of this file); the others are counted, the forged ones as
// rejected.
func (e *Engine) gateVotes(m *lsync.Suspect, from string, now time.Time, rd *Ready) {
	if e.recs == nil {
		return
	}
	out := m.Votes[:0]
	for i := range m.Votes {
		if e.takeVote(&m.Votes[i], from, now, rd) {
			out = append(out, m.Votes[i])
		}
	}
	m.Votes = out
}

// takeVote checks one vote, cheapest first: the signature last.
func (e *Engine) takeVote(v *lsync.Vote, from string, now time.Time, rd *Ready) bool {
	st := &e.recs.stats
	pub, ok := e.voterKey(v.By)
	switch {
	case !ok:
		st.Unbacked++ // the voter's record on its way, or a made-up voter
		return false
	case len(v.Sig) == 0:
		e.reject(rd, from, v.ID, BadVoteSignature, fmt.Errorf("an unsigned vote by %q", v.By))
		return false
	case v.By != v.ID && e.cfg.Monitors > 0 && !e.mon.CanVote(v.ID, v.By):
		// Counted, not logged: views of the ring differ for a while after
		// it changes, and honest nodes send such votes then.
		st.VotesNotMonitor++
		return false
	case v.Seq <= e.highestSeq(v.By, v.ID):
		if v.Seq < e.highestSeq(v.By, v.ID) {
			st.StaleVotes++ // replayed, or overtaken by the voter's newer vote
		}
		return false // or taken here already: a signed vote counts once
	case !e.voteBeat(v, from, now, rd):
		return false
	}
	return e.voteSigned(v, pub, from, now, rd)
}

// voterKey is the public key of the voter's newest verified record.
func (e *Engine) voterKey(by string) (ed25519.PublicKey, bool) {
	if by == e.cfg.Self.ID {
		return e.recs.sign.Key.Public(), true
	}
	h, ok := e.recs.held[by]
	if !ok {
		return nil, false
	}
	return h.rec.PublicKey, true
}

func (e *Engine) highestSeq(by, id string) uint64 {
	seq, _ := e.recs.votes.seqs.get([2]string{by, id})
	return seq
}

// voteBeat checks a vote's heartbeat: one above the heartbeat of its node
// held here is taken only with a proof that holds, and one against this
// node above its own heartbeat never (no one but this node can prove
// it). A vote is then never taken for a heartbeat its node did not reach.
// A vote against an earlier generation of this node is dropped quietly
// as stale: its heartbeats, of a data directory since wiped, may lie
// above the current generation's.
func (e *Engine) voteBeat(v *lsync.Vote, from string, now time.Time, rd *Ready) bool {
	if v.ID == e.cfg.Self.ID {
		if v.Generation < e.state.Self().Generation {
			e.recs.stats.StaleVotes++
			return false
		}
		if v.Heartbeat > e.state.Heartbeat() {
			e.reject(rd, from, v.ID, BadBeatProof, fmt.Errorf("a vote against this node at %d, above its own heartbeat", v.Heartbeat))
			return false
		}
		return true
	}
	gen, hb, _, known := e.state.HeldBeat(v.ID)
	if !known || gen != v.Generation || v.Heartbeat <= hb {
		return true // nothing above what is held: the monitor judges it
	}
	h, held := e.recs.held[v.ID]
	if !held {
		e.recs.stats.Unbacked++
		return false
	}
	if err := e.checkBeat(h, v.Heartbeat, v.Proof, now); err != nil {
		// A vote against a generation other than the record's (the node's
		// data since wiped, say) may quote a chain no longer held.
		otherGen := h.rec.Generation != v.Generation
		e.refuseBeat(rd, from, v.ID, err, otherGen || pastChain(h, v.Heartbeat) || e.priorChain(h, v.Heartbeat, err))
		return false
	}
	return true
}

// voteSigned checks a vote's signature, unless the same signed vote was
// checked before, and keeps it to relay.
func (e *Engine) voteSigned(v *lsync.Vote, pub ed25519.PublicKey, from string, now time.Time, rd *Ready) bool {
	b, st := &e.recs.votes, &e.recs.stats
	k := voteKey{v.ID, v.Generation, v.Heartbeat, v.By}
	if s, ok := b.sealed.get(k); ok && s.seq == v.Seq && s.proof == v.Proof && bytes.Equal(s.sig, v.Sig) {
		return true
	}
	if !b.spend(from, now) {
		st.VoteChecksDeferred++
		return false
	}
	st.VoteChecks++
	c := e.claim(v)
	if !identity.VerifyVote(pub, &c, v.Sig) {
		e.reject(rd, from, v.ID, BadVoteSignature, fmt.Errorf("a vote by %q not signed by its key", v.By))
		return false
	}
	if s, ok := b.sealed.get(k); !ok || v.Seq > s.seq {
		b.sealed.put(k, sealed{proof: v.Proof, seq: v.Seq, sig: bytes.Clone(v.Sig)})
	}
	pair := [2]string{v.By, v.ID}
	if seq, _ := b.seqs.get(pair); v.Seq > seq {
		b.seqs.put(pair, v.Seq)
	}
	if !v.Proof.IsZero() {
		b.proofs.put(beatKey{v.ID, v.Generation, v.Heartbeat}, v.Proof)
	}
	return true
}

// quotedProof is the proof of a heartbeat quoted by a vote taken here.
func (e *Engine) quotedProof(id string, gen, hb uint64) (lsync.BeatProof, bool) {
	return e.recs.votes.proofs.get(beatKey{id, gen, hb})
}

// suspectMsgs carries votes in Suspect messages, with signing no more
// than fit a datagram each.
func (e *Engine) suspectMsgs(votes []lsync.Vote) []lsync.Message {
	per := len(votes)
	if e.recs != nil {
		per = signedVotesPerMessage
	}
	var out []lsync.Message
	for len(votes) > 0 {
		n := min(len(votes), per)
		out = append(out, &lsync.Suspect{Cluster: e.cfg.Cluster, From: e.cfg.Self.ID, Votes: votes[:n:n]})
		votes = votes[n:]
	}
	return out
}

// VoteSeq is the seq of the newest vote by by against id taken here, 0
// for none or without signing (for status pages and tests).
func (e *Engine) VoteSeq(by, id string) uint64 {
	if e.recs == nil {
		return 0
	}
	return e.highestSeq(by, id)
}
