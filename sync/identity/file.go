package identity

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// writeFile writes data to path so that a crash leaves either no file or
// the whole of it: a temporary file in the same directory, synced, then
// moved into place and the directory synced. Without overwrite an
// existing path is fs.ErrExist, decided atomically where the file system
// has hard links.
func writeFile(path string, data []byte, perm fs.FileMode, overwrite bool) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := fillSynced(tmp, data, perm); err != nil {
		return err
	}
	if err := place(tmp.Name(), path, overwrite); err != nil {
		return err
	}
	return syncDir(dir)
}

func fillSynced(f *os.File, data []byte, perm fs.FileMode) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// place moves the finished temporary file to path.
func place(tmp, path string, overwrite bool) error {
	if overwrite {
		return os.Rename(tmp, path)
	}
	err := os.Link(tmp, path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		_ = os.Remove(tmp)
		return err
	}
	// No hard links here: check, then rename (a race with another
	// creator is lost by one of them, silently).
	if _, serr := os.Lstat(path); serr == nil {
		return fmt.Errorf("%w: %s", fs.ErrExist, path)
	}
	return os.Rename(tmp, path)
}

// syncDir makes a new directory entry durable: a key the node has
// already presented must not vanish with a power cut.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
