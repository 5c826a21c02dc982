package node

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfigIntervals(t *testing.T) {
	cfg, err := ParseConfig(`
alias = "a"
seeds = ["127.0.0.1:7001", "[::1]:7002", "localhost:7003"]
gossip_val = 250
heartbeat_val = "2s"
health_check_val = "1m"
reduce_val = 10000
`, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{
		{"gossip_val", cfg.GossipVal, 250 * time.Millisecond},
		{"heartbeat_val", cfg.HeartbeatVal, 2 * time.Second},
		{"health_check_val", cfg.HealthCheckVal, time.Minute},
		{"reduce_val", cfg.ReduceVal, 10 * time.Second},
		{"dead_after (default)", cfg.DeadAfter, 30 * time.Second},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if cfg.Port != 7946 || cfg.Cluster != "leviathan" || cfg.MTU != 1400 {
		t.Errorf("defaults not applied: %+v", cfg)
	}
}

// TestIntervalSpellings: both TOML spellings of an interval, milliseconds
// and a Go duration, give the same time.Duration.
func TestIntervalSpellings(t *testing.T) {
	for _, text := range []string{`gossip_val = 1500`, `gossip_val = "1.5s"`} {
		cfg, err := ParseConfig(text, "test")
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if cfg.GossipVal != 1500*time.Millisecond {
			t.Errorf("%s: GossipVal = %v, want 1.5s", text, cfg.GossipVal)
		}
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, toml string
		want       []string // each must appear in the message
	}{
		{"unknown key", `gossip_vall = 1000`, []string{"unknown key", "gossip_vall"}},
		{"wrong type", `port = "seven"`, []string{"port"}},
		{"bad duration", `gossip_val = "fast"`, []string{"gossip_val", "not a duration"}},
		{"negative interval", `heartbeat_val = -5`, []string{"heartbeat_val"}},
		{"bad seed", `seeds = ["127.0.0.1"]`, []string{"seeds[0]", "host:port"}},
		{"ipv6 without brackets", `seeds = ["::1:7001"]`, []string{"seeds[0]"}},
		{"port range", `port = 70000`, []string{"port", "70000"}},
		{"unspecified addr", `addr = "0.0.0.0"`, []string{"addr", "reach"}},
		{"several at once", "port = -1\nfanout = 0\nphi_threshold = -2\nlog_level = \"loud\"",
			[]string{"port", "phi_threshold", "log_level"}},
		{"mtu", `mtu = 100`, []string{"mtu"}},
		{"syntax", `alias = `, []string{"config test"}},
		{"unknown table key", "[gossip]\ninterval = 5", []string{"unknown key", "gossip.interval"}},
		{"seeds not a list", `seeds = "127.0.0.1:7001"`, []string{"seeds"}},
		{"fanout not an integer", `fanout = 1.5`, []string{"fanout"}},
		{"bool as string", `in_memory = "yes"`, []string{"in_memory"}},
		{"zero interval", `gossip_val = 0`, []string{"gossip_val", "between"}},
		{"interval over a year", `dead_after = "9000h"`, []string{"dead_after", "year"}},
		{"empty seed", `seeds = [""]`, []string{"seeds[0]"}},
		{"seed without port", `seeds = ["10.0.0.1:"]`, []string{"seeds[0]", "port"}},
		{"seed without host", `seeds = [":7001"]`, []string{"seeds[0]", "no host"}},
		{"second seed bad", `seeds = ["127.0.0.1:7001", "127.0.0.1:0"]`, []string{"seeds[1]"}},
		{"key not base64", `encrypt_keys = ["not base64!"]`, []string{"encrypt_keys[0]", "base64"}},
		{"key too short", `encrypt_keys = ["AAAA"]`, []string{"encrypt_keys[0]", "3 bytes", "16, 24 or 32"}},
		{"second key wrong length", `encrypt_keys = ["` + testKeyB64(16) + `", "` + testKeyB64(20) + `"]`, []string{"encrypt_keys[1]", "20 bytes"}},
		{"key wrong type", `encrypt_keys = [1]`, []string{"encrypt_keys"}},
		{"keys file missing", `encrypt_keys_file = "/nonexistent/leviathan.keys"`, []string{"encrypt_keys_file", "/nonexistent/leviathan.keys"}},
		{"keys twice", `encrypt_keys = ["` + testKeyB64(16) + `"]` + "\nencrypt_keys_file = \"k\"", []string{"encrypt_keys_file", "encrypt_keys"}},
		{"mtu too small for envelope", "mtu = 520\nencrypt_keys = [\"" + testKeyB64(32) + "\"]", []string{"mtu", "envelope"}},
		{"max_message_size too small for envelope", "max_message_size = 1053700\nencrypt_keys = [\"" + testKeyB64(32) + "\"]", []string{"max_message_size", "envelope"}},
		{"negative key size", `max_key_size = -1`, []string{"max_key_size"}},
		{"huge value size", `max_value_size = 1000000000`, []string{"max_value_size"}},
		{"float for string", `phi_threshold = "high"`, []string{"phi_threshold", `"high" is a string`, "want a number"}},
		{"addr in brackets", `addr = "[::1]"`, []string{"addr", "without brackets", "(::1)"}},
		{"addr with port", `addr = "127.0.0.1:7001"`, []string{"addr", "port = 7001"}},
		{"typo suggested", `heartbeat_vla = 1000`, []string{"unknown key heartbeat_vla", "did you mean heartbeat_val?"}},
		{"list of wrong type", `seeds = [1, 2]`, []string{"seeds", "want a list of strings"}},
		{"id too long", `id = "` + strings.Repeat("x", 300) + `"`, []string{"id", "300 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(tt.toml, "test")
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error does not wrap ErrConfig: %v", err)
			}
			mentions(t, err, tt.want)
		})
	}
}

// TestParseConfigListsEveryProblem: one file with several wrong types, a
// value out of range and an unknown key reports each of them on its own
// line, not only the first the decoder meets.
func TestParseConfigListsEveryProblem(t *testing.T) {
	text := "gossip_val = \"1x\"\nheartbeat_val = \"2y\"\nport = -1\nphi_threshold = \"high\"\nfanout = 1.5\nalais = \"p\"\n"
	_, err := ParseConfig(text, "bad.toml")
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		"config bad.toml: invalid config:",
		"  unknown key alais (did you mean alias?)",
		`  gossip_val: "1x" is not a duration`,
		`  heartbeat_val: "2y" is not a duration`,
		`  phi_threshold: "high" is a string; want a number`,
		"  fanout: 1.5 is a fractional number; want an integer",
		"  port: -1 is out of range 0-65535",
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want it to start with %q", i, lines[i], w)
		}
	}
}

