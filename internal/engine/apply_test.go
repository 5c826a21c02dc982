package engine

import (
	"time"

	"errors"
	"slices"
	"testing"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// recorder is a Driver that records its calls, and what the engine held
// of the write while Persist ran.
type recorder struct {
	e         *Engine
	fail      error
	calls     []string
	locked    bool
	seenEarly bool // the write was visible before it was durable
}

func (r *recorder) Persist(b *lsync.Batch) error {
	if r.locked {
		r.calls = append(r.calls, "persist under lock")
	}
	_, r.seenEarly = r.e.State().Get("a", "k")
	r.calls = append(r.calls, "persist")
	return r.fail
}

func (r *recorder) Lock()   { r.locked = true; r.calls = append(r.calls, "lock") }
func (r *recorder) Unlock() { r.locked = false; r.calls = append(r.calls, "unlock") }

func (r *recorder) Committed(rd *Ready, err error) {
	if !r.locked {
		r.calls = append(r.calls, "committed without lock")
	}
	if _, ok := r.e.State().Get("a", "k"); ok != (err == nil) {
		r.calls = append(r.calls, "engine and driver disagree")
	}
	if err != nil {
		r.calls = append(r.calls, "aborted")
		return
	}
	r.calls = append(r.calls, "committed")
}

func (r *recorder) Settled()          { r.calls = append(r.calls, "settled") }
func (r *recorder) ProbeAt(time.Time) { r.calls = append(r.calls, "probe") }
func (r *recorder) Publish(rd *Ready) { r.calls = append(r.calls, "publish") }
func (r *recorder) Send(out []Outgoing) {
	if r.locked {
		r.calls = append(r.calls, "send under lock")
	}
	r.calls = append(r.calls, "send")
}

// written is a Ready holding a local write, with an event and a message
// as a step would add them.
func written(t *testing.T, e *Engine) Ready {
	t.Helper()
	rd, err := e.Write(t0, []lsync.Record{{Key: "k", Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	rd.Events = append(rd.Events, Event{Kind: Discover, Peers: []string{"b"}})
	rd.Send = append(rd.Send, Outgoing{To: "b:1", Msg: e.Syn()})
	return rd
}

func TestApplyPersistsBeforeCommitBeforePublishAndSend(t *testing.T) {
	e := newEngine(t, "a")
	rd := written(t, e)
	r := &recorder{e: e}
	if err := e.Apply(&rd, r); err != nil {
		t.Fatal(err)
	}
	want := []string{"persist", "lock", "committed", "unlock", "settled", "publish", "send"}
	if !slices.Equal(r.calls, want) {
		t.Fatalf("calls %q, want %q", r.calls, want)
	}
	if r.seenEarly {
		t.Fatal("the write was visible before Persist returned")
	}
	if e.Busy() {
		t.Fatal("busy after Apply")
	}
}

func TestApplyAbortsOnPersistError(t *testing.T) {
	e := newEngine(t, "a")
	rd := written(t, e)
	disk := errors.New("disk full")
	r := &recorder{e: e, fail: disk}
	if err := e.Apply(&rd, r); !errors.Is(err, disk) {
		t.Fatalf("Apply: %v, want the store's error", err)
	}
	want := []string{"persist", "lock", "aborted", "unlock", "settled"}
	if !slices.Equal(r.calls, want) {
		t.Fatalf("calls %q, want %q: nothing may be published or sent", r.calls, want)
	}
	if e.Busy() {
		t.Fatal("busy after an aborted batch")
	}
}

func TestApplyWithoutBatchTakesNoLock(t *testing.T) {
	e := newEngine(t, "a")
	rd := Ready{Send: []Outgoing{{To: "b:1", Msg: e.Syn()}}}
	r := &recorder{e: e}
	if err := e.Apply(&rd, r); err != nil {
		t.Fatal(err)
	}
	want := []string{"settled", "publish", "send"}
	if !slices.Equal(r.calls, want) {
		t.Fatalf("calls %q, want %q", r.calls, want)
	}
}
