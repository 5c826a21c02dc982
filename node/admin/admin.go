package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/leviathan-gossip/leviathan/node"
)

// Config is what the admin API needs beyond the node: which hosts it
// answers, its token and its stream cap. ConfigFrom reads it from a
// node.Config, whose keys (http_addr, http_allowed_hosts, http_token,
// http_max_sse) a TOML file sets.
type Config struct {
	// Addr is the host peers reach the node at (node.Config.Addr), an
	// address the API answers to as well.
	Addr string
	// HTTPAddr is the host:port the API is served on; its host is
	// answered, and every IP when it is a wildcard (":8080",
	// "0.0.0.0:8080"). Serve fills it in when it is empty.
	HTTPAddr string
	// AllowedHosts are further Host names or IPs answered; "*" answers
	// any. Every other Host gets 421.
	AllowedHosts []string
	// Token, when set, is the bearer token that everything writing or
	// carrying values needs.
	Token string
	// MaxSSE caps the GET /events streams open at once; 0 means 64.
	MaxSSE int
}

// defaultMaxSSE is http_max_sse's default, for a Config built in code.
const defaultMaxSSE = 64

// ConfigFrom takes the admin API's keys of a node's configuration.
func ConfigFrom(c node.Config) Config {
	return Config{
		Addr: c.Addr, HTTPAddr: c.HTTPAddr, AllowedHosts: slices.Clone(c.HTTPAllowedHosts),
		Token: c.HTTPToken, MaxSSE: c.HTTPMaxSSE,
	}
}

// api is the admin API of one node.
type api struct {
	n        *node.Node
	cfg      Config
	log      zerolog.Logger
	maxValue int // the node's max_value_size, for PUT's body limit
	// streams counts the open GET /events streams, capped by cfg.MaxSSE.
	streams atomic.Int64
}

// New returns the admin API of n as an http.Handler (see the package
// comment for its endpoints). It does not own n: close the server that
// serves it before or after n, as you like; n.Close ends open event
// streams.
func New(n *node.Node, cfg Config) http.Handler { return newAPI(n, cfg).handler() }

func newAPI(n *node.Node, cfg Config) *api {
	if cfg.MaxSSE <= 0 {
		cfg.MaxSSE = defaultMaxSSE
	}
	return &api{n: n, cfg: cfg, log: n.Logger(), maxValue: n.Config().MaxValueSize}
}

func (a *api) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", serveStatusPage)
	mux.HandleFunc("GET /events", a.authed(a.handleEvents))
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.n.Gatherer(), promhttp.HandlerOpts{}))

	mux.HandleFunc("GET /peers", a.handlePeers)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, a.n.Status()) })
	// /kv and /kv/ without a key or peer: a JSON error saying what goes
	// there, instead of the mux's empty redirect from /kv to /kv/.
	mux.HandleFunc("/kv", handleKVRoot)
	mux.HandleFunc("GET /kv/{$}", handleKVRoot)
	mux.HandleFunc("GET /kv/{peer}", a.authed(a.handleKeys))
	mux.HandleFunc("GET /kv/{peer}/{key...}", a.authed(a.handleGet))
	// Writes take the shape of reads, /kv/self/{key}: a key is read and
	// written at the same path. /kv/{key} stays for existing clients;
	// a key that itself starts with "self/" is written through the new
	// form (PUT /kv/self/self/...).
	mux.HandleFunc("PUT /kv/self/{key...}", a.authed(a.handlePut))
	mux.HandleFunc("DELETE /kv/self/{key...}", a.authed(a.handleDelete))
	mux.HandleFunc("PUT /kv/{key...}", a.authed(a.handlePut))
	mux.HandleFunc("DELETE /kv/{key...}", a.authed(a.handleDelete))
	mux.HandleFunc("GET /changes", a.authed(a.handleChanges))
	return newHostPolicy(a.cfg).checkHost(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		if bad := unknownParam(pattern, r); bad != "" {
			// A misspelt parameter (limt=1) silently ignored gives the
			// caller an answer to another question.
			writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown query parameter %q for %s", bad, pattern))
			return
		}
		if pattern == "" {
			// The mux's own 404 or 405, in JSON like every other error.
			w = &jsonErrorWriter{ResponseWriter: w, path: r.URL.Path}
		}
		mux.ServeHTTP(w, r)
	}))
}

// queryParams are the query parameters each route takes; a route not
// listed takes none. The status page and /metrics are not checked: a
// browser or a scraper may add its own.
var queryParams = map[string][]string{
	"GET /kv/{peer}":          {"after", "limit"},
	"GET /kv/{peer}/{key...}": {"raw"},
	"GET /changes":            {"peer", "generation", "since", "limit"},
}

// unknownParam returns the first query parameter r names that its route
// does not take, or "".
func unknownParam(pattern string, r *http.Request) string {
	if pattern == "" || pattern == "GET /{$}" || pattern == "GET /metrics" || r.URL.RawQuery == "" {
		return ""
	}
	allowed := queryParams[pattern]
	for name := range r.URL.Query() {
		if !slices.Contains(allowed, name) {
			return name
		}
	}
	return ""
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

func (a *api) handlePeers(w http.ResponseWriter, _ *http.Request) {
	peers := a.n.Peers()
	if peers == nil {
		peers = []node.Peer{}
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

func (a *api) handleGet(w http.ResponseWriter, r *http.Request) {
	peer, key := r.PathValue("peer"), r.PathValue("key")
	e, err := a.n.Get(r.Context(), peer, key)
	switch {
	case errors.Is(err, node.ErrUnknownPeer):
		writeError(w, http.StatusNotFound, "unknown peer "+peer)
		return
	case errors.Is(err, node.ErrNotFound):
		writeError(w, http.StatusNotFound, "no key "+key+" at "+peer)
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "reading the store: "+err.Error())
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

func (a *api) handlePut(w http.ResponseWriter, r *http.Request) {
	limit := a.maxValue
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
	v, err := a.n.Set(r.Context(), r.PathValue("key"), body)
	a.writeResult(w, v, err)
}

func (a *api) handleDelete(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if err := a.n.CheckKey(key); err != nil {
		a.writeResult(w, 0, err)
		return
	}
	// A tombstone for a key never written (or deleted already) would
	// replicate to every node for nothing: the caller likely mistyped it.
	switch _, err := a.n.Get(r.Context(), "", key); {
	case errors.Is(err, node.ErrNotFound):
		writeError(w, http.StatusNotFound, "no key "+key)
		return
	case err != nil:
		a.writeResult(w, 0, err)
		return
	}
	v, err := a.n.Delete(r.Context(), key)
	a.writeResult(w, v, err)
}

func (a *api) writeResult(w http.ResponseWriter, version uint64, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]uint64{"version": version})
	case errors.Is(err, node.ErrBadKey):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, node.ErrValueTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, err.Error())
	case errors.Is(err, node.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The client went away before its write's turn: nothing was
		// written, and no one reads the answer.
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		a.log.Error().Err(err).Msg("admin api write failed")
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
