package engine

import (
	"errors"
	"fmt"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
)

// Signed liveness. With Config.Signing, a node proves each heartbeat it
// states with its heartbeat chain (identity.BeatChain), committed to in
// its signed record, and every claim of a heartbeat of peer P above the
// one held here (a digest or member list entry, a beat, a vote) is taken
// only if its proof verifies against the chain of P's newest verified
// record (identity.BeatCache). An unproven higher heartbeat is held down
// to the heartbeat already held, with its proof, so the rest of the entry
// still counts; of a node not held at that generation, the entry is left
// out. Relays forward the proof that came with a heartbeat verbatim (the
// core keeps it with the heartbeat).
//
// The owner's chain comes from the driver: setting one up hashes its
// whole length (a tenth of a second for 2^20), which a driver does outside
// its lock. The engine asks for a new one (ChainDue) for a new generation
// and when the current one has an eighth of its length left, and
// re-anchors the current one every ReanchorBeats beats, so that a node
// that has seen none of its values hashes at most that far.

const (
	// DefaultReanchorBeats is Signing.Reanchor when zero: a node that
	// learns a peer's record hashes about this many steps or fewer to
	// check the peer's heartbeat (2 ms at most), and a node re-signs its
	// record once per this many beats (4.5 hours at one a second). A
	// re-signed record spreads to every node and makes quiet rounds loud
	// while it does, which is what bounds the interval from below.
	DefaultReanchorBeats = 16384
	// walkBurst and walkRate bound the long walks (VerifyWalk) a node
	// pays for: a joiner checks each peer's heartbeat once from its
	// anchor, and a forger of far claims can make it pay at most walkRate
	// walks a second of at most 2*ReanchorBeats hashes each (about 60 ms
	// of CPU a second at the default).
	walkBurst = 256
	walkRate  = 16
	// renewGrace is how many beats a node goes on proving with its old
	// chain after it commits to a new one (at most half of what the old
	// one has left): about 17 minutes at one beat a second, for the new
	// record to reach every node first.
	renewGrace = 1024
)

// BadBeatProof: a heartbeat above the one held whose proof is missing or
// not its node's chain's.
const BadBeatProof RejectReason = "bad_beat_proof"

// errNoBeatProof is a heartbeat claimed above the one held without a
// proof, from a node whose record commits to a chain.
var errNoBeatProof = errors.New("engine: heartbeat without a proof")

// ErrStaleChain: a chain given to SetBeatChain that is not for the node's
// current generation, or does not cover its heartbeat.
var ErrStaleChain = errors.New("engine: heartbeat chain not for the current generation and heartbeat")

// beats is the signed liveness state of records.
type beats struct {
	chain    *identity.BeatChain // this node's, nil until the driver gives one
	prev     *identity.BeatChain // the chain before, still proving below prevTill
	prevTill uint64
	com      *identity.BeatCommitment // what this node's record commits to (chain's, re-anchored)
	asked    bool                     // ChainDue asked for a chain not given yet
	announce bool                     // send the record to the monitors with the next beats
	reanchor uint64
	cache    *identity.BeatCache
	walks    float64 // the walk bucket's tokens, refilled at walkRate
	walksAt  time.Time
}

func newBeats(s *Signing, limit int) beats {
	b := beats{chain: s.Chain, reanchor: s.Reanchor, cache: identity.NewBeatCache(limit, 0), walks: walkBurst}
	if b.reanchor == 0 {
		b.reanchor = DefaultReanchorBeats
	}
	return b
}

// initBeats takes the chain the driver gave in Config.Signing, if it is
// for this node's generation and heartbeat, and makes the core's entries
// carry this node's proofs.
func (e *Engine) initBeats() {
	if e.recs == nil {
		return
	}
	b := &e.recs.beats
	if b.chain != nil && !e.chainFits(b.chain) {
		b.chain = nil
	}
	if b.chain != nil {
		com := b.chain.Commitment()
		b.com = &com
	}
	e.state.SetBeatProver(e.proveOwn)
}

// chainFits reports whether c can prove this node's heartbeats now: its
// id and generation, and covering its heartbeat.
func (e *Engine) chainFits(c *identity.BeatChain) bool {
	com := c.Commitment()
	self := e.state.Self()
	return com.ID == self.ID && com.Generation == self.Generation && com.Covers(e.state.Heartbeat())
}

