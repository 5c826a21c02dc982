package node

import (
	"fmt"
	"strings"

	"github.com/rs/zerolog"
)

func parseLevel(s string) (zerolog.Level, error) {
	switch strings.ToLower(s) {
	case "trace":
		return zerolog.TraceLevel, nil
	case "debug":
		return zerolog.DebugLevel, nil
	case "info", "":
		return zerolog.InfoLevel, nil
	case "warn", "warning":
		return zerolog.WarnLevel, nil
	case "error":
		return zerolog.ErrorLevel, nil
	}
	return zerolog.NoLevel, fmt.Errorf("%q is not one of trace, debug, info, warn, error", s)
}

// LogLevel returns the configured level, for building a logger.
func (c Config) Level() zerolog.Level {
	l, err := parseLevel(c.LogLevel)
	if err != nil {
		return zerolog.InfoLevel
	}
	return l
}

// peerEventLogLimit is how many peers one health check logs one line
// each for at info level; beyond it one summary line is logged and the
// per-peer lines go to debug, so a large cluster starting up does not
// flood the log.
const peerEventLogLimit = 10

// logPeerEvent logs a peer-state change, one line per peer with the
// fields peer, alias, generation, addr (and phi for suspensions).
// Suspensions and deaths are warnings, discoveries and recoveries info.
func (n *Node) logPeerEvent(t EventType, ids []string) {
	type meta struct {
		alias, addr string
		gen         uint64
		phi         float64
	}
	metas := make([]meta, len(ids))
	now := n.clock.Now()
	n.mu.Lock()
	for i, id := range ids {
		if p, ok := n.eng.Peer(id); ok {
			metas[i] = meta{alias: p.Alias, addr: p.Addr, gen: p.Generation}
		}
		metas[i].phi = n.eng.Liveness(id, now).Phi
	}
	n.mu.Unlock()

	level, msg := zerolog.InfoLevel, ""
	switch t {
	case EventDiscover:
		msg = "peer discovered"
	case EventRecover:
		msg = "peer recovered"
	case EventSuspend:
		level, msg = zerolog.WarnLevel, "peer suspended"
	case EventDead:
		level, msg = zerolog.WarnLevel, "peer dead"
	case EventLeave:
		msg = "peer left"
	case EventRemove:
		msg = "peer removed"
	default:
		msg = t.String()
	}
	perPeer := level
	if len(ids) > peerEventLogLimit {
		n.log.WithLevel(level).Int("count", len(ids)).Strs("first", ids[:peerEventLogLimit]).Msg(msg)
		perPeer = zerolog.DebugLevel
	}
	for i, id := range ids {
		e := n.log.WithLevel(perPeer).Str("peer", id).Str("alias", metas[i].alias).
			Uint64("generation", metas[i].gen).Str("addr", metas[i].addr)
		if t == EventSuspend {
			e = e.Float64("phi", metas[i].phi)
		}
		e.Str("event", t.String()).Msg(msg)
	}
}
