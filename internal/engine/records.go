package engine

import (
	"errors"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/proof"
)

// Signed node records. With Config.Signing set, a node's address,
// generation, alias and leave are what its own signed record
// (identity.NodeRecord) says, whoever relays them. The engine keeps the
// newest verified record of each node, relays it verbatim, and takes a
// digest entry or member list entry of node P only as far as P's record
// bears it out: the entry's address and alias are replaced by the
// record's, and an entry of a generation or a leave the record does not
// state is left out. Nothing of a node is taken before its record.
//
// Records travel in Members messages (Records, Wants), never in a Syn or
// its answers, whose sizes the core computes: each digest entry carries
// the seq of the sender's record of its node (RecordSeq), so a receiver
// that holds a newer one sends it back and one that holds an older one,
// or none, asks for it. A quiet round's summary covers the seqs, so
// quiet nodes whose records differ still exchange digests and find out.

// Signing is Config.Signing: the local node's key and the trust that
// peers' keys are checked against.
type Signing struct {
	Key         *identity.Key
	Certificate []byte // this node's, in CA mode; nil with pinned keys
	Trust       identity.Checker
	// Chain proves this node's heartbeats (beats.go): the driver builds
	// it for the node's generation, based at its first heartbeat
	// (Boot<<32), before New, as setting one up takes a while. Nil, or
	// not for the node, and the engine asks for one (ChainDue).
	Chain *identity.BeatChain
	// Reanchor is how many beats apart the node re-anchors its chain
	// (0: DefaultReanchorBeats).
	Reanchor uint64
	// Records makes records travel with their origins' proofs
	// (recordproofs.go): the driver signs the node's own, and a record
	// of any node is taken only with a proof its origin's key signed.
	Records bool
}

// MaxRecordAhead is how far a node record's seq (its owner's clock in
// milliseconds when it signed it) may lie ahead of the receiver's clock:
// a record far in the future would shadow every later one of its node.
const MaxRecordAhead = 10 * time.Minute

// RejectReason says why a record or a claim was refused.
type RejectReason string

// Reasons of Rejected.
const (
	// BadSignature: a record that does not parse, or whose signature is
	// not its key's.
	BadSignature RejectReason = "bad_signature"
	// UntrustedKey: a well-signed record by a key the trust does not
	// accept for its id (not pinned, no valid certificate, revoked).
	UntrustedKey RejectReason = "untrusted_key"
	// RecordAhead: a record whose seq is more than MaxRecordAhead ahead.
	RecordAhead RejectReason = "record_ahead"
	// UnsignedClaim: an entry that says it stands on the record held,
	// yet claims a newer generation or a leave that record does not.
	UnsignedClaim RejectReason = "unsigned_claim"
)

// Rejected is one record or claim refused, for the driver to count and
// log.
type Rejected struct {
	From   string // the address it came from
	ID     string // the node it was about, as it claimed
	Reason RejectReason
	Err    error // the check's error, for records
}

// RecordStats counts node records and the claims gated by them.
type RecordStats struct {
	Held     int    // records held, the local node's included
	Accepted uint64 // records taken: new or newer, verified
	Refused  uint64 // verified, but no room (max_peers records held)
	// By reason, as in Rejected.
	BadSignature, UntrustedKey, Ahead, UnsignedClaims, BadBeatProofs, BadRecordProofs uint64
	// UnsignedWatermarks counts entries refused for a GC horizon their
	// node's record does not state (horizon.go).
	UnsignedWatermarks uint64
	// Unbacked counts entries left out as no record held bears them out
	// yet (a record on its way, or a claim of no record at all).
	Unbacked uint64
	// Votes: refused as forged or unsigned (BadVoteSignatures); dropped
	// quietly as by a non-monitor (VotesNotMonitor), as replayed or
	// overtaken by their voter's newer vote or against an earlier
	// generation of this node (StaleVotes) or as beyond the
	// signature checks allowed (VoteChecksDeferred); signatures checked
	// (VoteChecks) and own votes signed (VotesSigned).
	BadVoteSignatures, VotesNotMonitor, StaleVotes, VoteChecksDeferred, VoteChecks, VotesSigned uint64
}