// proveOwn is this node's proof of its heartbeat hb (zero when its chain
// does not cover it, or is of another generation): by the chain before
// the current one for a while after a new one (see SetBeatChain).
func (e *Engine) proveOwn(hb uint64) lsync.BeatProof {
	b := &e.recs.beats
	if b.chain == nil || b.com == nil || b.com.Generation != e.state.Self().Generation {
		return lsync.BeatProof{}
	}
	chain := b.chain
	if b.prev != nil && hb < b.prevTill {
		chain = b.prev
	}
	v, err := chain.Proof(hb)
	if err != nil {
		return lsync.BeatProof{}
	}
	return lsync.BeatProof(v)
}

// ownCommitment is the chain commitment this node's record carries (nil
// for none: no chain of its generation yet).
func (e *Engine) ownCommitment() []byte {
	b := &e.recs.beats
	if b.com == nil || b.com.Generation != e.state.Self().Generation {
		return nil
	}
	raw, err := b.com.Marshal()
	if err != nil {
		return nil // a commitment from NewBeatChain always marshals
	}
	return raw
}

// ChainDue reports whether the node needs a new heartbeat chain: of
// generation, based at heartbeat base, of length (0: the identity
// default). The driver builds it outside its lock
// (identity.NewBeatChain) and hands it to SetBeatChain. It asks once per
// chain needed.
func (e *Engine) ChainDue() (generation, base, length uint64, ok bool) {
	if e.recs == nil || e.recs.beats.asked || e.leaving {
		return 0, 0, 0, false
	}
	b := &e.recs.beats
	self, hb := e.state.Self(), e.state.Heartbeat()
	if b.chain != nil {
		com := b.chain.Commitment()
		if com.Generation == self.Generation && hb+com.Length/8 < com.Last() {
			return 0, 0, 0, false
		}
		length = com.Length
	}
	b.asked = true
	return self.Generation, hb, length, true
}

// SetBeatChain makes c the chain this node proves its heartbeats with,
// and signs its record again to commit to it (seq one above the last).
// A chain not for the node's current generation, or not covering its
// heartbeat, is ErrStaleChain (ChainDue asks again).
//
// The node goes on proving with the chain before for a while (a
// renewal's grace, while that chain covers its heartbeats): peers verify
// proofs of the chain they hold the record of and of the one before, so
// proofs of the old chain verify everywhere while the new record
// spreads, and those of the new one only once it has.
func (e *Engine) SetBeatChain(c *identity.BeatChain, now time.Time) error {
	if e.recs == nil {
		return nil
	}
	b := &e.recs.beats
	b.asked = false
	if !e.chainFits(c) {
		return ErrStaleChain
	}
	com, hb := c.Commitment(), e.state.Heartbeat()
	b.prev = nil
	if old := b.chain; old != nil && e.chainFits(old) {
		oc := old.Commitment()
		b.prev, b.prevTill = old, hb+min(renewGrace, (oc.Last()-hb)/2)
	}
	b.chain, b.com, b.announce = c, &com, true
	if e.recs.own.rec == nil {
		return nil // SignRecord will commit to it
	}
	e.recs.now = later(e.recs.now, now)
	if _, err := e.signOwn(max(uint64(max(e.recs.now.UnixMilli(), 1)), e.ownSeq()+1)); err != nil {
		return fmt.Errorf("engine: sign record with new heartbeat chain: %w", err)
	}
	return nil
}

// reanchorDue re-anchors this node's chain at heartbeat hb once hb is
// ReanchorBeats past the anchor its record names, and signs the record
// again: a node that learns the record then hashes from hb.
func (e *Engine) reanchorDue(hb uint64) {
	b := &e.recs.beats
	if b.chain == nil || b.com == nil || e.recs.own.rec == nil || b.com.Generation != e.state.Self().Generation ||
		hb < b.com.AnchorBeat+b.reanchor {
		return
	}
	com, err := b.chain.Reanchor(hb)
	if err != nil {
		return // past the chain's end: ChainDue asks for a new one
	}
	b.com = &com
	if _, err := e.signOwn(max(uint64(max(e.recs.now.UnixMilli(), 1)), e.ownSeq()+1)); err != nil {
		e.recs.stats.BadSignature++ // signed at start: only a bug fails here
	}
}

