package main

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-metrics"
	"github.com/hashicorp/memberlist"
)

// member is one memberlist node and its delegate. Broadcasts go through a
// TransmitLimitedQueue, and every node queues a broadcast again the first
// time it receives it: the sender alone retransmits only a few times, so
// reaching every node is the receivers' relaying, as in serf's user events.
type member struct {
	c     *mlCluster
	name  string
	addr  string
	ml    *memberlist.Memberlist
	live  atomic.Pointer[memberlist.Memberlist] // for the queue, which may ask before Create returns
	queue *memberlist.TransmitLimitedQueue

	mu   sync.Mutex
	seen map[string]bool
}

var _ memberlist.Delegate = (*member)(nil)

func (m *member) numNodes() int {
	if ml := m.live.Load(); ml != nil {
		return ml.NumMembers()
	}
	return 1
}

// broadcast sends key from this node.
func (m *member) broadcast(key string) {
	m.firstSight(key)
	m.queue.QueueBroadcast(message(key))
}

// firstSight reports whether key is new to this node.
func (m *member) firstSight(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen[key] {
		return false
	}
	m.seen[key] = true
	return true
}

func (m *member) NotifyMsg(b []byte) {
	key := string(b)
	if !m.firstSight(key) {
		return
	}
	m.queue.QueueBroadcast(message(key))
	m.c.arrived(key)
}

func (m *member) GetBroadcasts(overhead, limit int) [][]byte {
	return m.queue.GetBroadcasts(overhead, limit)
}

func (m *member) NodeMeta(int) []byte           { return nil }
func (m *member) LocalState(bool) []byte        { return nil }
func (m *member) MergeRemoteState([]byte, bool) {}

// message is a user broadcast; each is distinct, so none invalidates
// another.
type message string

var _ memberlist.UniqueBroadcast = message("")

func (message) Invalidates(memberlist.Broadcast) bool { return false }
func (m message) Message() []byte                     { return []byte(m) }
func (message) Finished()                             {}
func (message) UniqueBroadcast()                      {}

// observer passes one node's membership events to the run.
type observer struct {
	c    *mlCluster
	name string
}

func (o observer) NotifyJoin(*memberlist.Node)    {}
func (o observer) NotifyUpdate(*memberlist.Node)  {}
func (o observer) NotifyLeave(n *memberlist.Node) { o.c.left(o.name, n.Name) }

// suspicionCounter is a metrics sink that counts memberlist's
// memberlist.msg.suspect: one node marking another suspect. memberlist
// has no event for it; the counter is incremented exactly there.
type suspicionCounter struct {
	metrics.BlackholeSink
	n atomic.Int64
}

func (s *suspicionCounter) IncrCounterWithLabels(key []string, val float32, labels []metrics.Label) {
	if len(key) >= 2 && key[len(key)-2] == "msg" && key[len(key)-1] == "suspect" {
		s.n.Add(int64(val))
	}
}

func (s *suspicionCounter) IncrCounter(key []string, val float32) {
	s.IncrCounterWithLabels(key, val, nil)
}

// Load returns the suspicions counted so far.
func (s *suspicionCounter) Load() int64 { return s.n.Load() }

// countSuspicions makes a new suspicionCounter memberlist's metrics sink.
func countSuspicions() (*suspicionCounter, error) {
	c := &suspicionCounter{}
	mc := metrics.DefaultConfig("")
	mc.EnableHostname, mc.EnableRuntimeMetrics = false, false
	if _, err := metrics.NewGlobal(mc, c); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return c, nil
}
