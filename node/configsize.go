package node

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// ByteSize is a size in bytes that TOML may give as an integer (bytes) or
// as a string with a unit: "256MiB", "1GiB", "512KiB", "300MB" (powers of
// 1000 for KB/MB/GB, of 1024 for KiB/MiB/GiB).
type ByteSize int64

var byteUnits = []struct {
	suffix string
	scale  int64
}{
	// Longest suffixes first, so "MiB" is not read as "B".
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseByteSize parses a size such as "256MiB" or "1000000".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	scale := int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, scale = strings.TrimSpace(rest), u.scale
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 || math.IsInf(n, 0) || n*float64(scale) > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is not a size (want bytes like 268435456 or a string like \"256MiB\")", s)
	}
	return ByteSize(n * float64(scale)), nil
}

// UnmarshalTOML implements toml.Unmarshaler.
func (b *ByteSize) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return fmt.Errorf("%d bytes must not be negative", x)
		}
		*b = ByteSize(x)
	case string:
		p, err := ParseByteSize(x)
		if err != nil {
			return err
		}
		*b = p
	default:
		return fmt.Errorf("%v (%T) is not a size (want bytes like 268435456 or a string like \"256MiB\")", v, v)
	}
	return nil
}

// MarshalText renders the size in bytes.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(strconv.FormatInt(int64(b), 10)), nil }

// minMemoryLimit is the smallest memory_limit accepted: below it the
// collector would run continuously for a node's own working set (Badger's
// two 8 MiB memtables, a 4 MiB message being decoded and applied).
const minMemoryLimit = 64 << 20

// applyMemoryLimit sets the Go runtime's soft memory limit from
// memory_limit, unless the environment's GOMEMLIMIT (which the operator set
// for the whole process, and which the runtime already applied) takes
// precedence. It returns the limit in force and where it came from. The
// limit is process-wide: with several nodes in one process, the last one
// started sets it.
func applyMemoryLimit(limit ByteSize) (int64, string) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1), "GOMEMLIMIT"
	}
	if limit <= 0 {
		return debug.SetMemoryLimit(-1), ""
	}
	debug.SetMemoryLimit(int64(limit))
	return int64(limit), "memory_limit"
}
