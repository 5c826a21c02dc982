package loadtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrNoMemoryCgroup is returned when this process has no memory cgroup it
// could create a child in: no v1 memory hierarchy and no cgroup v2 mount.
var ErrNoMemoryCgroup = errors.New("loadtest: no memory cgroup found")

// memCgroup is a memory cgroup made for one receiver process, in cgroup v1
// (memory controller hierarchy) or v2 (unified hierarchy).
type memCgroup struct {
	dir string
	v2  bool
}

// cgroupParent is where cgroups are created by default: a child of this
// process's own memory cgroup keeps the receiver inside whatever limits
// and accounting already apply to the bench. The v1 memory hierarchy wins
// when both exist, as it does for the node reading its limit.
func cgroupParent() (dir string, v2 bool, err error) {
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", false, fmt.Errorf("loadtest: cgroup: %w", err)
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", false, fmt.Errorf("loadtest: cgroup: %w", err)
	}
	return findCgroupParent(string(mounts), string(own))
}

// findCgroupParent resolves the memory cgroup of a process from its
// mountinfo and cgroup files.
func findCgroupParent(mountinfo, cgroup string) (dir string, v2 bool, err error) {
	var v1Path, v2Path string
	var hasV1, hasV2 bool
	for _, line := range strings.Split(cgroup, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] != "0" && slices.Contains(strings.Split(parts[1], ","), "memory"):
			v1Path, hasV1 = parts[2], true
		case parts[0] == "0" && parts[1] == "":
			v2Path, hasV2 = parts[2], true
		}
	}
	for _, line := range strings.Split(mountinfo, "\n") {
		// Fields: id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		root, mountpoint := f[3], f[4]
		switch {
		case hasV1 && g[0] == "cgroup" && slices.Contains(strings.Split(g[2], ","), "memory"):
			return underMount(mountpoint, root, v1Path), false, nil
		case !hasV1 && hasV2 && g[0] == "cgroup2":
			return underMount(mountpoint, root, v2Path), true, nil
		}
	}
	return "", false, ErrNoMemoryCgroup
}

// underMount is the directory of cgroup path p on a hierarchy mounted at
// mountpoint whose root is root (a container sees its own cgroup as /).
func underMount(mountpoint, root, p string) string {
	rel, ok := strings.CutPrefix(p, root)
	if !ok || root == "/" {
		rel = p
	}
	return filepath.Join(mountpoint, rel)
}

// cgroupHome is the cgroup the scenario creates its cgroups in.
type cgroupHome struct {
	dir string
	v2  bool
}

// openCgroupHome checks that memory cgroups can be created under parent
// (this process's own memory cgroup when empty), so that the scenario
// fails at once rather than after its writes.
func openCgroupHome(parent string) (cgroupHome, error) {
	h := cgroupHome{dir: parent}
	if parent == "" {
		var err error
		if h.dir, h.v2, err = cgroupParent(); err != nil {
			return h, err
		}
	} else {
		_, err := os.Stat(filepath.Join(parent, "cgroup.controllers"))
		h.v2 = err == nil
	}
	if h.v2 {
		if err := enableMemoryController(h.dir); err != nil {
			return h, err
		}
	}
	probe, err := h.create(fmt.Sprintf("leviathan-bench-%d-probe", os.Getpid()), 64<<20)
	if err != nil {
		return h, err
	}
	return h, probe.remove()
}

// create makes cgroup name limited to limit bytes; 0 leaves it
// unlimited, for its accounting only.
func (h cgroupHome) create(name string, limit int64) (*memCgroup, error) {
	c := &memCgroup{dir: filepath.Join(h.dir, name), v2: h.v2}
	if err := os.Mkdir(c.dir, 0o755); err != nil {
		return nil, fmt.Errorf("loadtest: cgroup: create %s (the scenario needs a writable memory cgroup, e.g. as root): %w", c.dir, err)
	}
	if limit > 0 {
		file := "memory.limit_in_bytes"
		if h.v2 {
			file = "memory.max"
		}
		if err := c.write(file, strconv.FormatInt(limit, 10)); err != nil {
			return nil, errors.Join(err, c.remove())
		}
	}
	return c, nil
}

