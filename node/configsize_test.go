package node

import (
	"reflect"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestParseByteSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"268435456", 268435456, true},
		{"256MiB", 256 << 20, true},
		{"256 MiB", 256 << 20, true},
		{"1GiB", 1 << 30, true},
		{"1.5GiB", 3 << 29, true},
		{"512KiB", 512 << 10, true},
		{"300MB", 300e6, true},
		{"2GB", 2e9, true},
		{"100B", 100, true},
		{"", 0, false},
		{"MiB", 0, false},
		{"-1MiB", 0, false},
		{"ten MiB", 0, false},
		{"1e30GiB", 0, false},
	} {
		got, err := ParseByteSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestMemoryLimitConfig(t *testing.T) {
	for _, tt := range []struct {
		toml string
		want int64
		bad  string // substring of the error, "" if valid
	}{
		{``, 0, ""},
		{`memory_limit = "256MiB"`, 256 << 20, ""},
		{`memory_limit = 134217728`, 128 << 20, ""},
		{`memory_limit = "1MiB"`, 0, "memory_limit: 1048576 bytes must be 0"},
		{`memory_limit = "lots"`, 0, "memory_limit: \"lots\" is not a size"},
		{`memory_limit = -5`, 0, "memory_limit: -5 bytes must not be negative"},
	} {
		cfg, err := ParseConfig(tt.toml, "test")
		switch {
		case tt.bad == "" && err != nil:
			t.Errorf("%s: %v", tt.toml, err)
		case tt.bad != "" && (err == nil || !strings.Contains(err.Error(), tt.bad)):
			t.Errorf("%s: error %v, want one containing %q", tt.toml, err, tt.bad)
		case tt.bad == "" && cfg.MemoryLimit != tt.want:
			t.Errorf("%s: memory_limit = %d, want %d", tt.toml, cfg.MemoryLimit, tt.want)
		}
	}
}

// TestMinFreeDiskConfig: min_free_disk takes a size like memory_limit,
// and a negative integer, which turns the reserve off.
func TestMinFreeDiskConfig(t *testing.T) {
	for _, tt := range []struct {
		toml string
		want int64
	}{
		{``, 128 << 20},
		{`min_free_disk = "256MiB"`, 256 << 20},
		{`min_free_disk = 1000000`, 1e6},
		{`min_free_disk = -1`, -1},
	} {
		cfg, err := ParseConfig(tt.toml, "test")
		if err != nil {
			t.Errorf("%s: %v", tt.toml, err)
			continue
		}
		if cfg.MinFreeDisk != tt.want {
			t.Errorf("%s: min_free_disk = %d, want %d", tt.toml, cfg.MinFreeDisk, tt.want)
		}
	}
	if _, err := ParseConfig(`min_free_disk = "plenty"`, "test"); err == nil || !strings.Contains(err.Error(), `min_free_disk: "plenty" is not a size`) {
		t.Errorf("bad size: %v", err)
	}
}

// TestInt64FieldsAreSizes: TOML decodes every int64 field of Config as a
// size ("256MiB"), so a count must not be added as an int64.
func TestInt64FieldsAreSizes(t *testing.T) {
	sizes := map[string]bool{"memory_limit": true, "min_free_disk": true}
	ct := reflect.TypeFor[Config]()
	for i := 0; i < ct.NumField(); i++ {
		f := ct.Field(i)
		if f.Type.Kind() == reflect.Int64 && f.Type != reflect.TypeFor[time.Duration]() && !sizes[f.Tag.Get("toml")] {
			t.Errorf("Config.%s is an int64 but not a size; make it an int", f.Name)
		}
	}
}

func TestApplyMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })

	t.Setenv("GOMEMLIMIT", "")
	if got, from := applyMemoryLimit(200 << 20); got != 200<<20 || from != "memory_limit" {
		t.Errorf("memory_limit: got %d from %q", got, from)
	}
	if got := debug.SetMemoryLimit(-1); got != 200<<20 {
		t.Errorf("runtime limit %d, want %d", got, 200<<20)
	}
	if got, from := applyMemoryLimit(0); got != 200<<20 || from != "process" {
		t.Errorf("0 must leave the limit alone: got %d from %q", got, from)
	}
	// The environment's limit was applied by the runtime at start; the
	// config must not override what the operator set for the process.
	t.Setenv("GOMEMLIMIT", "300MiB")
	if got, from := applyMemoryLimit(100 << 20); got != 200<<20 || from != "GOMEMLIMIT" {
		t.Errorf("GOMEMLIMIT set: got %d from %q, want the limit untouched", got, from)
	}
}
