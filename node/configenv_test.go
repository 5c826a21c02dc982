package node

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// loadWithEnv writes text to a file and loads it under the variables env.
func loadWithEnv(t *testing.T, text string, env map[string]string) (Config, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	path := filepath.Join(t.TempDir(), "node.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return LoadConfigEnv(path)
}

func TestEnvOverrides(t *testing.T) {
	const file = `
alias = "from-file"
seeds = ["127.0.0.1:7001"]
gossip_val = 500
in_memory = false
`
	tests := []struct {
		name  string
		env   map[string]string
		check func(Config) bool
	}{
		{"none: the file's value", nil,
			func(c Config) bool { return c.Alias == "from-file" && c.GossipVal == 500*time.Millisecond }},
		{"duration string", map[string]string{"LEVIATHAN_GOSSIP_VAL": "1s"},
			func(c Config) bool { return c.GossipVal == time.Second }},
		{"duration quoted as in TOML", map[string]string{"LEVIATHAN_GOSSIP_VAL": `"250ms"`},
			func(c Config) bool { return c.GossipVal == 250*time.Millisecond }},
		{"duration in milliseconds", map[string]string{"LEVIATHAN_HEARTBEAT_VAL": "1500"},
			func(c Config) bool { return c.HeartbeatVal == 1500*time.Millisecond }},
		{"size with a unit", map[string]string{"LEVIATHAN_MEMORY_LIMIT": "256MiB"},
			func(c Config) bool { return c.MemoryLimit == 256<<20 }},
		{"size in bytes", map[string]string{"LEVIATHAN_MIN_FREE_DISK": "-1"},
			func(c Config) bool { return c.MinFreeDisk == -1 }},
		{"boolean", map[string]string{"LEVIATHAN_IN_MEMORY": "true"},
			func(c Config) bool { return c.InMemory }},
		{"integer", map[string]string{"LEVIATHAN_PORT": "7001"},
			func(c Config) bool { return c.Port == 7001 }},
		{"float", map[string]string{"LEVIATHAN_PHI_THRESHOLD": "12.5"},
			func(c Config) bool { return c.PhiThreshold == 12.5 }},
		{"string that looks like a number", map[string]string{"LEVIATHAN_ID": "7"},
			func(c Config) bool { return c.ID == "7" }},
		{"string with quotes and spaces", map[string]string{"LEVIATHAN_ALIAS": `peer "one" \ two`},
			func(c Config) bool { return c.Alias == `peer "one" \ two` }},
		{"list, comma-separated", map[string]string{"LEVIATHAN_SEEDS": "127.0.0.1:7002, [::1]:7003"},
			func(c Config) bool { return slices.Equal(c.Seeds, []string{"127.0.0.1:7002", "[::1]:7003"}) }},
		{"list, a TOML array", map[string]string{"LEVIATHAN_SEEDS": `["127.0.0.1:7004"]`},
			func(c Config) bool { return slices.Equal(c.Seeds, []string{"127.0.0.1:7004"}) }},
		{"list, an IPv6 seed alone", map[string]string{"LEVIATHAN_SEEDS": "[::1]:7005"},
			func(c Config) bool { return slices.Equal(c.Seeds, []string{"[::1]:7005"}) }},
		{"list, empty clears the file's", map[string]string{"LEVIATHAN_SEEDS": ""},
			func(c Config) bool { return len(c.Seeds) == 0 }},
		{"the repository's own variables are not keys", map[string]string{"LEVIATHAN_REQUIRE_BROWSER": "1", "LEVIATHAN_LOADTEST_DEBUG": "1"},
			func(c Config) bool { return c.Alias == "from-file" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadWithEnv(t, file, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(cfg) {
				t.Errorf("env %v not applied: %+v", tt.env, cfg)
			}
		})
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // the report's line for the variable
	}{
		{"not a duration", map[string]string{"LEVIATHAN_GOSSIP_VAL": "1x"},
			`LEVIATHAN_GOSSIP_VAL: "1x" is not a duration (want milliseconds like 1000 or a string like "1s")`},
		{"not a size", map[string]string{"LEVIATHAN_MEMORY_LIMIT": "lots"},
			`LEVIATHAN_MEMORY_LIMIT: "lots" is not a size`},
		{"not an integer", map[string]string{"LEVIATHAN_PORT": "http"},
			`LEVIATHAN_PORT: "http" is a string; want an integer`},
		{"not a boolean", map[string]string{"LEVIATHAN_IN_MEMORY": "yes"},
			`LEVIATHAN_IN_MEMORY: "yes" is a string; want true or false`},
		{"out of range, named by variable", map[string]string{"LEVIATHAN_PORT": "-1"},
			"LEVIATHAN_PORT: -1 is out of range 0-65535"},
		{"bad list item, named by variable", map[string]string{"LEVIATHAN_SEEDS": "127.0.0.1:7001,nope"},
			`LEVIATHAN_SEEDS[1]: "nope" is not host:port`},
		{"a second line is not a second key", map[string]string{"LEVIATHAN_PORT": "1\nalias = \"x\""},
			`LEVIATHAN_PORT: "1\nalias = \"x\"" is a string; want an integer`},
		{"typo", map[string]string{"LEVIATHAN_GOSIP_VAL": "1s"},
			"unknown variable LEVIATHAN_GOSIP_VAL (did you mean LEVIATHAN_GOSSIP_VAL?)"},
		{"lower case", map[string]string{"LEVIATHAN_gossip_val": "1s"},
			"unknown variable LEVIATHAN_gossip_val (did you mean LEVIATHAN_GOSSIP_VAL?)"},
		{"nothing near", map[string]string{"LEVIATHAN_COMPLETELY_ELSE": "1"},
			"unknown variable LEVIATHAN_COMPLETELY_ELSE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadWithEnv(t, `alias = "a"`, tt.env)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[1], "  "+tt.want) {
				t.Errorf("report:\n%s\nwant one line starting %q", err, tt.want)
			}
		})
	}
}