// announceRecord sends this node's record to the addresses of its beats
// once after it commits to a new chain: its monitors check its beats
// with it at once rather than after the record spreads.
func (e *Engine) announceRecord(rd *Ready, to []string) {
	if e.recs == nil || !e.recs.beats.announce || e.recs.own.raw == nil {
		return
	}
	e.recs.beats.announce = false
	m := e.withOwnRecord(&lsync.Members{Cluster: e.cfg.Cluster, From: e.cfg.Self.ID})
	for _, addr := range to {
		rd.Send = append(rd.Send, Outgoing{To: addr, Msg: m})
	}
}

// checkBeat verifies that proof proves heartbeat hb of h's node, with a
// long walk from the walk bucket when the claim is too far from every
// point verified.
func (e *Engine) checkBeat(h heldRecord, hb uint64, proof lsync.BeatProof, now time.Time) error {
	if h.com == nil {
		return fmt.Errorf("%w: record of %q commits to no heartbeat chain", identity.ErrBeatOutOfRange, h.rec.ID)
	}
	if proof.IsZero() {
		return errNoBeatProof
	}
	b := &e.recs.beats
	err := b.cache.Verify(h.com, hb, identity.BeatValue(proof))
	if errors.Is(err, identity.ErrBeatTooFar) && e.takeWalk(now) {
		err = b.cache.VerifyWalk(h.com, hb, identity.BeatValue(proof), 2*b.reanchor+identity.DefaultBeatMaxSteps)
	}
	return err
}

// takeWalk takes a long walk from the bucket, if one is left.
func (e *Engine) takeWalk(now time.Time) bool {
	b := &e.recs.beats
	if !b.walksAt.IsZero() && now.After(b.walksAt) {
		b.walks = min(walkBurst, b.walks+now.Sub(b.walksAt).Seconds()*walkRate)
	}
	b.walksAt = later(b.walksAt, now)
	if b.walks < 1 {
		return false
	}
	b.walks--
	return true
}

// refuseBeat counts a heartbeat claim whose proof did not hold: as
// bad_beat_proof when it is a forgery on its face (a wrong value, none,
// or a heartbeat no chain of the record held covers, claimed under that
// very record), quietly when it may be news on its way (a claim made
// under a newer record than the one held, a beat or vote past the end
// of the chain held, or beyond the walk allowed) or proven by a chain
// this node never held (priorChain): the caller says so in quiet.
func (e *Engine) refuseBeat(rd *Ready, from, id string, err error, quiet bool) {
	switch {
	case errors.Is(err, identity.ErrBeatTooFar), quiet:
		e.recs.stats.Unbacked++
	default:
		e.reject(rd, from, id, BadBeatProof, err)
	}
}

// proveEntry checks the heartbeat of an entry its node's record h bears
// out. A heartbeat no higher than the one held needs no proof; a higher
// one is taken only with a proof that holds. It returns false for an
// entry to leave out: one whose heartbeat is unproven, of a node not held
// at that generation, unless a chain not held may prove it (anchorEntry).
// Otherwise an unproven heartbeat is held down to the one held, with its
// proof.
func (e *Engine) proveEntry(en *lsync.DigestEntry, h heldRecord, from string, now time.Time, rd *Ready) bool {
	gen, hb, proof, known := e.state.HeldBeat(en.ID)
	known = known && gen == en.Generation
	if known && en.Heartbeat <= hb {
		return true
	}
	err := e.checkBeat(h, en.Heartbeat, en.BeatProof, now)
	if err == nil {
		return true
	}
	prior := e.priorChain(h, en.Heartbeat, err)
	e.refuseBeat(rd, from, en.ID, err, en.RecordSeq > h.rec.Seq || prior)
	if !known {
		return prior && anchorEntry(en, h)
	}
	en.Heartbeat, en.BeatProof = hb, proof
	return true
}

