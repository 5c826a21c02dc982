package node

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	gosync "sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// EventType tells what an Event reports.
type EventType uint8

// Event types.
const (
	// EventUpdates: a batch of peers' deltas, already durable in the store.
	EventUpdates EventType = iota + 1
	// EventDelete: peers' keys deleted (tombstones), already durable.
	EventDelete
	// EventDiscover: peers alive for the first time.
	EventDiscover
	// EventSuspend: peers whose phi crossed the threshold.
	EventSuspend
	// EventRecover: suspended or dead peers alive again.
	EventRecover
	// EventDead: peers suspended for longer than dead_after.
	EventDead
	// EventLeave: peers that announced they are leaving (Close).
	EventLeave
	// EventRemove: peers dead for longer than dead_grace, forgotten with
	// their data.
	EventRemove
)

func (t EventType) String() string {
	switch t {
	case EventUpdates:
		return "updates"
	case EventDelete:
		return "delete"
	case EventDiscover:
		return "peers_discover"
	case EventSuspend:
		return "peers_suspend"
	case EventRecover:
		return "peers_recover"
	case EventDead:
		return "peers_dead"
	case EventLeave:
		return "peers_leave"
	case EventRemove:
		return "peers_remove"
	}
	return "unknown"
}

// Delta is one replicated key change, as delivered in EventUpdates and
// EventDelete: peer, key, value and version. In JSON
// its value is written as the admin API (package node/admin) writes
// values: "value" as a string when it is valid UTF-8, "value_b64" in
// base64.
type Delta struct {
	Peer    string
	Key     string
	Value   []byte
	Version uint64
	Deleted bool
	// Deletion is a delete's own bytes (its time), which its origin's
	// proof binds: set in pages that carry proofs (ChangePage.Proofs).
	Deletion []byte
}

// deltaJSON is Delta's JSON form.
type deltaJSON struct {
	Peer     string  `json:"peer"`
	Key      string  `json:"key"`
	Value    *string `json:"value,omitempty"`
	ValueB64 *string `json:"value_b64,omitempty"` // set for every value, even empty
	Version  uint64  `json:"version"`
	Deleted  bool    `json:"deleted,omitempty"`
	Deletion []byte  `json:"deletion_b64,omitempty"`
}

