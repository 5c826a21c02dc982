package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/node"
)

// guardNode is a node that is not started, with cfg tweaked; its admin API
// answers without gossip.
func guardNode(t *testing.T, tweak func(*node.Config)) *node.Node {
	t.Helper()
	cfg := fastConfig("guard")
	if tweak != nil {
		tweak(&cfg)
	}
	return newNode(t, cfg)
}

// guardDo sends one request with an optional bearer token and returns its
// status, headers and body.
func guardDo(t *testing.T, srv *httptest.Server, method, path, auth, body string) (int, http.Header, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") == "text/event-stream" {
		return resp.StatusCode, resp.Header, nil // endless: the status is the answer
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// jsonError returns the "error" of a JSON error body, or fails.
func jsonError(t *testing.T, body []byte) string {
	t.Helper()
	var e struct{ Error string }
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Fatalf("not a JSON error: %s (%v)", body, err)
	}
	return e.Error
}

func TestGuardHost(t *testing.T) {
	configs := map[string]func(*node.Config){
		"default":  nil,
		"listed":   func(c *node.Config) { c.HTTPAllowedHosts = []string{"leviathan.lan", "10.9.8.7"} },
		"wildcard": func(c *node.Config) { c.HTTPAddr = "0.0.0.0:8080" },
		"bound":    func(c *node.Config) { c.HTTPAddr = "127.0.0.2:8080" },
		"any":      func(c *node.Config) { c.HTTPAllowedHosts = []string{"*"} },
	}
	tests := []struct {
		config, host string
		ok           bool
	}{
		{"default", "127.0.0.1:8080", true},
		{"default", "localhost", true},
		{"default", "LocalHost.:80", true},
		{"default", "[::1]:8080", true},
		{"default", "[::1]", true},
		{"default", "[0:0::1]:80", true},
		{"default", "evil.example", false},
		{"default", "evil.example:8080", false},
		{"default", "127.0.0.1.evil.example", false},
		{"default", "localhost.evil.example:80", false},
		{"default", "10.1.2.3:8080", false},
		{"default", "[::2]:80", false},
		{"listed", "Leviathan.LAN:8080", true},
		{"listed", "10.9.8.7", true},
		{"listed", "localhost:1", true},
		{"listed", "other.lan", false},
		{"wildcard", "10.1.2.3:8080", true},
		{"wildcard", "[fd00::7]:8080", true},
		{"wildcard", "127.0.0.1", true},
		{"wildcard", "evil.example:8080", false},
		{"bound", "127.0.0.2:8080", true},
		{"bound", "127.0.0.3:8080", false},
		{"any", "evil.example", true},
	}
	handlers := map[string]http.Handler{}
	for name, tweak := range configs {
		handlers[name] = handler(guardNode(t, tweak))
	}
	for _, tt := range tests {
		t.Run(tt.config+" "+tt.host, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/status", nil)
			req.Host = tt.host
			rec := httptest.NewRecorder()
			handlers[tt.config].ServeHTTP(rec, req)
			switch {
			case tt.ok && rec.Code != http.StatusOK:
				t.Fatalf("status %d, want 200: %s", rec.Code, rec.Body)
			case !tt.ok && rec.Code != http.StatusMisdirectedRequest:
				t.Fatalf("status %d, want 421: %s", rec.Code, rec.Body)
			case !tt.ok && !strings.Contains(jsonError(t, rec.Body.Bytes()), "http_allowed_hosts"):
				t.Fatalf("error does not say how to allow the host: %s", rec.Body)
			}
		})
	}
}

