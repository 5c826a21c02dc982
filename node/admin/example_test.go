package admin_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/leviathan-gossip/leviathan/node"
	"github.com/leviathan-gossip/leviathan/node/admin"
)

// The admin API is an http.Handler: mount it anywhere, here on a test
// server. admin.Serve runs it on an address of its own instead.
func ExampleNew() {
	d := 20 * time.Millisecond
	cfg := node.Config{Alias: "web", Cluster: "example", InMemory: true, GossipVal: d, HeartbeatVal: d, HealthCheckVal: d}
	n, err := node.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()
	srv := httptest.NewServer(admin.New(n, admin.ConfigFrom(n.Config())))
	defer srv.Close()

	do := func(method, path, body string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		fmt.Printf("%s %s → %d %s", method, path, resp.StatusCode, b)
	}
	do("PUT", "/kv/greeting", "hello")
	do("GET", "/kv/web/greeting", "")
	do("DELETE", "/kv/greeting", "")
	do("GET", "/kv/web/greeting", "")
	do("GET", "/kv/nobody", "")
	// Output:
	// PUT /kv/greeting → 200 {"version":1}
	// GET /kv/web/greeting → 200 {"value":"hello","value_b64":"aGVsbG8=","version":1}
	// DELETE /kv/greeting → 200 {"version":2}
	// GET /kv/web/greeting → 404 {"error":"no key greeting at web"}
	// GET /kv/nobody → 404 {"error":"unknown peer nobody"}
}