type heldRecord struct {
	rec *identity.NodeRecord
	raw []byte
	com *identity.BeatCommitment // rec's heartbeat chain, nil for none
}

// records is the engine's store of node records (nil without signing).
type records struct {
	sign  Signing
	own   heldRecord
	held  map[string]heldRecord // peers' records, by id
	limit int
	now   time.Time // the latest input's time
	stats RecordStats
	beats beats    // signed liveness (beats.go)
	votes voteBook // signed votes (votesign.go)
	// verified remembers the record batch headers checked
	// (recordproofs.go); nil unless Signing.Records.
	verified *proof.Verified
	// retired are the keys the local record names as retired
	// (SetRetiredKeys).
	retired []identity.RetiredKey
	// kept is the horizon the driver keeps beside the node's key
	// (KeepHorizons).
	kept keptHorizon
}

// uncappedRecords bounds the records held when MaxPeers sets no cap.
const uncappedRecords = 1 << 16

func newRecords(s *Signing, maxPeers int) *records {
	if s == nil {
		return nil
	}
	limit := maxPeers
	if limit <= 0 {
		limit = uncappedRecords
	}
	r := &records{sign: *s, held: make(map[string]heldRecord), limit: limit, beats: newBeats(s, limit), votes: newVoteBook()}
	if s.Records {
		r.verified = proof.NewVerified(verifiedHeaders)
	}
	return r
}

// SignRecord signs the local node's record afresh from its current
// address, alias, generation and leave, with a seq above the last and at
// least now in milliseconds, and returns it. Without signing it returns
// nil.
func (e *Engine) SignRecord(now time.Time) (*identity.NodeRecord, error) {
	if e.recs == nil {
		return nil, nil
	}
	e.recs.now = later(e.recs.now, now)
	seq := max(uint64(max(now.UnixMilli(), 1)), e.ownSeq()+1)
	return e.signOwn(seq)
}

func (e *Engine) ownSeq() uint64 {
	if e.recs.own.rec == nil {
		return 0
	}
	return e.recs.own.rec.Seq
}

func (e *Engine) signOwn(seq uint64) (*identity.NodeRecord, error) {
	self := e.state.Self()
	rec, err := identity.SignNodeRecord(e.recs.sign.Key, identity.NodeRecord{
		ID: self.ID, Addr: self.Addr, Alias: self.Alias, Generation: self.Generation, Seq: seq,
		Leaving: e.leaving, BeatChain: e.ownCommitment(), Certificate: e.recs.sign.Certificate,
		GCVersion: e.horizonToSign(), Retired: e.recs.retired,
	})
	if err != nil {
		return nil, err
	}
	raw, err := rec.Marshal()
	if err != nil {
		return nil, err
	}
	e.recs.own = heldRecord{rec: rec, raw: raw}
	e.state.SetRecordSeq(self.ID, seq)
	return rec, nil
}

// SetRetiredKeys sets the keys the local record names as retired, from
// the next record it signs on (the driver sets them before SignRecord):
// keys that signed proofs of the node's records which peers still hold,
// so that those proofs stand after a key rotation. At most
// identity.MaxRetiredKeys, none the node's key. Without signing it does
// nothing.
func (e *Engine) SetRetiredKeys(rs []identity.RetiredKey) {
	if e.recs != nil {
		e.recs.retired = rs
	}
}

// resignOnChange signs the local record again when the node's own state
// moved away from it (a refutation's new generation): peers take entries
// of the new generation only under a record that states it.
func (e *Engine) resignOnChange() {
	if e.recs == nil || e.recs.own.rec == nil {
		return
	}
	if e.recs.own.rec.Generation == e.state.Self().Generation && e.recs.own.rec.Leaving == e.leaving {
		e.horizonDue()
		return
	}
	seq := max(uint64(max(e.recs.now.UnixMilli(), 1)), e.ownSeq()+1)
	if _, err := e.signOwn(seq); err != nil {
		// The key and certificate signed at start: this fails only on a
		// bug; peers keep the record they have.
		e.recs.stats.BadSignature++
	}
}

