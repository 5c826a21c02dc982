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
// signed (its seq is the time it was signed at, in milliseconds).
func (e *Engine) horizonDue() {
	own := e.recs.own.rec
	if own == nil || e.state.Self().GCVersion <= own.GCVersion ||
		uint64(max(e.recs.now.UnixMilli(), 0)) < own.Seq+uint64(horizonResign.Milliseconds()) {
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
