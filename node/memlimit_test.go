package node

import (
	"errors"
	"math"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// TestMemoryLimitFromCgroup: with neither memory_limit nor GOMEMLIMIT nor
// a limit set by the application, the node takes 90 % of its cgroup's
// memory limit; no cgroup limit ("max") leaves the runtime without one.
func TestMemoryLimitFromCgroup(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	oldCgroup := cgroupMemoryLimit
	t.Cleanup(func() { debug.SetMemoryLimit(prev); cgroupMemoryLimit = oldCgroup })
	t.Setenv("GOMEMLIMIT", "")

	for _, tc := range []struct {
		name      string
		cgroup    uint64
		cgroupErr error
		config    int64
		preset    int64 // the limit the process has already; MaxInt64: none
		want      int64
		from      string
	}{
		{"cgroup", 1 << 30, nil, 0, math.MaxInt64, 966367641, "cgroup"},
		{"cgroup max", 0, memlimit.ErrNoLimit, 0, math.MaxInt64, math.MaxInt64, ""},
		{"no cgroup", 0, errors.New("not in a cgroup"), 0, math.MaxInt64, math.MaxInt64, ""},
		{"memory_limit wins", 1 << 30, nil, 256 << 20, math.MaxInt64, 256 << 20, "memory_limit"},
		{"application's limit kept", 1 << 30, nil, 0, 300 << 20, 300 << 20, "process"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cgroupMemoryLimit = func() (uint64, error) { return tc.cgroup, tc.cgroupErr }
			debug.SetMemoryLimit(tc.preset)
			got, from := applyMemoryLimit(tc.config)
			if got != tc.want || from != tc.from {
				t.Errorf("got %d from %q, want %d from %q", got, from, tc.want, tc.from)
			}
			if rt := debug.SetMemoryLimit(-1); rt != tc.want {
				t.Errorf("runtime limit %d, want %d", rt, tc.want)
			}
		})
	}

	t.Run("GOMEMLIMIT wins", func(t *testing.T) {
		t.Setenv("GOMEMLIMIT", "300MiB")
		cgroupMemoryLimit = func() (uint64, error) { return 1 << 30, nil }
		debug.SetMemoryLimit(300 << 20) // as the runtime did at start
		if got, from := applyMemoryLimit(0); got != 300<<20 || from != "GOMEMLIMIT" {
			t.Errorf("got %d from %q", got, from)
		}
	})
}