func TestGuardToken(t *testing.T) {
	const token = "0123456789abcdef-token"
	n := guardNode(t, func(c *node.Config) { c.HTTPToken = token })
	for _, k := range []string{"k", "gone"} {
		if _, err := n.Set(context.Background(), k, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(handler(n))
	t.Cleanup(srv.Close)
	good, missing, wrong := "Bearer "+token, "", "Bearer "+token+"x"
	tests := []struct {
		method, path, auth string
		status             int
	}{
		{"PUT", "/kv/k", missing, 401},
		{"PUT", "/kv/k", wrong, 401},
		{"PUT", "/kv/k", "Bearer " + token[:len(token)-1], 401},
		{"PUT", "/kv/k", "Basic " + token, 401},
		{"PUT", "/kv/k", token, 401},
		{"PUT", "/kv/k", good, 200},
		{"PUT", "/kv/k", "bearer " + token, 200},
		{"DELETE", "/kv/gone", missing, 401},
		{"DELETE", "/kv/gone", good, 200},
		{"GET", "/kv/self", missing, 401},
		{"GET", "/kv/self", good, 200},
		{"GET", "/kv/self/k", wrong, 401},
		{"GET", "/kv/self/k", good, 200},
		{"GET", "/changes?peer=self", missing, 401},
		{"GET", "/changes?peer=self", wrong, 401},
		{"GET", "/changes?peer=self", good, 200},
		{"GET", "/events", missing, 401},
		{"GET", "/events", good, 200},
		{"GET", "/status", missing, 200},
		{"GET", "/peers", missing, 200},
		{"GET", "/metrics", missing, 200},
		{"GET", "/", missing, 200},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s %q", tt.method, tt.path, tt.auth), func(t *testing.T) {
			status, h, body := guardDo(t, srv, tt.method, tt.path, tt.auth, "v")
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			if status != http.StatusUnauthorized {
				return
			}
			if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q, want Bearer", h.Get("WWW-Authenticate"))
			}
			jsonError(t, body)
		})
	}
}

func TestGuardSSECap(t *testing.T) {
	n := guardNode(t, func(c *node.Config) { c.HTTPMaxSSE = 2 })
	srv := httptest.NewServer(handler(n))
	t.Cleanup(srv.Close)
	var cancels []context.CancelFunc
	for i := 0; i < 2; i++ {
		_, cancel, resp := openEvents(t, srv.URL)
		t.Cleanup(func() { cancel(); resp.Body.Close() })
		cancels = append(cancels, cancel)
	}
	status, _, body := guardDo(t, srv, "GET", "/events", "", "")
	if status != http.StatusServiceUnavailable || !strings.Contains(jsonError(t, body), "http_max_sse = 2") {
		t.Fatalf("third stream: status %d, body %s; want 503 naming http_max_sse", status, body)
	}
	// A stream that ends gives its place back.
	cancels[0]()
	eventually(t, 5*time.Second, func() error {
		if status, _, body := guardDo(t, srv, "GET", "/events", "", ""); status != http.StatusOK {
			return fmt.Errorf("status %d: %s", status, body)
		}
		return nil
	})
}

// TestGuardServerTimeouts: the admin API's server bounds reads and idle
// connections but not writes, and an event stream on it outlives its
// ReadTimeout.
func TestGuardServerTimeouts(t *testing.T) {
	old := sseHeartbeat
	sseHeartbeat = 10 * time.Millisecond
	t.Cleanup(func() { sseHeartbeat = old })
	n := guardNode(t, nil)
	srv := newHTTPServer(handler(n))
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.IdleTimeout <= 0 || srv.WriteTimeout != 0 {
		t.Fatalf("timeouts: read header %v, read %v, idle %v, write %v; want the first three set, no write timeout",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.IdleTimeout, srv.WriteTimeout)
	}
	srv.ReadTimeout = 100 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	_, cancel, resp := openEvents(t, "http://"+ln.Addr().String())
	defer cancel()
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	start := time.Now()
	for time.Since(start) < 5*srv.ReadTimeout {
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatalf("stream ended after %v of a %v read timeout: %v", time.Since(start), srv.ReadTimeout, err)
		}
	}
}

