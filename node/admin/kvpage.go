package admin

import (
	"container/heap"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	"github.com/leviathan-gossip/leviathan/node"
)

// Page sizes of GET /kv/{peer}, in keys.
const (
	kvPageDefault = 1000
	kvPageMax     = 10000
)

// kvPage is a GET /kv/{peer} answer: keys in key order; Next, when set, is
// the last of them, to pass as ?after= for the rest.
type kvPage struct {
	Keys []kvEntry `json:"keys"`
	Next string    `json:"next,omitempty"`
}

func (a *api) handleKeys(w http.ResponseWriter, r *http.Request) {
	peer, q := r.PathValue("peer"), r.URL.Query()
	limit, err := kvPageLimit(q.Get("limit"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	kp := &keyPage{after: q.Get("after"), limit: limit, budget: node.PageMaxBytes}
	switch err := a.n.Scan(r.Context(), peer, kp.offer); {
	case errors.Is(err, node.ErrUnknownPeer):
		writeError(w, http.StatusNotFound, "unknown peer "+peer)
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "reading the store: "+err.Error())
		return
	}
	page := kp.result()
	if page.Next == "" && !q.Has("limit") && !q.Has("after") {
		// A client that knows nothing of pages gets the bare array while
		// it holds everything, and an object it cannot misread otherwise.
		writeJSON(w, http.StatusOK, page.Keys)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func kvPageLimit(s string) (int, error) {
	if s == "" {
		return kvPageDefault, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > kvPageMax {
		return 0, fmt.Errorf("limit: %q is not between 1 and %d", s, kvPageMax)
	}
	return v, nil
}

// keyPage gathers the first keys after a cursor, in key order, from a
// scan in version order without holding more than a page: a max-heap
// keeps the smallest keys seen and gives up its largest while the page is
// over its count or bytes. The page then ends before the smallest key
// given up (cut), which refuses every key from there on.
type keyPage struct {
	after         string
	limit, budget int
	size          int
	items         kvHeap
	cut           *string
}

// offer is a Node.Scan callback; it never stops the scan.
func (p *keyPage) offer(key string, e node.Entry) bool {
	if key <= p.after || p.cut != nil && key >= *p.cut {
		return true
	}
	heap.Push(&p.items, kvItem{key: key, value: e.Value, version: e.Version})
	p.size += node.JSONSize(key, e.Value)
	for len(p.items) > 1 && (len(p.items) > p.limit || p.size > p.budget) {
		top := heap.Pop(&p.items).(kvItem)
		p.size -= node.JSONSize(top.key, top.value)
		p.cut = &top.key
	}
	return true
}

func (p *keyPage) result() kvPage {
	sort.Slice(p.items, func(i, j int) bool { return p.items[i].key < p.items[j].key })
	out := kvPage{Keys: make([]kvEntry, len(p.items))}
	for i, it := range p.items {
		out.Keys[i] = newKVEntry(it.key, it.value, it.version)
	}
	if p.cut != nil {
		out.Next = p.items[len(p.items)-1].key
	}
	return out
}

// kvItem is a key kept for a page; Scan lets its value be kept.
type kvItem struct {
	key     string
	value   []byte
	version uint64
}

// kvHeap is a max-heap on key (container/heap).
type kvHeap []kvItem

func (h kvHeap) Len() int           { return len(h) }
func (h kvHeap) Less(i, j int) bool { return h[i].key > h[j].key }
func (h kvHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *kvHeap) Push(x any)        { *h = append(*h, x.(kvItem)) }
func (h *kvHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
