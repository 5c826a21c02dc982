package node

import "time"

// seqLock serialises the paths that produce a batch (see gossip.go). It
// is a channel rather than a mutex so that the receive path can stop
// waiting for it.
type seqLock chan struct{}

func newSeqLock() seqLock { return make(seqLock, 1) }

func (l seqLock) Lock()   { l <- struct{}{} }
func (l seqLock) Unlock() { <-l }

// TryLock takes the lock if it is free.
func (l seqLock) TryLock() bool {
	select {
	case l <- struct{}{}:
		return true
	default:
		return false
	}
}

// lockWithin takes the lock if it comes free within d.
func (l seqLock) lockWithin(d time.Duration) bool {
	if l.TryLock() {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case l <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}