// TestGuardSSEStalledClient: a client that stops reading without closing
// loses its stream once a write has waited sseWriteTimeout, giving its
// place back.
func TestGuardSSEStalledClient(t *testing.T) {
	old := sseWriteTimeout
	sseWriteTimeout = 50 * time.Millisecond
	t.Cleanup(func() { sseWriteTimeout = old })
	nodes := memCluster(t, 2)
	n, writer := nodes[0], nodes[1]
	a := newAPI(n, ConfigFrom(n.Config()))
	srv := httptest.NewServer(a.handler())
	t.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	if _, err := io.WriteString(conn, "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() error {
		if a.streams.Load() == 1 {
			return nil
		}
		return errors.New("stream not open")
	})
	// Never read: events fill the socket's buffers until a write blocks.
	// The events are the peer's writes replicated here, which a loaded
	// machine (CI's, running every package at once) can delay by seconds:
	// the deadline is generous, the loop ends at the first stall.
	big := make([]byte, 512<<10)
	i := 0
	eventually(t, 30*time.Second, func() error {
		if a.streams.Load() == 0 {
			return nil
		}
		// The peer's writes reach n as update events.
		i++
		if _, err := writer.Set(context.Background(), fmt.Sprint("k", i%64), big); err != nil {
			return err
		}
		return errors.New("a stalled stream is still open")
	})
}

// TestGuardChangesPages: pages of GET /changes stop at node.PageMaxBytes, and
// following their cursors reads every record exactly once.
func TestGuardChangesPages(t *testing.T) {
	n := memCluster(t, 1)[0]
	want := map[string]bool{}
	for i := 0; i < 30; i++ {
		value := fmt.Sprint(i)
		if i%3 == 0 {
			value = strings.Repeat("x", 700<<10) // 10 of these make about 16 MiB of JSON
		}
		key := fmt.Sprintf("k%02d", i)
		if _, err := n.Set(context.Background(), key, []byte(value)); err != nil {
			t.Fatal(err)
		}
		want[key] = true
	}
	srv := httptest.NewServer(handler(n))
	t.Cleanup(srv.Close)
	seen := map[string]int{}
	var cur node.Cursor
	pages := 0
	for more := true; more; pages++ {
		if pages > 100 {
			t.Fatal("no end to the pages")
		}
		status, _, body := guardDo(t, srv, "GET", fmt.Sprintf("/changes?peer=self&generation=%d&since=%d", cur.Generation, cur.Version), "", "")
		var p node.ChangePage
		if err := json.Unmarshal(body, &p); status != 200 || err != nil || len(p.Deltas) == 0 && p.More {
			t.Fatalf("page %d: status %d, %v: %.200s", pages, status, err, body)
		}
		if len(body) > node.PageMaxBytes && len(p.Deltas) > 1 {
			t.Fatalf("page %d: %d bytes of %d deltas, over %d", pages, len(body), len(p.Deltas), node.PageMaxBytes)
		}
		for _, d := range p.Deltas {
			seen[d.Key]++
		}
		cur, more = p.Next, p.More
	}
	if pages < 4 {
		t.Errorf("%d pages; the byte bound should cut about 16 MiB into at least 4", pages)
	}
	for key := range want {
		if seen[key] != 1 {
			t.Errorf("%s read %d times", key, seen[key])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("read %d keys, wrote %d", len(seen), len(want))
	}
}

// TestGuardKVPages: following "next" through GET /kv/{peer} pages gives
// every key once, in key order, whatever bounds the page: its limit or
// node.PageMaxBytes.
func TestGuardKVPages(t *testing.T) {
	for _, tt := range []struct {
		name, query string
		keys        int
		bigEvery    int // every so many keys, a value of 600 KiB
		minPages    int
	}{
		{"default limit", "", kvPageDefault + 100, 0, 2},
		{"limit 1", "limit=1", 60, 0, 59},
		{"limit 7", "limit=7", 300, 0, 43},
		{"bytes", "limit=10000", 40, 5, 4}, // two big values fill a page
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := guardNode(t, nil)
			var kvs []node.KV
			for i := 0; i < tt.keys; i++ {
				value := []byte(fmt.Sprint(i))
				if tt.bigEvery > 0 && i%tt.bigEvery == 0 {
					value = []byte(strings.Repeat("y", 600<<10))
				}
				kvs = append(kvs, node.KV{Key: fmt.Sprintf("key-%04d", i), Value: value})
			}
			if _, err := n.SetMany(context.Background(), kvs); err != nil {
				t.Fatal(err)
			}
			if _, err := n.Delete(context.Background(), "key-0001"); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(handler(n))
			t.Cleanup(srv.Close)
			keys := readKVPages(t, srv, tt.query, tt.minPages)
			if len(keys) != tt.keys-1 {
				t.Fatalf("%d keys, want %d", len(keys), tt.keys-1)
			}
			for i, k := range keys {
				if k == "key-0001" || i > 0 && k <= keys[i-1] {
					t.Fatalf("key %d is %s after %s: deleted, repeated or out of order", i, k, keys[max(i-1, 0)])
				}
			}
		})
	}
}

