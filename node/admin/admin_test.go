package admin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/leviathan-gossip/leviathan/node"
)

func TestHandler(t *testing.T) {
	cfg := fastConfig("web")
	cfg.MaxValueSize = 16
	n := newNode(t, cfg)
	srv := httptest.NewServer(handler(n))
	t.Cleanup(srv.Close)

	tests := []struct {
		method, path, body string
		status             int
		want               string // substring of the response body
	}{
		{"PUT", "/kv/greeting", "hello", 200, `{"version":1}`},
		{"PUT", "/kv/dir/with/slash", "x", 200, `{"version":2}`},
		{"GET", "/kv/web/greeting", "", 200, `{"value":"hello","value_b64":"aGVsbG8=","version":1}`},
		{"GET", "/kv/self/greeting", "", 200, `{"value":"hello","value_b64":"aGVsbG8=","version":1}`},
		{"GET", "/kv/self", "", 200, `"key":"greeting"`},
		{"GET", "/kv/web/dir/with/slash", "", 200, `"value":"x"`},
		{"GET", "/kv/web", "", 200, `"key":"greeting"`},
		{"GET", "/kv/web/missing", "", 404, `"error"`},
		{"GET", "/kv/nobody/greeting", "", 404, `unknown peer`},
		{"GET", "/kv/nobody", "", 404, `unknown peer`},
		{"PUT", "/kv/big", strings.Repeat("x", 17), 413, `"error":"value of 17 bytes exceeds max_value_size 16"`},
		{"PUT", "/kv", "v", 404, `"error":"PUT /kv: no key or peer given; use`},
		{"GET", "/kv", "", 404, `GET /kv/{peer}`},
		{"PUT", "/kv/" + strings.Repeat("k", 5000), "v", 400, `bad key`},
		{"DELETE", "/kv/greeting", "", 200, `{"version":3}`},
		{"GET", "/kv/web/greeting", "", 404, `"error"`},
		{"GET", "/peers", "", 200, `[]`},
		{"GET", "/status", "", 200, `"id":"web"`},
		{"GET", "/status", "", 200, `"store":{"lsm_bytes":`},
		{"POST", "/kv/greeting", "", 405, `"error":"method not allowed`},
		{"PUT", "/kv/", "v", 400, `"error":"node: bad key: empty"`},
		{"DELETE", "/kv/", "", 400, `"error"`},
		{"GET", "/kv/", "", 404, `no key or peer given`},
		{"GET", "/nothing/here", "", 404, `"error":"no such endpoint /nothing/here"`},
		{"GET", "/index.html", "", 404, `"error"`},
		{"POST", "/", "", 405, `"error"`},
		{"DELETE", "/peers", "", 405, `"error"`},
		{"POST", "/metrics", "", 405, `"error"`},
		{"GET", "/metrics", "", 200, `leviathan_gossip_rounds_total`},
		{"GET", "/", "", 200, `<title>Leviathan node</title>`},
		{"PUT", "/kv/a%00b", "v", 400, `NUL`},
		{"PUT", "/kv/a%ffb", "v", 400, `not valid UTF-8`},
		{"DELETE", "/kv/never-written", "", 404, `"error":"no key never-written"`},
		{"DELETE", "/kv/greeting", "", 404, `"error"`}, // deleted already
		{"GET", "/kv/self?limt=1", "", 400, `unknown query parameter \"limt\"`},
		{"GET", "/kv/self/dir/with/slash?raw=1&x=2", "", 400, `unknown query parameter \"x\"`},
		{"GET", "/status?verbose=1", "", 400, `unknown query parameter`},
		{"GET", "/changes?since=999", "", 400, `cursor ahead`},
		{"GET", "/metrics", "", 200, `go_goroutines`},
		{"GET", "/metrics", "", 200, `leviathan_peers{state="left"} 0`},
		// A key is written and deleted at the path it is read at.
		{"PUT", "/kv/self/color", "blue", 200, `{"version":4}`},
		{"GET", "/kv/self/color", "", 200, `"value":"blue"`},
		{"GET", "/kv/web/color", "", 200, `"value":"blue"`},
		{"DELETE", "/kv/self/color", "", 200, `{"version":5}`},
		{"GET", "/kv/self/color", "", 404, `"error"`},
		{"DELETE", "/kv/self/color", "", 404, `"error"`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if !strings.Contains(string(body), tt.want) {
				t.Fatalf("body %s does not contain %s", body, tt.want)
			}
			wantType := "application/json"
			switch tt.path {
			case "/metrics":
				wantType = "text/plain"
			case "/":
				wantType = "text/html"
			}
			if tt.status >= 400 {
				wantType = "application/json"
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, wantType) {
				t.Fatalf("content type %q, want %s", ct, wantType)
			}
		})
	}
}

