package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/leviathan-gossip/leviathan/node"
)

// handleChanges serves GET /changes?peer=&generation=&since=&limit=.
// Values are written as in /kv (node.Delta's JSON: value and value_b64).
func (a *api) handleChanges(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var cur node.Cursor
	var limit int
	for _, f := range []struct {
		name string
		dst  *uint64
	}{{"generation", &cur.Generation}, {"since", &cur.Version}} {
		if s := q.Get(f.name); s != "" {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: %q is not an unsigned integer", f.name, s))
				return
			}
			*f.dst = v
		}
	}
	if s := q.Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 100_000 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: %q is not between 1 and 100000", s))
			return
		}
		limit = v
	}
	page, err := a.n.Changes(r.Context(), q.Get("peer"), cur, limit)
	switch {
	case errors.Is(err, node.ErrUnknownPeer):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, node.ErrCursorAhead):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, node.ErrGenerationChanged), errors.Is(err, node.ErrCompacted):
		// Gone: the cursor cannot be continued; start over from zero.
		writeError(w, http.StatusGone, err.Error())
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		if page.Deltas == nil {
			page.Deltas = []node.Delta{}
		}
		writeJSON(w, http.StatusOK, page)
	}
}