// sweep removes the empty cgroups an interrupted earlier run left behind
// (a bench stopped by a signal runs no cleanup). The kernel only removes
// a cgroup without processes; those of a bench still running are left.
func (h cgroupHome) sweep() {
	names, _ := filepath.Glob(filepath.Join(h.dir, "leviathan-bench-*"))
	for _, n := range names {
		pid, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(n), "leviathan-bench-"), "-")
		if _, err := os.Stat(filepath.Join("/proc", pid)); err == nil {
			continue
		}
		_ = os.Remove(n)
	}
}

// enableMemoryController lets v2 children of parent have memory limits.
// The kernel refuses it while parent itself holds processes (the "no
// internal processes" rule); -cgroup-parent then has to name a cgroup
// without any.
func enableMemoryController(parent string) error {
	b, err := os.ReadFile(filepath.Join(parent, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("loadtest: cgroup: %w", err)
	}
	if slices.Contains(strings.Fields(string(b)), "memory") {
		return nil
	}
	if err := os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+memory"), 0); err != nil {
		return fmt.Errorf("loadtest: cgroup: enable memory for the children of %s (a v2 parent must hold no processes itself; pick another with -cgroup-parent): %w", parent, err)
	}
	return nil
}

func (c *memCgroup) write(file, v string) error {
	if err := os.WriteFile(filepath.Join(c.dir, file), []byte(v), 0); err != nil {
		return fmt.Errorf("loadtest: cgroup: %w", err)
	}
	return nil
}

// procs is the file a process writes its pid to, to enter the cgroup.
func (c *memCgroup) procs() string { return filepath.Join(c.dir, "cgroup.procs") }

// peakBytes is the most memory the cgroup was ever charged: anonymous
// memory and page cache together. v2 keeps it in memory.peak since Linux
// 5.19; 0 where the kernel keeps none.
func (c *memCgroup) peakBytes() int64 {
	file := "memory.max_usage_in_bytes"
	if c.v2 {
		file = "memory.peak"
	}
	b, err := os.ReadFile(filepath.Join(c.dir, file))
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v
}

// oomKills counts processes the kernel's OOM killer ended in the cgroup.
func (c *memCgroup) oomKills() (int, error) {
	file := "memory.oom_control"
	if c.v2 {
		file = "memory.events"
	}
	f, err := os.Open(filepath.Join(c.dir, file))
	if err != nil {
		return 0, fmt.Errorf("loadtest: cgroup: %w", err)
	}
	defer f.Close()
	return oomKillCount(f)
}

// oomKillCount reads the "oom_kill N" line of memory.oom_control (v1) or
// memory.events (v2).
func oomKillCount(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "oom_kill "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(rest))
			if err != nil {
				return 0, fmt.Errorf("loadtest: cgroup: oom_kill %q: %w", rest, err)
			}
			return n, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("loadtest: cgroup: %w", err)
	}
	return 0, errors.New("loadtest: cgroup: no oom_kill count (kernel before 4.13 for v1)")
}

// dropCache reclaims what the cgroup's processes left charged to it, the
// page cache of their files above all, so that the next process to read
// those files pays for them in its own cgroup, as after a reboot, instead
// of finding them resident and charged to no one it can see.
func (c *memCgroup) dropCache() error {
	if !c.v2 {
		return c.write("memory.force_empty", "0")
	}
	b, err := os.ReadFile(filepath.Join(c.dir, "memory.current"))
	if err != nil {
		return fmt.Errorf("loadtest: cgroup: %w", err)
	}
	return c.write("memory.reclaim", strings.TrimSpace(string(b)))
}

// remove deletes the cgroup once its processes are gone; the kernel
// refuses while the last one is still exiting, so it retries briefly.
func (c *memCgroup) remove() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := os.Remove(c.dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("loadtest: cgroup: remove %s: %w", c.dir, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
