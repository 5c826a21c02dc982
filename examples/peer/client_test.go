package main

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/leviathan-gossip/leviathan/node"
	"github.com/leviathan-gossip/leviathan/node/admin"
)

// apiServer serves the admin API of a node in memory, not started: the
// API answers without gossip. It returns the server's host:port.
func apiServer(t *testing.T, token string) string {
	t.Helper()
	n, err := node.New(node.Config{Alias: "c1", Addr: "127.0.0.1", Port: 0, InMemory: true}, node.WithLogger(zerolog.Nop()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	srv := httptest.NewServer(admin.New(n, admin.Config{Addr: "127.0.0.1", Token: token}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

type clientCase struct {
	name      string
	args      []string
	env       string // LEVIATHAN_HTTP_TOKEN
	code      int
	stdout    string // exact, unless "~" starts it: then it must contain the rest
	stderrHas string
}

func runClientCases(t *testing.T, cases []clientCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LEVIATHAN_HTTP_TOKEN", tt.env)
			var stdout, stderr bytes.Buffer
			code := run(tt.args, strings.NewReader(""), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if want, ok := strings.CutPrefix(tt.stdout, "~"); ok {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout %q lacks %q", stdout.String(), want)
				}
			} else if stdout.String() != tt.stdout {
				t.Errorf("stdout %q, want %q", stdout.String(), tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderrHas) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.stderrHas)
			}
		})
	}
}

// TestClientCommands: each command against a real node's admin API, in
// order (get reads what set wrote).
func TestClientCommands(t *testing.T) {
	addr := apiServer(t, "")
	runClientCases(t, []clientCase{
		{name: "set", args: []string{"set", "-http", addr, "greeting", "hello world"}, stdout: "{\"version\":1}\n"},
		{name: "get returns the value raw", args: []string{"get", "-http", addr, "self", "greeting"}, stdout: "hello world"},
		{name: "get by alias, flags last", args: []string{"get", "c1", "greeting", "-http", addr}, stdout: "hello world"},
		{name: "get with a URL", args: []string{"get", "-http", "http://" + addr + "/", "self", "greeting"}, stdout: "hello world"},
		{name: "key with a slash and a space", args: []string{"set", "-http", addr, "dir/a b", "x"}, stdout: "{\"version\":2}\n"},
		{name: "get it back", args: []string{"get", "-http", addr, "self", "dir/a b"}, stdout: "x"},
		{name: "value that starts with -", args: []string{"set", "-http", addr, "--", "neg", "-1"}, stdout: "{\"version\":3}\n"},
		{name: "get missing key", args: []string{"get", "-http", addr, "self", "nothing"}, code: 1,
			stderrHas: "peer get: no key nothing at self (404 Not Found)"},
		{name: "get unknown peer", args: []string{"get", "-http", addr, "nobody", "greeting"}, code: 1,
			stderrHas: "unknown peer nobody (404 Not Found)"},
		{name: "del missing key", args: []string{"del", "-http", addr, "nothing"}, code: 1,
			stderrHas: "peer del: no key nothing (404 Not Found)"},
		{name: "del", args: []string{"del", "-http", addr, "greeting"}, stdout: "{\"version\":4}\n"},
		{name: "get deleted key", args: []string{"get", "-http", addr, "self", "greeting"}, code: 1, stderrHas: "no key greeting"},
		{name: "peers prints the header", args: []string{"peers", "-http", addr},
			stdout: "ID  ALIAS  ADDR  STATE  PHI  HEARD  HEARTBEAT  BOOT  GENERATION  MAX_VERSION  KEYS\n"},
		{name: "status is JSON", args: []string{"status", "-http", addr}, stdout: "~\n  \"alias\": \"c1\",\n"},
		{name: "changes is JSON", args: []string{"changes", "-http", addr, "-limit", "1"}, stdout: "~\"key\": \"dir/a b\""},
		{name: "changes from a cursor", args: []string{"changes", "-http", addr, "-since", "3", "self"}, stdout: "~\"key\": \"greeting\""},
		{name: "changes, bad peer", args: []string{"changes", "-http", addr, "nobody"}, code: 1, stderrHas: "(404 Not Found)"},
		{name: "nothing listening", args: []string{"status", "-http", "127.0.0.1:1"}, code: 1, stderrHas: "peer status: "},
	})
}

func TestClientUsage(t *testing.T) {
	runClientCases(t, []clientCase{
		{name: "no -http", args: []string{"peers"}, code: 2, stderrHas: "usage: peer peers -http ADDR"},
		{name: "get with one argument", args: []string{"get", "-http", "127.0.0.1:1", "greeting"}, code: 2, stderrHas: "usage: peer get -http ADDR [-token T] PEER KEY"},
		{name: "set with three", args: []string{"set", "-http", "127.0.0.1:1", "k", "v", "w"}, code: 2, stderrHas: "usage: peer set"},
		{name: "unknown flag", args: []string{"status", "-htp", "127.0.0.1:1"}, code: 2, stderrHas: "flag provided but not defined: -htp"},
		{name: "changes flags only on changes", args: []string{"get", "-since", "1"}, code: 2, stderrHas: "-since"},
		{name: "help", args: []string{"del", "-h"}, code: 0, stderrHas: "usage: peer del"},
		{name: "the peer without -config is unchanged", args: nil, code: 2, stderrHas: "peer: -config is required"},
	})
}

// TestClientToken: the bearer token comes from -token or
// LEVIATHAN_HTTP_TOKEN; a wrong one is refused with the API's message.
func TestClientToken(t *testing.T) {
	const token = "0123456789abcdef-token"
	addr := apiServer(t, token)
	runClientCases(t, []clientCase{
		{name: "-token", args: []string{"set", "-http", addr, "-token", token, "k", "v"}, stdout: "{\"version\":1}\n"},
		{name: "from the environment", args: []string{"get", "-http", addr, "self", "k"}, env: token, stdout: "v"},
		{name: "-token wins over the environment", args: []string{"get", "-http", addr, "-token", "wrong-token-0123456", "self", "k"}, env: token,
			code: 1, stderrHas: "peer get: this endpoint needs Authorization: Bearer <http_token> (401 Unauthorized)"},
		{name: "bad token", args: []string{"del", "-http", addr, "-token", "wrong-token-0123456", "k"}, code: 1, stderrHas: "(401 Unauthorized)"},
		{name: "no token", args: []string{"changes", "-http", addr}, code: 1, stderrHas: "(401 Unauthorized)"},
		{name: "peers is open", args: []string{"peers", "-http", addr}, stdout: "~ID  ALIAS"},
	})
}
