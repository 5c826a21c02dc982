package node

import "time"

// seqLock serialises the paths that produce a batch (see gossip.go). It
// is a channel rather than a mutex so that the receive path can stop
// waiting for it.
type seqLock chan struct{}

func newSeqLock() seqLock { return make(seqLock, 1) }

func (l seqLock) Lock()   { l <- struct{}{} }
func (l seqLock) Unlock() { <-l }

// lockWithin takes the lock if it comes free within d.
func (l seqLock) lockWithin(d time.Duration) bool {
	select {
	case l <- struct{}{}:
		return true
	default:
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