// readKVPages follows GET /kv/self pages and returns every key read.
func readKVPages(t *testing.T, srv *httptest.Server, query string, minPages int) []string {
	t.Helper()
	var keys []string
	after, pages := "", 0
	for ; pages == 0 || after != ""; pages++ {
		if pages > 2000 {
			t.Fatal("no end to the pages")
		}
		status, _, body := guardDo(t, srv, "GET", "/kv/self?"+query+"&after="+url.QueryEscape(after), "", "")
		var p kvPage
		if err := json.Unmarshal(body, &p); status != 200 || err != nil || len(p.Keys) == 0 && p.Next != "" {
			t.Fatalf("page %d: status %d, %v: %.200s", pages, status, err, body)
		}
		if len(body) > node.PageMaxBytes && len(p.Keys) > 1 {
			t.Fatalf("page %d: %d bytes of %d keys, over %d", pages, len(body), len(p.Keys), node.PageMaxBytes)
		}
		for _, e := range p.Keys {
			keys = append(keys, e.Key)
		}
		after = p.Next
	}
	if pages < minPages {
		t.Errorf("%d pages, want at least %d", pages, minPages)
	}
	return keys
}

// TestGuardKVShape: a client that asks for no page gets the bare array
// while everything fits, and an object with next once it does not; a bad
// limit is a 400.
func TestGuardKVShape(t *testing.T) {
	n := guardNode(t, nil)
	srv := httptest.NewServer(handler(n))
	t.Cleanup(srv.Close)
	kvs := make([]node.KV, kvPageDefault)
	for i := range kvs {
		kvs[i] = node.KV{Key: fmt.Sprintf("key-%04d", i), Value: []byte("v")}
	}
	if _, err := n.SetMany(context.Background(), kvs); err != nil {
		t.Fatal(err)
	}
	if status, _, body := guardDo(t, srv, "GET", "/kv/self", "", ""); status != 200 || body[0] != '[' {
		t.Fatalf("a full page: status %d, %.100s; want the bare array", status, body)
	}
	if _, err := n.Set(context.Background(), "key-9999", []byte("v")); err != nil {
		t.Fatal(err)
	}
	var p kvPage
	status, _, body := guardDo(t, srv, "GET", "/kv/self", "", "")
	if err := json.Unmarshal(body, &p); status != 200 || err != nil || len(p.Keys) != kvPageDefault || p.Next != "key-0999" {
		t.Fatalf("one key over a page: status %d, %d keys, next %q (%v)", status, len(p.Keys), p.Next, err)
	}
	for _, q := range []string{"limit=0", "limit=10001", "limit=x"} {
		if status, _, body := guardDo(t, srv, "GET", "/kv/self?"+q, "", ""); status != 400 || !strings.Contains(jsonError(t, body), "limit") {
			t.Errorf("%s: status %d, %s; want 400", q, status, body)
		}
	}
}