// OwnRecord is the local node's signed record, encoded (nil without
// signing, or before SignRecord).
func (e *Engine) OwnRecord() []byte {
	if e.recs == nil {
		return nil
	}
	return e.recs.own.raw
}

// Record returns the verified record held for id (the local node's own
// included).
func (e *Engine) Record(id string) (*identity.NodeRecord, bool) {
	if e.recs == nil {
		return nil, false
	}
	if id == e.cfg.Self.ID {
		return e.recs.own.rec, e.recs.own.rec != nil
	}
	h, ok := e.recs.held[id]
	return h.rec, ok
}

// RecordStats returns the record counters (zero without signing).
func (e *Engine) RecordStats() RecordStats {
	if e.recs == nil {
		return RecordStats{}
	}
	st := e.recs.stats
	st.Held = len(e.recs.held)
	if e.recs.own.rec != nil {
		st.Held++
	}
	return st
}

// carrier collects what one input owes its sender: records it lacks and
// ids whose records this node lacks.
type carrier struct {
	give  []heldRecord
	gave  map[string]bool
	wants []string
	asked map[string]bool
}

func (c *carrier) add(h heldRecord) {
	if c.gave == nil {
		c.gave = make(map[string]bool)
	}
	if !c.gave[h.rec.ID] {
		c.gave[h.rec.ID] = true
		c.give = append(c.give, h)
	}
}

func (c *carrier) want(id string) {
	if c.asked == nil {
		c.asked = make(map[string]bool)
	}
	if !c.asked[id] {
		c.asked[id] = true
		c.wants = append(c.wants, id)
	}
}

// message is a Members message holding what c collected, cut to budget
// bytes (records first: they are what was asked), or nil for nothing.
func (e *Engine) carrierMsg(c *carrier, budget int) *lsync.Members {
	if len(c.give) == 0 && len(c.wants) == 0 {
		return nil
	}
	m := &lsync.Members{Cluster: e.cfg.Cluster, From: e.cfg.Self.ID}
	// The codec's 4-byte header, an array of seven fields, cluster,
	// sender, request, an empty member list, up, and the two lists'
	// headers at their largest.
	budget -= 4 + 1 + lsync.StrSize(len(m.Cluster)) + lsync.StrSize(len(m.From)) + 1 + 1 + 1 + 2*3
	for _, h := range c.give {
		if sz := lsync.BinSize(len(h.raw)); sz <= budget && len(m.Records) < lsync.MaxMessageRecords {
			m.Records = append(m.Records, h.raw)
			budget -= sz
		}
	}
	for _, id := range c.wants {
		if sz := lsync.StrSize(len(id)); sz <= budget && len(m.Wants) < lsync.MaxMessageWants {
			m.Wants = append(m.Wants, id)
			budget -= sz
		}
	}
	if len(m.Records) == 0 && len(m.Wants) == 0 {
		return nil
	}
	return m
}

// takeRecords checks the records a member list carries and keeps the
// newest verified one of each node. A record no newer than the one held
// costs a parse and no signature check.
func (e *Engine) takeRecords(raws [][]byte, from string, now time.Time, rd *Ready) {
	r := e.recs
	ahead := uint64(now.Add(MaxRecordAhead).UnixMilli())
	for _, raw := range raws {
		rec, err := identity.ParseNodeRecord(raw)
		if err != nil {
			e.reject(rd, from, "", BadSignature, err)
			continue
		}
		if rec.ID == e.cfg.Self.ID {
			continue // this node's word on itself is its own
		}
		old, held := r.held[rec.ID]
		if held && !rec.Newer(old.rec) {
			continue
		}
		if rec.Seq > ahead {
			e.reject(rd, from, rec.ID, RecordAhead, nil)
			continue
		}
		if err := rec.Verify(r.sign.Trust, now); err != nil {
			reason := BadSignature
			if errors.Is(err, identity.ErrUntrusted) {
				reason = UntrustedKey
			}
			e.reject(rd, from, rec.ID, reason, err)
			continue
		}
		if !held && len(r.held) >= r.limit && !e.evictRecord() {
			r.stats.Refused++
			continue
		}
		r.held[rec.ID] = heldRecord{rec: rec, raw: raw, com: parseCommitment(rec)}
		r.stats.Accepted++
		e.state.SetRecordSeq(rec.ID, rec.Seq)
	}
}