// TestEnvErrorsReportedWithTheFile: the file's problems and the
// variables' come in one report, one line each.
func TestEnvErrorsReportedWithTheFile(t *testing.T) {
	_, err := loadWithEnv(t, "alais = \"p\"\nheartbeat_val = \"2y\"\nmtu = 1\n", map[string]string{
		"LEVIATHAN_GOSSIP_VAL":  "1x",
		"LEVIATHAN_HTTP_ADR":    "127.0.0.1:8001",
		"LEVIATHAN_PORT":        "70000",
		"LEVIATHAN_FANOUT":      "2", // good: no line
		"LEVIATHAN_CHROMIUM":    "/usr/bin/chromium",
		"LEVIATHAN_KILL_DRILL":  "3",
		"LEVIATHAN_KILL_DRILLS": "3", // a prefix of the tools' names is theirs too
	})
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		"config ",
		"  unknown key alais (did you mean alias?)",
		`  heartbeat_val: "2y" is not a duration`,
		`  LEVIATHAN_GOSSIP_VAL: "1x" is not a duration`,
		"  unknown variable LEVIATHAN_HTTP_ADR (did you mean LEVIATHAN_HTTP_ADDR?)",
		"  LEVIATHAN_PORT: 70000 is out of range 0-65535",
		"  mtu: 1 is out of range 512-65507",
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

// TestEnvDoesNotReachLoadConfig: LoadConfig and ParseConfig read the file
// alone, whatever the process's environment.
func TestEnvDoesNotReachLoadConfig(t *testing.T) {
	t.Setenv("LEVIATHAN_ALIAS", "from-env")
	t.Setenv("LEVIATHAN_NOT_A_KEY", "x")
	path := filepath.Join(t.TempDir(), "node.toml")
	if err := os.WriteFile(path, []byte(`alias = "from-file"`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Alias != "from-file" {
		t.Errorf("alias = %q, want the file's", cfg.Alias)
	}
}

func TestLoadConfigEnvMissingFile(t *testing.T) {
	if _, err := LoadConfigEnv(filepath.Join(t.TempDir(), "none.toml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want a not-exist error", err)
	}
}

// A secret of the wrong type is reported by its kind, never echoed,
// from the file or from the environment.
func TestSecretValuesAreNotEchoed(t *testing.T) {
	const secret = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTIzNDU2Nzg="
	cases := []struct {
		name, text string
		env        map[string]string
	}{
		{name: "file", text: "alias = \"a\"\nencrypt_keys = \"" + secret + "\"\n"},
		{name: "environment", text: "alias = \"a\"\n", env: map[string]string{"LEVIATHAN_ENCRYPT_KEYS": "7" + secret[:20]}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadWithEnv(t, tc.text, tc.env)
			if err == nil || !strings.Contains(err.Error(), "encrypt_keys") && !strings.Contains(err.Error(), "ENCRYPT_KEYS") {
				t.Fatalf("error %v, want one naming encrypt_keys", err)
			}
			if strings.Contains(err.Error(), secret[:8]) {
				t.Fatalf("the secret is in the error: %v", err)
			}
		})
	}
}
