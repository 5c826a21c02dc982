package node

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// sseHeartbeat is how often GET /events writes a comment line when there
// is nothing to say, so that proxies keep the stream open.
var sseHeartbeat = 15 * time.Second

// SSEMaxDeltas caps the deltas carried by one GET /events message; the
// rest are counted in its "more" field. Go programs wanting every delta
// use Subscribe.
const SSEMaxDeltas = 100

// SSEEvent is the JSON of one GET /events message ("data:" line); the
// "event:" line carries the same Type.
type SSEEvent struct {
	Type   string     `json:"type"`             // updates, delete, peers_discover, peers_suspend, peers_recover, peers_dead, peers_leave, peers_remove
	Time   time.Time  `json:"time"`             // when the node published it
	Peers  []string   `json:"peers,omitempty"`  // node ids, for peer events
	Deltas []SSEDelta `json:"deltas,omitempty"` // for updates and delete
	More   int        `json:"more,omitempty"`   // deltas left out beyond SSEMaxDeltas
	Missed uint64     `json:"missed,omitempty"` // events this stream lost just before this one
}

// SSEDelta is one key change in an SSEEvent, its value as GET /kv gives
// it: Value as a string when the bytes are valid UTF-8 (nil otherwise,
// rather than mangled), ValueB64 always (standard base64). A delete
// carries neither.
type SSEDelta struct {
	Peer     string  `json:"peer"`
	Key      string  `json:"key"`
	Value    *string `json:"value,omitempty"`
	ValueB64 *string `json:"value_b64,omitempty"`
	Version  uint64  `json:"version"`
	Deleted  bool    `json:"deleted,omitempty"`
}

func toSSE(ev Event, now time.Time) SSEEvent {
	out := SSEEvent{Type: ev.Type.String(), Time: now, Peers: ev.Peers, Missed: ev.Missed}
	for i, d := range ev.Deltas {
		if i == SSEMaxDeltas {
			out.More = len(ev.Deltas) - i
			break
		}
		sd := SSEDelta{Peer: d.Peer, Key: d.Key, Version: d.Version, Deleted: d.Deleted}
		if !d.Deleted {
			kv := newKVEntry("", d.Value, d.Version)
			sd.Value, sd.ValueB64 = kv.Value, &kv.ValueB64
		}
		out.Deltas = append(out.Deltas, sd)
	}
	return out
}

// handleEvents streams events as server-sent events until the client goes
// away or the node closes.
func (n *Node) handleEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming unsupported by this server")
		return
	}
	sub := n.Subscribe(256)
	defer sub.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	// Tell the browser to reconnect after 2 s, and open the stream now.
	if _, err := fmt.Fprint(w, "retry: 2000\n: leviathan events\n\n"); err != nil {
		return
	}
	flusher.Flush()

	beat := time.NewTicker(sseHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-n.stop:
			return
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return
			}
			flusher.Flush()
		case ev, ok := <-sub.C:
			if !ok {
				return // node closed
			}
			data, err := json.Marshal(toSSE(ev, n.clock.Now()))
			if err != nil {
				n.log.Error().Err(err).Msg("encoding event")
				continue
			}
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, data); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}

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