func TestPresetsAreValid(t *testing.T) {
	for _, tt := range []struct {
		name   string
		cfg    Config
		gossip time.Duration
	}{
		{"lan", DefaultConfig(), time.Second},
		{"local", DefaultLocalConfig(), 200 * time.Millisecond},
		{"wan", DefaultWANConfig(), 2 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := tt.cfg.GossipVal; got != tt.gossip {
				t.Errorf("gossip_val = %v, want %v", got, tt.gossip)
			}
		})
	}
}

func TestLoadConfigExamples(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.toml")
	files = append(files, "../config.example.toml")
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := LoadConfig(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := LoadConfig("does-not-exist.toml"); err == nil {
		t.Error("missing file accepted")
	}
}

// TestConfigHTTPKeys: the admin API's keys are checked with the rest of
// the config.
func TestConfigHTTPKeys(t *testing.T) {
	tests := []struct {
		name, toml string
		want       []string // each must appear in the error; none: valid
	}{
		{"hosts ok", `http_allowed_hosts = ["a.lan", "10.0.0.1", "::1", "*"]`, nil},
		{"token ok", `http_token = "0123456789abcdef"`, nil},
		{"host with port", `http_allowed_hosts = ["a.lan:80"]`, []string{"http_allowed_hosts[0]", "host alone (a.lan)"}},
		{"host bracketed", `http_allowed_hosts = ["ok.lan", "[::1]"]`, []string{"http_allowed_hosts[1]", "without brackets (::1)"}},
		{"host empty", `http_allowed_hosts = [""]`, []string{"http_allowed_hosts[0]", "must not be empty"}},
		{"host a URL", `http_allowed_hosts = ["http://a.lan/"]`, []string{"http_allowed_hosts[0]", "not a host name"}},
		{"token short", `http_token = "secret"`, []string{"http_token", "6 bytes, at least 16"}},
		{"token with space", `http_token = "0123456789 abcdef"`, []string{"http_token", "printable ASCII"}},
		{"sse zero", `http_max_sse = -1`, []string{"http_max_sse", "out of range 1-10000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig(tt.toml, "test")
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.HTTPMaxSSE != 64 {
					t.Errorf("http_max_sse = %d, want the default 64", cfg.HTTPMaxSSE)
				}
				return
			}
			mentions(t, err, tt.want)
		})
	}
}

// mentions fails t unless err is an error that names every one of want.
func mentions(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}