// TestHandlerBinaryValues: bytes that are not UTF-8 survive the API, as
// base64 in JSON (no mangled "value") and as themselves with ?raw=1.
func TestHandlerBinaryValues(t *testing.T) {
	n := newNode(t, fastConfig("bin"))
	srv := httptest.NewServer(handler(n))
	t.Cleanup(srv.Close)
	value := []byte{0xff, 0x00, 0xfe, 'a', 0x80}
	req, _ := http.NewRequest("PUT", srv.URL+"/kv/blob", bytes.NewReader(value))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT status %d", resp.StatusCode)
	}

	for _, path := range []string{"/kv/bin/blob", "/kv/self"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e kvEntry
		if strings.HasPrefix(string(body), "[") {
			var all []kvEntry
			if err := json.Unmarshal(body, &all); err != nil || len(all) != 1 {
				t.Fatalf("%s: %s (%v)", path, body, err)
			}
			e = all[0]
		} else if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("%s: %s (%v)", path, body, err)
		}
		if e.Value != nil {
			t.Errorf("%s: non-UTF-8 value given as a string %q", path, *e.Value)
		}
		if got, err := base64.StdEncoding.DecodeString(e.ValueB64); err != nil || !bytes.Equal(got, value) {
			t.Errorf("%s: value_b64 %q decodes to %x (%v), want %x", path, e.ValueB64, got, err, value)
		}
	}

	resp, err = http.Get(srv.URL + "/kv/self/blob?raw=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, value) || resp.Header.Get(VersionHeader) != "1" ||
		resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("raw: body %x, version %q, type %q", body, resp.Header.Get(VersionHeader), resp.Header.Get("Content-Type"))
	}
}

func TestPeersJSON(t *testing.T) {
	nodes := udpCluster(t, 2, nil)
	eventually(t, 10e9, func() error {
		if len(nodes[0].LivePeers()) != 1 {
			return io.EOF
		}
		return nil
	})
	rec := httptest.NewRecorder()
	handler(nodes[0]).ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1/peers", nil))
	var peers []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &peers); err != nil {
		t.Fatal(err)
	}
	if len(peers) != 1 {
		t.Fatalf("%d peers", len(peers))
	}
	for _, field := range []string{"id", "alias", "addr", "state", "phi", "last_heard_ms", "heartbeat", "boot", "max_version", "generation", "keys", "lag_versions", "lag_ms"} {
		if _, ok := peers[0][field]; !ok {
			t.Errorf("peer object lacks %q: %v", field, peers[0])
		}
	}
	// The heartbeat is the count since the peer booted, not the wire's
	// boot<<32 + count; a peer heard from has been heard recently.
	if hb, boot := peers[0]["heartbeat"].(float64), peers[0]["boot"].(float64); hb >= 1<<32 || boot < 1 {
		t.Errorf("heartbeat %v, boot %v: want the count since boot and a boot >= 1", hb, boot)
	}
	if heard := peers[0]["last_heard_ms"].(float64); heard < 0 || heard > 10000 {
		t.Errorf("last_heard_ms %v for a live peer", heard)
	}
	var typed []node.Peer // and the Go type reads it back
	if err := json.Unmarshal(rec.Body.Bytes(), &typed); err != nil || len(typed) != 1 ||
		typed[0].LastHeard.Milliseconds() != int64(peers[0]["last_heard_ms"].(float64)) || typed[0].Boot < 1 {
		t.Errorf("read back as %+v (%v)", typed, err)
	}
	if peers[0]["state"] != "alive" || peers[0]["id"] != "u1" {
		t.Errorf("unexpected peer %v", peers[0])
	}
}

func TestChangesHTTP(t *testing.T) {
	n := memCluster(t, 1)[0]
	if _, err := n.Set(context.Background(), "bin", []byte{0xff, 0x00, 0xfe}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler(n))
	defer srv.Close()
	for _, tc := range []struct {
		query string
		code  int
	}{
		{"?peer=self", http.StatusOK},
		{"?peer=self&since=0&limit=10", http.StatusOK},
		{"?peer=nobody", http.StatusNotFound},
		{"?peer=self&since=x", http.StatusBadRequest},
		{"?peer=self&limit=0", http.StatusBadRequest},
		{"?peer=self&generation=1&since=1", http.StatusGone},
	} {
		t.Run(tc.query, func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/changes" + tc.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.code)
			}
			if tc.code != http.StatusOK {
				return
			}
			var p node.ChangePage
			if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
				t.Fatal(err)
			}
			if len(p.Deltas) != 1 || string(p.Deltas[0].Value) != "\xff\x00\xfe" || p.Next.Version != 1 {
				t.Fatalf("page %+v", p)
			}
		})
	}
}
