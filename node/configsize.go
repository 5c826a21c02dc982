package node

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// byteUnits are the units a size may carry.
var byteUnits = []struct {
	suffix string
	scale  int64
}{
	// Longest suffixes first, so "MiB" is not read as "B".
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseByteSize parses a size in bytes as the config's size keys take it:
// "256MiB", "1GiB", "512KiB", "300MB" (powers of 1000 for KB/MB/GB, of
// 1024 for KiB/MiB/GiB) or plain bytes ("268435456"). A program can give
// its own flags the same spelling.
func ParseByteSize(s string) (int64, error) {
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
	return int64(n * float64(scale)), nil
}

// tomlSize decodes a size key of Config: TOML has no unit, so a size is an
// integer (bytes) or a string ParseByteSize reads. A negative integer
// passes through, for the keys where it means off; Validate judges it.
type tomlSize int64

// UnmarshalTOML implements toml.Unmarshaler.
func (b *tomlSize) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		*b = tomlSize(x)
	case string:
		p, err := ParseByteSize(x)
		if err != nil {
			return err
		}
		*b = tomlSize(p)
	default:
		return fmt.Errorf("%v (%T) is not a size (want bytes like 268435456 or a string like \"256MiB\")", v, v)
	}
	return nil
}

// minMemoryLimit is the smallest memory_limit accepted: below it the
// collector would run continuously for a node's own working set (Badger's
// two 8 MiB memtables, a 4 MiB message being decoded and applied).
const minMemoryLimit = 64 << 20
