package admin

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/leviathan-gossip/leviathan/node"
)

// sseHeartbeat is how often GET /events writes a comment line when there
// is nothing to say, so that proxies keep the stream open.
var sseHeartbeat = 15 * time.Second

// SSEMaxDeltas caps the deltas carried by one GET /events message; the
// rest are counted in its "more" field. Go programs wanting every delta
// use node.Subscribe.
const SSEMaxDeltas = 100

// SSEEvent is the JSON of one GET /events message ("data:" line); the
// "event:" line carries the same Type. Deltas are written as node.Delta
// writes them: "value" as a string when the bytes are valid UTF-8 (left
// out otherwise, rather than mangled), "value_b64" always (standard
// base64); a delete carries neither.
type SSEEvent struct {
	Type   string       `json:"type"`             // updates, delete, peers_discover, peers_suspend, peers_recover, peers_dead, peers_leave, peers_remove
	Time   time.Time    `json:"time"`             // when the node published it
	Peers  []string     `json:"peers,omitempty"`  // node ids, for peer events
	Deltas []node.Delta `json:"deltas,omitempty"` // for updates and delete
	More   int          `json:"more,omitempty"`   // deltas left out beyond SSEMaxDeltas
	Missed uint64       `json:"missed,omitempty"` // events this stream lost just before this one
}

func toSSE(ev node.Event, now time.Time) SSEEvent {
	if !ev.Time.IsZero() {
		now = ev.Time
	}
	out := SSEEvent{Type: ev.Type.String(), Time: now, Peers: ev.Peers, Deltas: ev.Deltas, Missed: ev.Missed}
	if len(out.Deltas) > SSEMaxDeltas {
		out.Deltas, out.More = out.Deltas[:SSEMaxDeltas], len(out.Deltas)-SSEMaxDeltas
	}
	return out
}

// sseQueueBytes bounds what the events waiting for one GET /events client
// hold: a client that reads slower than the cluster writes loses events,
// told in "missed", instead of pinning their values in memory.
const sseQueueBytes = 1 << 20

// sseWriteTimeout is how long one write to a GET /events client may take,
// so that a client that stops reading without closing is let go.
var sseWriteTimeout = 30 * time.Second

// handleEvents streams events as server-sent events until the client goes
// away or the node closes; at most cfg.MaxSSE streams at once.
func (a *api) handleEvents(w http.ResponseWriter, r *http.Request) {
	if _, ok := w.(http.Flusher); !ok {
		writeError(w, http.StatusInternalServerError, "streaming unsupported by this server")
		return
	}
	if a.streams.Add(1) > int64(a.cfg.MaxSSE) {
		a.streams.Add(-1)
		writeError(w, http.StatusServiceUnavailable,
			fmt.Sprintf("too many event streams open (http_max_sse = %d); retry later", a.cfg.MaxSSE))
		return
	}
	defer a.streams.Add(-1)
	sub := a.n.SubscribeBounded(256, sseQueueBytes)
	defer sub.Close()
	out := openSSE(w)
	defer out.close()
	// Tell the browser to reconnect after 2 s, and open the stream now.
	if out.send("retry: 2000\n: leviathan events\n\n") != nil {
		return
	}
	a.streamEvents(r.Context(), sub, out)
}

// streamEvents relays sub until the client goes or the node closes,
// which closes sub.C.
func (a *api) streamEvents(ctx context.Context, sub *node.Subscription, out sseWriter) {
	beat := time.NewTicker(sseHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			if out.send(": heartbeat\n\n") != nil {
				return
			}
		case ev, ok := <-sub.C:
			if !ok {
				return // node closed
			}
			sub.Release(ev)
			data, err := json.Marshal(toSSE(ev, time.Now()))
			if err != nil {
				a.log.Error().Err(err).Msg("encoding event")
				continue
			}
			if out.send("event: %s\ndata: %s\n\n", ev.Type, data) != nil {
				return
			}
		}
	}
}

// sseWriter writes a stream's messages, each with its own deadline.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// openSSE writes the stream's headers.
func openSSE(w http.ResponseWriter) sseWriter {
	out := sseWriter{w: w, rc: http.NewResponseController(w)}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	return out
}

func (s sseWriter) send(format string, args ...any) error {
	// Unsupported (a wrapping ResponseWriter): the server's own timeouts.
	_ = s.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	if _, err := fmt.Fprintf(s.w, format, args...); err != nil {
		return fmt.Errorf("writing event stream: %w", err)
	}
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("flushing event stream: %w", err)
	}
	return nil
}

// close lifts the last write deadline, which would otherwise still be on
// a keep-alive connection when it serves its next request.
func (s sseWriter) close() { _ = s.rc.SetWriteDeadline(time.Time{}) }

//go:embed ui/index.html
var ui embed.FS

func serveStatusPage(w http.ResponseWriter, _ *http.Request) {
	page, err := ui.ReadFile("ui/index.html")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(page)
}