// proveBeat checks a beat's heartbeat as proveEntry does an entry's; a
// beat unproven is dropped, and its sender asked for its record, which
// it may have renewed.
func (e *Engine) proveBeat(b *lsync.Beat, c *carrier, from string, now time.Time, rd *Ready) bool {
	gen, hb, _, known := e.state.HeldBeat(b.From)
	if b.Release || known && gen == b.Generation && b.Heartbeat <= hb {
		return true
	}
	h, held := e.recs.held[b.From]
	if !held {
		c.want(b.From)
		e.recs.stats.Unbacked++
		return false
	}
	if err := e.checkBeat(h, b.Heartbeat, b.Proof, now); err != nil {
		c.want(b.From)
		e.refuseBeat(rd, from, b.From, err, pastChain(h, b.Heartbeat) || e.priorChain(h, b.Heartbeat, err))
		return false
	}
	return true
}

// pastChain reports whether hb lies past the end of the chain of the
// record held: a heartbeat of a node that restarted or renewed its
// chain, quoted before its new record arrived, rather than a forgery.
func pastChain(h heldRecord, hb uint64) bool {
	return h.com != nil && hb > h.com.Last()
}

// priorChain reports whether hb may be proven by a chain before the one
// of the record held which this node does not hold (it restarted, or
// joined, after its node renewed the chain): a heartbeat up to the
// chain's base, which the record says its node reached, or one within
// renewGrace above it, where a renewing node goes on proving with its
// previous chain; relays quote such proofs long after. Where every chain
// that may prove hb is held, a claim was checked against each, and one
// that failed is a forgery; so is a claim without a proof, and one above
// the base of a chain set up at start (based at the first heartbeat of a
// boot, Config.Boot<<32), which no chain before it proves.
func (e *Engine) priorChain(h heldRecord, hb uint64, err error) bool {
	com := h.com
	if com == nil || hb > com.Base && (hb-com.Base >= renewGrace || com.Base%(1<<32) == 0) ||
		!errors.Is(err, identity.ErrBeatProof) && !errors.Is(err, identity.ErrBeatOutOfRange) {
		return false
	}
	others := e.recs.beats.cache.Reaching(com.ID, hb)
	if hb >= com.Base && hb <= com.Last() {
		others-- // the record's own chain, given to the cache as it checked
	}
	return others <= 0
}

// anchorEntry holds en down to the anchor of its node's record h, with
// the anchor's value as its proof: a heartbeat the record says its node
// reached, which every node holding the record verifies. A node that
// starts while its peer proves heartbeats in a chain it never held then
// holds the peer at once rather than once the peer's renewal grace is
// over. False for an entry below the anchor, or of another generation.
func anchorEntry(en *lsync.DigestEntry, h heldRecord) bool {
	com := h.com
	if com.Generation != en.Generation || en.Heartbeat < com.AnchorBeat {
		return false
	}
	en.Heartbeat, en.BeatProof = com.AnchorBeat, lsync.BeatProof(com.Anchor)
	return true
}

// voteProof is the proof of heartbeat hb of node id this node holds, for
// a vote it sends: its own, the one held with the heartbeat, or the
// highest verified; zero if none of them is of hb.
func (e *Engine) voteProof(id string, hb uint64) lsync.BeatProof {
	if e.recs == nil {
		return lsync.BeatProof{}
	}
	if id == e.cfg.Self.ID {
		return e.proveOwn(hb)
	}
	if _, held, proof, ok := e.state.HeldBeat(id); ok && held == hb {
		return proof
	}
	if _, best, v, ok := e.recs.beats.cache.Best(id); ok && best == hb {
		return lsync.BeatProof(v)
	}
	return lsync.BeatProof{}
}

// provenUpTo reports whether heartbeat hb of id is one this node holds or
// verified (always without signing): a vote's heartbeat the monitor may
// take.
func (e *Engine) provenUpTo(id string, hb uint64) bool {
	if e.recs == nil {
		return true
	}
	if _, held, _, ok := e.state.HeldBeat(id); ok && hb <= held {
		return true
	}
	_, best, _, ok := e.recs.beats.cache.Best(id)
	return ok && hb <= best
}

// parseCommitment is the chain commitment of a verified record, nil for
// none or one that does not parse (its node's heartbeats above those
// held are then never taken).
func parseCommitment(rec *identity.NodeRecord) *identity.BeatCommitment {
	if len(rec.BeatChain) == 0 {
		return nil
	}
	com, err := identity.ParseBeatCommitment(rec.ID, rec.Generation, rec.BeatChain)
	if err != nil {
		return nil
	}
	return &com
}
