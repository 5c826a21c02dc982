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
		{"gossip_val", cfg.GossipVal.D(), 250 * time.Millisecond},
		{"heartbeat_val", cfg.HeartbeatVal.D(), 2 * time.Second},
		{"health_check_val", cfg.HealthCheckVal.D(), time.Minute},
		{"reduce_val", cfg.ReduceVal.D(), 10 * time.Second},
		{"dead_after (default)", cfg.DeadAfter.D(), 30 * time.Second},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if cfg.Port != 7946 || cfg.Cluster != "leviathan" || cfg.MTU != 1400 {
		t.Errorf("defaults not applied: %+v", cfg)
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
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
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