// evictRecord makes room for a record by dropping one of a node the core
// no longer knows (removed, or a ghost forgotten): the first such id, so
// that the choice does not depend on map order. False if every record
// held is of a known node.
func (e *Engine) evictRecord() bool {
	victim := ""
	for id := range e.recs.held {
		if _, known := e.state.Peer(id); !known && (victim == "" || id < victim) {
			victim = id
		}
	}
	if victim == "" {
		return false
	}
	delete(e.recs.held, victim)
	e.state.SetRecordSeq(victim, 0)
	return true
}

func (e *Engine) reject(rd *Ready, from, id string, reason RejectReason, err error) {
	st := &e.recs.stats
	switch reason {
	case BadSignature:
		st.BadSignature++
	case UntrustedKey:
		st.UntrustedKey++
	case RecordAhead:
		st.Ahead++
	case UnsignedClaim:
		st.UnsignedClaims++
	case BadBeatProof:
		st.BadBeatProofs++
	case BadVoteSignature:
		st.BadVoteSignatures++
	case BadRecordProof:
		st.BadRecordProofs++
	case UnsignedWatermark:
		st.UnsignedWatermarks++
	}
	rd.Rejected = append(rd.Rejected, Rejected{From: from, ID: id, Reason: reason, Err: err})
}

// gate runs a received message's claims about nodes past their records
// (see the top of this file) before the core sees it, and notes in c
// what the sender lacks or has that this node lacks.
func (e *Engine) gate(m lsync.Message, from string, c *carrier, now time.Time, rd *Ready) lsync.Message {
	switch v := m.(type) {
	case *lsync.Members:
		e.takeRecords(v.Records, from, now, rd)
		for _, id := range v.Wants {
			e.giveRecord(c, id)
		}
		v.Members, v.Up = e.gateEntries(v.Members, v.Up, from, c, now, rd)
	case *lsync.Syn:
		v.Digest, _ = e.gateEntries(v.Digest, 0, from, c, now, rd)
	case *lsync.SynAck:
		v.Digest, _ = e.gateEntries(v.Digest, 0, from, c, now, rd)
	case *lsync.Beat:
		if !e.beatBacked(v) {
			e.recs.stats.Unbacked++
			return nil
		}
		if !e.proveBeat(v, c, from, now, rd) {
			return nil
		}
	}
	return m
}

func (e *Engine) giveRecord(c *carrier, id string) {
	if id == e.cfg.Self.ID {
		if e.recs.own.rec != nil {
			c.add(e.recs.own)
		}
		return
	}
	if h, ok := e.recs.held[id]; ok {
		c.add(h)
	}
}

