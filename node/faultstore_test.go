package node

import (
	"fmt"
	gosync "sync"
	"time"

	"github.com/leviathan-gossip/leviathan/store"
	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// diskModel stands for a node's disk across restarts: the identity Boot
// keeps (always synced) and every batch applied, in order. A power loss
// throws away the last batches, as an unsynced Badger tail would be.
type diskModel struct {
	mu      gosync.Mutex
	gen     uint64
	boots   int
	batches []*lsync.Batch
}

// powerLoss drops the last n applied batches.
func (d *diskModel) powerLoss(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.batches = d.batches[:max(0, len(d.batches)-n)]
}

// holds reports whether a batch on the disk carries a meta of peer id.
func (d *diskModel) holds(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range d.batches {
		for _, c := range b.Changes {
			if c.Meta.ID == id && !c.Remove {
				return true
			}
		}
	}
	return false
}

// open returns a store holding what the disk holds now.
func (d *diskModel) open() *faultStore {
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		panic(fmt.Sprintf("in-memory badger: %v", err)) // test helper: cannot happen without a broken badger
	}
	return &faultStore{Badger: db, disk: d, applied: make(map[string]bool)}
}

// faultStore is a real (in-memory) Badger whose batches are also written
// to a diskModel, so that a later open can replay all but a lost tail.
// It also lets a test hold an Apply and see what was made durable.
type faultStore struct {
	*store.Badger
	disk *diskModel

	mu      gosync.Mutex
	applied map[string]bool // "peer/key@version" of every record Apply returned for
	calls   []int           // records per Apply, in order
	gate    chan struct{}   // when set, the next Apply waits for it to close
	// slow is how long each Apply takes, as on a slow disk: long enough
	// for anything announced before Apply returns to be seen meanwhile.
	slow time.Duration
	// fail, when set, is what every Apply returns, writing nothing: a
	// full disk.
	fail error
}

// Boot replays the disk: every surviving batch, then the same identity
// and boot count as a restart would read.
func (s *faultStore) Boot(id string, gen uint64) (store.SelfInfo, error) {
	s.disk.mu.Lock()
	defer s.disk.mu.Unlock()
	if s.disk.gen == 0 {
		s.disk.gen = gen
	}
	for _, b := range s.disk.batches {
		if err := s.Badger.Apply(b); err != nil {
			return store.SelfInfo{}, fmt.Errorf("replay: %w", err)
		}
	}
	var info store.SelfInfo
	for i := 0; i <= s.disk.boots; i++ {
		var err error
		if info, err = s.Badger.Boot(id, s.disk.gen); err != nil {
			return info, err
		}
	}
	info.Fresh = s.disk.boots == 0
	s.disk.boots++
	return info, nil
}

func (s *faultStore) Apply(b *lsync.Batch) error {
	s.mu.Lock()
	gate := s.gate
	s.gate = nil
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	time.Sleep(s.slow)
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail != nil {
		return fail
	}
	if err := s.Badger.Apply(b); err != nil {
		return err
	}
	s.disk.mu.Lock()
	s.disk.batches = append(s.disk.batches, copyBatch(b))
	s.disk.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, b.Len())
	for _, c := range b.Changes {
		for _, r := range c.Records {
			s.applied[fmt.Sprintf("%s/%s@%d", c.Meta.ID, r.Key, r.Version)] = true
		}
	}
	return nil
}

// holdNextApply makes the next Apply wait until the returned function is
// called.
func (s *faultStore) holdNextApply() (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.gate = ch
	s.mu.Unlock()
	var once gosync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// held reports whether an Apply has reached the gate holdNextApply set.
func (s *faultStore) held() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gate == nil
}

func (s *faultStore) durable(peer, key string, version uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied[fmt.Sprintf("%s/%s@%d", peer, key, version)]
}

func (s *faultStore) applyCalls() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.calls...)
}

func copyBatch(b *lsync.Batch) *lsync.Batch {
	out := &lsync.Batch{Changes: make([]lsync.PeerChange, len(b.Changes))}
	for i, c := range b.Changes {
		c.Records = append([]lsync.Record(nil), c.Records...)
		c.Drop = append([]string(nil), c.Drop...)
		out.Changes[i] = c
	}
	return out
}