// MarshalJSON writes the value as text when it is UTF-8 and always in
// base64, so that no byte is mangled and text stays readable.
func (d Delta) MarshalJSON() ([]byte, error) {
	j := deltaJSON{Peer: d.Peer, Key: d.Key, Version: d.Version, Deleted: d.Deleted, Deletion: d.Deletion}
	if !d.Deleted {
		b64 := base64.StdEncoding.EncodeToString(d.Value)
		j.ValueB64 = &b64
		if utf8.Valid(d.Value) { // JSON strings cannot carry other bytes faithfully
			s := string(d.Value)
			j.Value = &s
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes: the bytes from value_b64,
// else from value.
func (d *Delta) UnmarshalJSON(b []byte) error {
	var j deltaJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*d = Delta{Peer: j.Peer, Key: j.Key, Version: j.Version, Deleted: j.Deleted, Deletion: j.Deletion}
	switch {
	case j.ValueB64 != nil:
		v, err := base64.StdEncoding.DecodeString(*j.ValueB64)
		if err != nil {
			return fmt.Errorf("delta %s/%s: value_b64: %w", j.Peer, j.Key, err)
		}
		d.Value = v
	case j.Value != nil:
		d.Value = []byte(*j.Value)
	}
	return nil
}

// Event is one notification. Peer events carry node ids in Peers; data
// events carry Deltas in the order they were applied. Deltas and their
// values are copies, never the node's own memory; one copy is shared by
// every subscriber of the event, so treat it as read-only.
type Event struct {
	Type EventType
	// Time is when the node published the event, by its clock.
	Time   time.Time
	Peers  []string
	Deltas []Delta
	// Missed counts events this subscriber lost, just before this one,
	// because its buffer was full. After a miss, re-read what you need
	// (Keys, Get): events are notifications, the store is the truth.
	Missed uint64
}

// Subscription receives events until Close (or the node's Close).
type Subscription struct {
	C      <-chan Event
	ch     chan Event
	hub    *hub
	missed uint64
	// maxBytes bounds what the events waiting in ch hold (0: only their
	// number is bounded); queued is that size, taken off by release.
	maxBytes int64
	queued   atomic.Int64
}

// Close stops delivery and closes C. It is safe to call more than once.
func (s *Subscription) Close() { s.hub.remove(s) }

// Release gives back the bytes ev counted against the bound of a
// subscription from SubscribeBounded; call it for every event received
// from C. On any other subscription it does nothing.
func (s *Subscription) Release(ev Event) { s.release(ev.size()) }

// hub fans events out without ever blocking the protocol: a subscriber
// whose buffer is full loses the event, and is told how many it lost.
type hub struct {
	mu     gosync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
	// observe, when set, is told of each published event and how many
	// subscribers lost it (metrics).
	observe func(t EventType, dropped int)
}

func newHub() *hub { return &hub{subs: make(map[*Subscription]struct{})} }

func (h *hub) add(buffer int) *Subscription { return h.addBounded(buffer, 0) }

// addBounded is add whose subscription also loses the events that would
// make those waiting hold more than maxBytes.
func (h *hub) addBounded(buffer int, maxBytes int64) *Subscription {
	if buffer < 1 {
		buffer = 1
	}
	ch := make(chan Event, buffer)
	s := &Subscription{C: ch, ch: ch, hub: h, maxBytes: maxBytes}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return s
	}
	h.subs[s] = struct{}{}
	return s
}

func (h *hub) remove(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

func (h *hub) publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) > 0 { // nobody listening: no copy to make
		e.Deltas = detach(e.Deltas)
	}
	dropped, size := 0, e.size()
	for s := range h.subs {
		ev := e
		ev.Missed = s.missed
		if !s.reserve(size) {
			s.missed++
			dropped++
			continue
		}
		select {
		case s.ch <- ev:
			s.missed = 0
		default:
			s.release(size)
			s.missed++
			dropped++
		}
	}
	if h.observe != nil {
		h.observe(e.Type, dropped)
	}
}

// size is about the memory an event holds beyond its struct: what a slow
// subscriber keeps alive while it waits.
func (e Event) size() int64 {
	n := 0
	for _, d := range e.Deltas {
		n += len(d.Peer) + len(d.Key) + len(d.Value) + 48
	}
	for _, p := range e.Peers {
		n += len(p) + 16
	}
	return int64(n)
}

// reserve counts size bytes into s's queue unless that would pass its
// bound. An empty queue takes any event, so that one larger than the
// bound still arrives.
func (s *Subscription) reserve(size int64) bool {
	if s.maxBytes == 0 {
		return true
	}
	if q := s.queued.Add(size); q > size && q > s.maxBytes {
		s.queued.Add(-size)
		return false
	}
	return true
}

// release takes an event's size off s's queue, once the subscriber has
// received it or it was not sent.
func (s *Subscription) release(size int64) {
	if s.maxBytes > 0 {
		s.queued.Add(-size)
	}
}

// detach copies deltas and their values out of the node's memory (the
// core's records), in one allocation for all values, so that a subscriber
// that modifies what it was given changes nothing inside the node. The
// copy is shared by all subscribers of the event.
func detach(ds []Delta) []Delta {
	if len(ds) == 0 {
		return ds
	}
	size := 0
	for _, d := range ds {
		size += len(d.Value)
	}
	buf := make([]byte, 0, size)
	out := make([]Delta, len(ds))
	for i, d := range ds {
		out[i] = d
		if d.Value != nil {
			start := len(buf)
			buf = append(buf, d.Value...)
			out[i].Value = buf[start:len(buf):len(buf)] // capped: an append cannot reach the next value
		}
	}
	return out
}

// stats returns the number of subscribers and the most events waiting in
// any one subscriber's buffer.
func (h *hub) stats() (subs, lag int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		lag = max(lag, len(s.ch))
	}
	return len(h.subs), lag
}

// close ends every subscription.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.ch)
	}
}