// gateEntries keeps the entries that the records held bear out, with
// their address and alias the records'. Entries of this node go to the
// core, which refutes what this node did not say. up is a member list's
// count of leading entries listed alive, returned as the count of those
// kept.
func (e *Engine) gateEntries(d []lsync.DigestEntry, up int, from string, c *carrier, now time.Time, rd *Ready) ([]lsync.DigestEntry, int) {
	r := e.recs
	ahead := uint64(now.Add(MaxRecordAhead).UnixMilli())
	out := d[:0]
	upOut := 0
	keep := func(i int, en lsync.DigestEntry) {
		out = append(out, en)
		if i < up {
			upOut++
		}
	}
	for i, en := range d {
		if en.ID == e.cfg.Self.ID {
			if r.own.rec != nil && en.RecordSeq < r.own.rec.Seq {
				c.add(r.own)
			}
			keep(i, en)
			continue
		}
		h, held := r.held[en.ID]
		switch {
		case !held || en.RecordSeq > h.rec.Seq:
			if en.RecordSeq > 0 && en.RecordSeq <= ahead {
				c.want(en.ID)
			}
		case en.RecordSeq < h.rec.Seq:
			c.add(h)
		}
		if !held {
			r.stats.Unbacked++
			continue
		}
		if en.Generation != h.rec.Generation || en.Leaving != h.rec.Leaving {
			if e.unsignedClaim(&en, h.rec) {
				e.reject(rd, from, en.ID, UnsignedClaim, nil)
			} else {
				r.stats.Unbacked++
			}
			continue
		}
		if !e.gateHorizon(&en, h, from, rd) || !e.proveEntry(&en, h, from, now, rd) {
			continue
		}
		en.Addr, en.Alias = h.rec.Addr, h.rec.Alias
		if en.Alias == en.ID {
			en.Alias = ""
		}
		keep(i, en)
	}
	return out, upOut
}

// unsignedClaim reports whether an entry that its node's record does not
// bear out is a claim the node never signed, rather than news on its way
// or a stale relay: it names the very record held, yet claims a later
// generation, or a leave at a heartbeat above the one held. (A sender's
// core may hold a node's leave or old generation a moment after taking
// its newer record: its entry then names the new record with a state
// already left behind, and no risen heartbeat.)
func (e *Engine) unsignedClaim(en *lsync.DigestEntry, rec *identity.NodeRecord) bool {
	switch {
	case en.RecordSeq != rec.Seq:
		return false
	case en.Generation > rec.Generation:
		return true
	case en.Leaving && !rec.Leaving && en.Generation == rec.Generation:
		p, known := e.state.Peer(en.ID)
		return !known || en.Heartbeat > p.Heartbeat
	}
	return false
}

// beatBacked reports whether a beat's generation is one its node's
// record states (or, before its record is held, the generation the core
// holds): a beat from a node's address is its word for a new generation.
func (e *Engine) beatBacked(b *lsync.Beat) bool {
	if h, ok := e.recs.held[b.From]; ok {
		return b.Generation <= h.rec.Generation
	}
	p, known := e.state.Peer(b.From)
	return known && b.Generation <= p.Generation
}

// sendCarrier adds what c collected, as one Members message to addr,
// ahead of the replies already in rd: the sender takes the records
// before the entries they back.
func (e *Engine) sendCarrier(c *carrier, addr string, rd *Ready) {
	if addr == "" {
		return
	}
	if m := e.carrierMsg(c, e.packetBudget()); m != nil {
		rd.Send = append([]Outgoing{{To: addr, Msg: m}}, rd.Send...)
	}
}

func (e *Engine) packetBudget() int {
	if e.cfg.PacketBudget > 0 {
		return e.cfg.PacketBudget
	}
	return e.cfg.MessageBudget
}

// withOwnRecord adds the local record to a member list this node sends
// of itself (a join request, a hello): the receiver takes the entry only
// with it.
func (e *Engine) withOwnRecord(m *lsync.Members) *lsync.Members {
	if e.recs != nil && e.recs.own.raw != nil {
		m.Records = [][]byte{e.recs.own.raw}
	}
	return m
}

// listRecords adds to a member list the records of the nodes it lists,
// within budget bytes, so that the joiner takes the list at once.
func (e *Engine) listRecords(m *lsync.Members, budget int) {
	if e.recs == nil {
		return
	}
	// The two lists' headers at their largest, and up in its longest
	// form.
	budget -= 2*3 + 9
	for _, en := range m.Members {
		h, ok := e.recs.held[en.ID]
		if en.ID == e.cfg.Self.ID {
			h, ok = e.recs.own, e.recs.own.raw != nil
		}
		if !ok {
			continue
		}
		if sz := lsync.BinSize(len(h.raw)); sz <= budget && len(m.Records) < lsync.MaxMessageRecords {
			m.Records = append(m.Records, h.raw)
			budget -= sz
		}
	}
}
