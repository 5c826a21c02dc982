package node

import (
	"io/fs"
	"path/filepath"
)

// storeSize reports the store's size on disk: what its files occupy
// (allocated blocks), not their apparent length. Badger preallocates its
// value log as a sparse file of 128 MiB or more, so the apparent size of
// a node holding a few keys is 128 MiB while du says kilobytes; users
// compare with du. A store's own Size is the answer only without a
// directory to measure. ok is false when the store reports no size.
func (n *Node) storeSize() (size StoreSize, ok bool) {
	if n.caps.dir != "" {
		if du, err := dirUsage(n.caps.dir); err == nil {
			return du, true
		}
	}
	if n.caps.size == nil {
		return StoreSize{}, false
	}
	sz := n.caps.size.Size()
	return StoreSize{LSMBytes: sz.LSM, VLogBytes: sz.VLog, DiskBytes: sz.LSM + sz.VLog}, true
}

// dataDir is the store's absolute data directory (DirStore), or "".
func (n *Node) dataDir() string { return n.caps.dir }

// dirUsage sums the disk use of Badger's files under dir by part; the
// total counts directories too, as du does.
func dirUsage(dir string) (StoreSize, error) {
	var out StoreSize
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed while we walked (compaction): not there any more
		}
		used := diskUsage(info)
		out.DiskBytes += used
		switch filepath.Ext(path) {
		case ".sst":
			out.LSMBytes += used
		case ".vlog":
			out.VLogBytes += used
		}
		return nil
	})
	return out, err
}
