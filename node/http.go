package node

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// Handler is the admin API:
//
//	GET    /peers              every other node: id, alias, addr, state, phi, heartbeat, max_version
//	GET    /status             this node: id, generation, versions, counters
//	GET    /kv/{peer}          all keys of a node (id or alias) with values and versions
//	GET    /kv/{peer}/{key}    {"value": "...", "version": N} or 404
//	PUT    /kv/{key}           body is the value; answers {"version": N}
//	DELETE /kv/{key}           answers {"version": N} of the tombstone
//	GET    /changes?peer=&generation=&since=&limit=
//	                           a peer's changefeed from a cursor (see Node.Changes)
//	GET    /events             server-sent events: peers_discover, peers_suspend,
//	                           peers_recover, peers_dead, updates, delete
//	GET    /metrics            Prometheus metrics (see WithMetrics)
//	GET    /                   a status page that shows the cluster live
//
// Errors are JSON {"error": "..."} with a 4xx status for bad requests; an
// unknown path is a 404 with a JSON error too.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", serveStatusPage)
	mux.HandleFunc("GET /events", n.handleEvents)
	mux.Handle("GET /metrics", n.metrics.handler())

	mux.HandleFunc("GET /peers", n.handlePeers)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, n.Status()) })
	mux.HandleFunc("GET /kv/{peer}", n.handleKeys)
	mux.HandleFunc("GET /kv/{peer}/{key...}", n.handleGet)
	mux.HandleFunc("PUT /kv/{key...}", n.handlePut)
	mux.HandleFunc("DELETE /kv/{key...}", n.handleDelete)
	mux.HandleFunc("GET /changes", n.handleChanges)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			// The mux's own 404 or 405, in JSON like every other error.
			w = &jsonErrorWriter{ResponseWriter: w, path: r.URL.Path}
		}
		mux.ServeHTTP(w, r)
	})
}

// jsonErrorWriter turns the mux's plain-text error into {"error": "..."}.
type jsonErrorWriter struct {
	http.ResponseWriter
	path    string
	written bool
}

func (w *jsonErrorWriter) WriteHeader(code int) {
	w.Header().Del("X-Content-Type-Options")
	msg := http.StatusText(code)
	switch code {
	case http.StatusNotFound:
		msg = "no such endpoint " + w.path
	case http.StatusMethodNotAllowed:
		msg = "method not allowed on " + w.path + "; allowed: " + w.Header().Get("Allow")
	}
	writeError(w.ResponseWriter, code, msg)
	w.written = true
}

func (w *jsonErrorWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return len(b), nil // the plain-text body is replaced
}

func (n *Node) handlePeers(w http.ResponseWriter, _ *http.Request) {
	peers := n.Peers()
	if peers == nil {
		peers = []Peer{}
	}
	writeJSON(w, http.StatusOK, peers)
}

type kvEntry struct {
	Key     string `json:"key,omitempty"`
	Value   string `json:"value"`
	Version uint64 `json:"version"`
}

func (n *Node) handleGet(w http.ResponseWriter, r *http.Request) {
	peer, key := r.PathValue("peer"), r.PathValue("key")
	n.mu.Lock()
	_, known := n.resolve(peer)
	n.mu.Unlock()
	if !known {
		writeError(w, http.StatusNotFound, "unknown peer "+peer)
		return
	}
	rec, ok := n.record(peer, key)
	if !ok || rec.Tombstone {
		writeError(w, http.StatusNotFound, "no key "+key+" at "+peer)
		return
	}
	writeJSON(w, http.StatusOK, kvEntry{Value: string(rec.Value), Version: rec.Version})
}

func (n *Node) handleKeys(w http.ResponseWriter, r *http.Request) {
	peer := r.PathValue("peer")
	n.mu.Lock()
	id, known := n.resolve(peer)
	var out []kvEntry
	if known {
		for _, k := range n.state.Keys(id) {
			rec, _ := n.state.Get(id, k)
			out = append(out, kvEntry{Key: k, Value: string(rec.Value), Version: rec.Version})
		}
	}
	n.mu.Unlock()
	if !known {
		writeError(w, http.StatusNotFound, "unknown peer "+peer)
		return
	}
	if out == nil {
		out = []kvEntry{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (n *Node) handlePut(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(n.cfg.MaxValueSize)))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "value exceeds max_value_size")
			return
		}
		writeError(w, http.StatusBadRequest, "reading body: "+err.Error())
		return
	}
	v, err := n.Set(r.PathValue("key"), body)
	n.writeResult(w, v, err)
}

func (n *Node) handleDelete(w http.ResponseWriter, r *http.Request) {
	v, err := n.Delete(r.PathValue("key"))
	n.writeResult(w, v, err)
}

func (n *Node) writeResult(w http.ResponseWriter, version uint64, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]uint64{"version": version})
	case errors.Is(err, ErrBadKey):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrClosed):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		n.log.Error().Err(err).Msg("admin api write failed")
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
