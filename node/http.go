package node

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// Handler is the admin API:
//
//	GET    /peers              every other node: id, alias, addr, state, phi,
//	                           last_heard_ms, heartbeat, boot, max_version,
//	                           generation, keys
//	GET    /status             this node: id, alias, addr, cluster, generation,
//	                           heartbeat, boot, max_version, keys, peers, uptime_ns,
//	                           time, phi_threshold, data_dir, stats (counters),
//	                           store (disk use)
//	GET    /kv/{peer}?after=&limit=
//	                           a node's keys with values and versions, in key
//	                           order, after the key after (default: from the
//	                           first), at most limit keys (default 1000, at most
//	                           10000) and PageMaxBytes: {"keys": [...], "next": "k"},
//	                           next set when there is more (pass it as after);
//	                           without after and limit, while everything fits,
//	                           the bare array [...] of the keys
//	GET    /kv/{peer}/{key}    {"value": "...", "value_b64": "...", "version": N} or 404;
//	                           ?raw=1 answers the value's bytes themselves
//	PUT    /kv/{key}           body is the value (any bytes); answers {"version": N}
//	DELETE /kv/{key}           answers {"version": N} of the tombstone
//	GET    /changes?peer=&generation=&since=&limit=
//	                           a peer's changefeed from a cursor, pages of at most
//	                           PageMaxBytes (see Node.Changes)
//	GET    /events             server-sent events: peers_discover, peers_suspend,
//	                           peers_recover, peers_dead, peers_leave, peers_remove,
//	                           updates, delete; at most http_max_sse streams at
//	                           once, then 503
//	GET    /metrics            Prometheus metrics (see WithMetrics)
//	GET    /                   a status page that shows the cluster live
//
// {peer} is an id, an alias, or self (this node). Values travel in JSON
// twice: "value" as a string when they are valid UTF-8 (left out when they
// are not, rather than mangled), "value_b64" always, in standard base64.
// Pages of /kv/{peer} are each read afresh: a key written between two
// of them may be missed or seen; /changes is the exact feed.
//
// Against DNS rebinding, a request whose Host is not localhost, 127.0.0.1,
// ::1, the host of addr or http_addr, or listed in http_allowed_hosts is
// answered 421 (any IP is accepted when http_addr binds a wildcard). When
// http_token is set, everything under /kv, /changes and /events (all that
// writes or carries values) needs "Authorization: Bearer <token>", else
// 401; /status, /peers, /metrics and / stay open. The status page's live
// log (/events) is off then, as a browser's EventSource sends no token.
//
// Errors are JSON {"error": "..."} with a 4xx status for bad requests; an
// unknown path is a 404 with a JSON error too.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", serveStatusPage)
	mux.HandleFunc("GET /events", n.authed(n.handleEvents))
	mux.Handle("GET /metrics", n.metrics.handler())

	mux.HandleFunc("GET /peers", n.handlePeers)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, n.Status()) })
	// /kv and /kv/ without a key or peer: a JSON error saying what goes
	// there, instead of the mux's empty redirect from /kv to /kv/.
	mux.HandleFunc("/kv", handleKVRoot)
	mux.HandleFunc("GET /kv/{$}", handleKVRoot)
	mux.HandleFunc("GET /kv/{peer}", n.authed(n.handleKeys))
	mux.HandleFunc("GET /kv/{peer}/{key...}", n.authed(n.handleGet))
	mux.HandleFunc("PUT /kv/{key...}", n.authed(n.handlePut))
	mux.HandleFunc("DELETE /kv/{key...}", n.authed(n.handleDelete))
	mux.HandleFunc("GET /changes", n.authed(n.handleChanges))
	return n.cfg.hostPolicy().checkHost(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			// The mux's own 404 or 405, in JSON like every other error.
			w = &jsonErrorWriter{ResponseWriter: w, path: r.URL.Path}
		}
		mux.ServeHTTP(w, r)
	}))
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

func handleKVRoot(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, r.Method+" "+r.URL.Path+": no key or peer given; use GET /kv/{peer}, GET /kv/{peer}/{key}, PUT /kv/{key} or DELETE /kv/{key}")
}

func (n *Node) handlePeers(w http.ResponseWriter, _ *http.Request) {
	peers := n.Peers()
	if peers == nil {
		peers = []Peer{}
	}
	writeJSON(w, http.StatusOK, peers)
}

// kvEntry is a key's value in JSON: Value is set when the bytes are valid
// UTF-8 (JSON strings cannot carry other bytes faithfully), ValueB64
// always.
type kvEntry struct {
	Key      string  `json:"key,omitempty"`
	Value    *string `json:"value,omitempty"`
	ValueB64 string  `json:"value_b64"`
	Version  uint64  `json:"version"`
}

func newKVEntry(key string, value []byte, version uint64) kvEntry {
	e := kvEntry{Key: key, ValueB64: base64.StdEncoding.EncodeToString(value), Version: version}
	if utf8.Valid(value) {
		s := string(value)
		e.Value = &s
	}
	return e
}

// VersionHeader carries the version of a value answered raw
// (GET /kv/{peer}/{key}?raw=1).
const VersionHeader = "Leviathan-Version"

func (n *Node) handleGet(w http.ResponseWriter, r *http.Request) {
	peer, key := r.PathValue("peer"), r.PathValue("key")
	e, err := n.Lookup(peer, key)
	switch {
	case errors.Is(err, ErrUnknownPeer):
		writeError(w, http.StatusNotFound, "unknown peer "+peer)
		return
	case err != nil:
		writeError(w, http.StatusNotFound, "no key "+key+" at "+peer)
		return
	}
	if r.URL.Query().Has("raw") {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set(VersionHeader, strconv.FormatUint(e.Version, 10))
		_, _ = w.Write(e.Value)
		return
	}
	writeJSON(w, http.StatusOK, newKVEntry("", e.Value, e.Version))
}

func (n *Node) handlePut(w http.ResponseWriter, r *http.Request) {
	limit := n.cfg.MaxValueSize
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			size := "more than " + strconv.Itoa(limit)
			if r.ContentLength > 0 {
				size = strconv.FormatInt(r.ContentLength, 10)
			}
			writeError(w, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("value of %s bytes exceeds max_value_size %d", size, limit))
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
	case errors.Is(err, ErrValueTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, err.Error())
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
