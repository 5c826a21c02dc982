package node

import (
	"math"
	"os"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// cgroupMemoryLimit reads the memory limit of the process's cgroup, v1
// (memory.limit_in_bytes) or v2 (memory.max, the lowest along the
// hierarchy), found through /proc/self/mountinfo and /proc/self/cgroup;
// memlimit.ErrNoLimit when there is none ("max"), an error off Linux. A
// variable so that tests can fake it.
var cgroupMemoryLimit = memlimit.FromCgroup

// cgroupLimitShare is the part of the cgroup's limit given to the Go
// heap: the rest is for what the runtime does not count (Badger's mapped
// tables in the page cache count towards the cgroup, not the heap) and
// for the collector's lag, so that a busy node slows down under the soft
// limit before the kernel kills it at the hard one.
const cgroupLimitShare = 0.9

// applyMemoryLimit sets the Go runtime's soft memory limit, which bounds
// the heap that Badger's transient buffers and decoded messages grow to.
// In order of precedence:
//
//   - GOMEMLIMIT in the environment: the operator set it for the whole
//     process and the runtime applied it; left alone.
//   - memory_limit (limit > 0): set.
//   - a limit the process already has (the embedding application called
//     debug.SetMemoryLimit, or an earlier node did): left alone, so that
//     an application keeps control of its own process.
//   - the cgroup's memory limit (a container's, a Kubernetes pod's):
//     cgroupLimitShare of it, so that the node fits its container by
//     default instead of growing until it is OOM-killed.
//
// It returns the limit in force and where it came from: "GOMEMLIMIT",
// "memory_limit", "process" (set before), "cgroup", or "" for no limit. The limit is process-wide: with several nodes in one
// process, the last one started with memory_limit sets it.
func applyMemoryLimit(limit int64) (int64, string) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1), "GOMEMLIMIT"
	}
	if limit > 0 {
		debug.SetMemoryLimit(limit)
		return limit, "memory_limit"
	}
	current := debug.SetMemoryLimit(-1)
	if current != math.MaxInt64 {
		return current, "process"
	}
	cg, err := cgroupMemoryLimit()
	if err != nil || cg == 0 || cg > math.MaxInt64 {
		return current, ""
	}
	share := int64(float64(cg) * cgroupLimitShare)
	debug.SetMemoryLimit(share)
	return share, "cgroup"
}
