package loadtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFindCgroupParent(t *testing.T) {
	const v1Mounts = `34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`
	const v2Mount = `29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate`
	for _, tc := range []struct {
		name, mounts, cgroup string
		dir                  string
		v2                   bool
		err                  error
	}{
		{"v1 memory wins over unified", v1Mounts, "4:memory:/a/b\n0::/\n", "/sys/fs/cgroup/memory/a/b", false, nil},
		{"v1 with joined controllers", "34 30 0:31 / /cg/mem rw - cgroup cgroup rw,cpu,memory", "3:cpu,memory:/x\n", "/cg/mem/x", false, nil},
		{"v1 mount rooted at the container's cgroup", "34 30 0:31 /pod/c1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory", "4:memory:/pod/c1\n", "/sys/fs/cgroup/memory", false, nil},
		{"v2 only", v2Mount, "0::/user.slice/bench\n", "/sys/fs/cgroup/user.slice/bench", true, nil},
		{"no memory hierarchy", "31 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu", "1:cpu:/\n", "", false, ErrNoMemoryCgroup},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, v2, err := findCgroupParent(tc.mounts, tc.cgroup)
			if !errors.Is(err, tc.err) || dir != tc.dir || v2 != tc.v2 {
				t.Fatalf("got %q, v2 %v, %v; want %q, v2 %v, %v", dir, v2, err, tc.dir, tc.v2, tc.err)
			}
		})
	}
}

func TestOOMKillCount(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       int
		fails      bool
	}{
		{"v1 oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", 2, false},
		{"v2 events", "low 0\nhigh 0\nmax 13\noom 1\noom_kill 1\noom_group_kill 0\n", 1, false},
		{"no count", "oom_kill_disable 0\nunder_oom 0\n", 0, true},
		{"garbage count", "oom_kill x\n", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := oomKillCount(strings.NewReader(tc.file))
			if (err != nil) != tc.fails || got != tc.want {
				t.Fatalf("got %d, %v; want %d, fails %v", got, err, tc.want, tc.fails)
			}
		})
	}
}

// TestCgroupSmall: both catch-ups and the hold end normally, the limited
// receivers' nodes take their Go memory limit from the cgroup, and the
// scenario leaves no cgroup behind. It needs a writable memory cgroup.
func TestCgroupSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs OS processes")
	}
	home, err := openCgroupHome("")
	if err != nil {
		t.Skipf("no writable memory cgroup: %v", err)
	}
	const limit = 256 << 20
	rs, err := Cgroup(CgroupOptions{N: 5000, HoldN: 8000, ValueSize: 100, Limit: limit, Hold: 2 * time.Second,
		Dir: t.TempDir(), Args: []string{"-test.run=^$"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4 {
		t.Fatalf("%d results, want 4: %+v", len(rs), rs)
	}
	for _, r := range rs {
		t.Logf("%+v", r)
		limited := r.Limit != "none"
		wantGo := 0.0
		if limited {
			wantGo = round3(limit * 0.9 / (1 << 20)) // the node's share of its cgroup's limit
		}
		if r.Exit != "ok" || r.OOMKills != 0 || r.GoLimitMB != wantGo || r.PeakRSSMB <= 0 {
			t.Errorf("%s %d %s: exit %q, %d OOM kills, go limit %v MB (want %v), peak RSS %v MB",
				r.Case, r.N, r.Limit, r.Exit, r.OOMKills, r.GoLimitMB, wantGo, r.PeakRSSMB)
		}
	}
	if h := rs[3]; h.Case != "hold" || h.Reads == 0 || h.Misses != 0 || h.Behind != 0 {
		t.Errorf("hold: %+v", h)
	}
	if left, _ := filepath.Glob(filepath.Join(home.dir, fmt.Sprintf("leviathan-bench-%d-*", os.Getpid()))); len(left) != 0 {
		t.Errorf("cgroups left behind: %v", left)
	}
}
