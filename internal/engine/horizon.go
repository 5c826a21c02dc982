package engine

import (
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Signed GC horizons (sync's watermarks.go). A node's signed record
// states how far it has collected its tombstones, and peers drop its
// tombstones only that far, whoever relays a higher horizon. The node
// signs its record again as its horizon moves, at most once per
// horizonResign: each new record spreads to every peer (about 74 kB per
// node at 100 nodes when every node signs one, docs/security.md), and a
// node that deletes steadily would otherwise sign one per collection.
// Meanwhile it shows the horizon it signed, and its peers keep its
// tombstones at most that much longer than it does, a sixth of the
// default tombstone grace.

// horizonResign is the least time between two records a node signs for
// its horizon alone.
const horizonResign = 10 * time.Minute

// UnsignedWatermark: a digest entry that names the very record held for
// its node, or an older one, yet shows a GC horizon above the one that
// record states.
const UnsignedWatermark RejectReason = "unsigned_watermark"

// initHorizons makes the core take horizons only as records state them.
func (e *Engine) initHorizons() {
	if e.recs == nil {
		return
	}
	e.state.SetSignedHorizons(e.signedHorizon)
}

// signedHorizon is the GC horizon the record held for id states, the
// local node's own included; 0 without one.
func (e *Engine) signedHorizon(id string) uint64 {
	if id == e.cfg.Self.ID {
		if e.recs.own.rec == nil {
			return 0
		}
		return e.recs.own.rec.GCVersion
	}
	if h, ok := e.recs.held[id]; ok {
		return h.rec.GCVersion
	}
	return 0
}

// horizonDue signs the local record again once the node's horizon has
// moved past the one it states and horizonResign has passed since it was
// signed (its seq is the time it was signed at, in milliseconds). A
// driver that keeps the horizon (KeepHorizons) is asked to keep it first
// (HorizonDue), and the record is signed once it has (KeptHorizon).
func (e *Engine) horizonDue() {
	own := e.recs.own.rec
	if own == nil || e.state.Self().GCVersion <= own.GCVersion ||
		uint64(max(e.recs.now.UnixMilli(), 0)) < own.Seq+uint64(horizonResign.Milliseconds()) {
		return
	}
	if k := &e.recs.kept; k.on {
		k.ask = max(k.ask, e.state.Self().GCVersion)
		return
	}
	if _, err := e.signOwn(max(uint64(max(e.recs.now.UnixMilli(), 1)), e.ownSeq()+1)); err != nil {
		e.recs.stats.BadSignature++ // signed at start: only a bug fails here
	}
}

// gateHorizon checks an entry's horizon against the record held for its
// node, of the entry's generation: above it, the entry is refused when
// it names that record or an older one (a horizon the node never
// signed), and cut to it when the sender holds a newer record, which is
// on its way here. It reports false for a refused entry.
func (e *Engine) gateHorizon(en *lsync.DigestEntry, h heldRecord, from string, rd *Ready) bool {
	if en.GCVersion <= h.rec.GCVersion {
		return true
	}
	if en.RecordSeq <= h.rec.Seq {
		e.reject(rd, from, en.ID, UnsignedWatermark, nil)
		return false
	}
	en.GCVersion = h.rec.GCVersion
	return true
}

// A node's record states its horizon so that peers collect its
// tombstones, and refill it past them from their current state (a Reset
// delta) only that far. A node whose data is wiped starts with no
// horizon; were its new record to state none, peers that collected its
// tombstones could refill it neither from their current state nor from
// its empty watermark, and it would write on with its data missing. So a
// driver that keeps the node's identity apart from its data keeps there,
// too, the highest horizon the node signed, written before a record
// states it, and gives it back at start: the record states it, wiped
// data or not, and peers refill the node.

// keptHorizon is the horizon the driver keeps for the local node.
type keptHorizon struct {
	on   bool   // KeepHorizons was called: records state at most kept
	kept uint64 // the horizon kept
	ask  uint64 // a horizon to keep, asked by HorizonDue when above kept
	sent uint64 // the last horizon HorizonDue handed out
}

// KeepHorizons makes the local record state the horizon the driver keeps,
// h from start on: the highest the node's records stated before, or its
// store's horizon if higher, written by the driver before this call. From
// then on the record states a new horizon only once the driver has kept
// it (HorizonDue, KeptHorizon). Call it before SignRecord; without signing
// it does nothing.
func (e *Engine) KeepHorizons(h uint64) {
	if e.recs != nil {
		e.recs.kept.on, e.recs.kept.kept = true, max(e.recs.kept.kept, h)
	}
}

// HorizonDue reports a horizon for the driver to keep, outside any lock
// (file I/O), before it calls KeptHorizon with it; each is reported once.
func (e *Engine) HorizonDue() (uint64, bool) {
	if e.recs == nil {
		return 0, false
	}
	k := &e.recs.kept
	if !k.on || k.ask <= max(k.kept, k.sent) {
		return 0, false
	}
	k.sent = k.ask
	return k.ask, true
}

// KeptHorizon notes that the driver kept horizon h (HorizonDue) and
// signs the local record again to state it.
func (e *Engine) KeptHorizon(h uint64, now time.Time) {
	if e.recs == nil || !e.recs.kept.on || h <= e.recs.kept.kept {
		return
	}
	e.recs.now = later(e.recs.now, now)
	e.recs.kept.kept = h
	if e.recs.own.rec == nil {
		return
	}
	if _, err := e.signOwn(max(uint64(max(now.UnixMilli(), 1)), e.ownSeq()+1)); err != nil {
		e.recs.stats.BadSignature++ // signed at start: only a bug fails here
	}
}

// horizonToSign is the horizon the local record states: the node's own,
// or with KeepHorizons the one kept.
func (e *Engine) horizonToSign() uint64 {
	if e.recs.kept.on {
		return e.recs.kept.kept
	}
	return e.state.Self().GCVersion
}
