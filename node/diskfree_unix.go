//go:build unix

package node

import "syscall"

// freeBytes is the space left for unprivileged writers on dir's file
// system; ok is false where it cannot be read.
func freeBytes(dir string) (uint64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return st.Bavail * uint64(st.Bsize), true
}
