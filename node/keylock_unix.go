//go:build unix

package node

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// keyFileLocking: lockKeyFile takes a lock here.
const keyFileLocking = true

// lockKeyFile takes an exclusive lock on the key file for as long as the
// node runs; unlock releases it. The lock goes with the process: a node
// that crashed holds none.
func lockKeyFile(path string) (unlock func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	switch {
	case errors.Is(err, syscall.EWOULDBLOCK):
		_ = f.Close()
		return nil, errKeyInUse
	case err != nil:
		_ = f.Close()
		return nil, fmt.Errorf("lock: %w", err)
	}
	return func() { _ = f.Close() }, nil
}
