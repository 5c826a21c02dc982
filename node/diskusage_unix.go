//go:build unix

package node

import (
	"io/fs"
	"syscall"
)

// diskUsage is the space a file occupies: its allocated 512-byte blocks,
// as du counts them, so that sparse files count for what they hold.
func diskUsage(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return info.Size()
}
