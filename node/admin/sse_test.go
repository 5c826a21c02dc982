package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/leviathan-gossip/leviathan/node"
	"github.com/leviathan-gossip/leviathan/sync/transport"
)

// sseReader reads server-sent events from a stream.
type sseReader struct{ r *bufio.Reader }

// next returns the next event's type and data, skipping comments.
func (s sseReader) next() (string, string, error) {
	var typ, data string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return "", "", err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if typ != "" || data != "" {
				return typ, data, nil
			}
		case strings.HasPrefix(line, "event: "):
			typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
}

// openEvents opens GET /events; cancel ends the request.
func openEvents(t *testing.T, url string) (sseReader, context.CancelFunc, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("GET /events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return sseReader{bufio.NewReader(resp.Body)}, cancel, resp
}

func TestEventsStream(t *testing.T) {
	// m1 starts once the stream is open: a join takes milliseconds, and
	// its discovery would come before the subscription.
	net := transport.NewMemNetwork(1)
	nodes := []*node.Node{memNode(t, net, 0)}
	srv := httptest.NewServer(handler(nodes[0]))
	defer srv.Close()
	events, cancel, resp := openEvents(t, srv.URL)
	defer resp.Body.Close()
	defer cancel()
	nodes = append(nodes, memNode(t, net, 1))

	seen := map[string]SSEEvent{}
	// waitFor reads events until one of type want arrives.
	waitFor := func(want string) SSEEvent {
		t.Helper()
		for {
			typ, data, err := events.next()
			if err != nil {
				t.Fatalf("stream ended waiting for %s: %v (seen %v)", want, err, seen)
			}
			var ev SSEEvent
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatalf("event %s: bad JSON %q: %v", typ, data, err)
			}
			if ev.Type != typ || ev.Time.IsZero() {
				t.Fatalf("event: %s with data %s", typ, data)
			}
			seen[typ] = ev
			if typ == want {
				return ev
			}
		}
	}
	if p := waitFor("peers_discover").Peers; len(p) != 1 || p[0] != "m1" {
		t.Fatalf("discover event %+v", seen["peers_discover"])
	}
	if _, err := nodes[1].Set(context.Background(), "greeting", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if d := waitFor("updates").Deltas; len(d) != 1 || string(d[0].Value) != "hello" || d[0].Version != 1 || d[0].Peer != "m1" || d[0].Key != "greeting" {
		t.Fatalf("updates event %+v", seen["updates"])
	}
	if _, err := nodes[1].Delete(context.Background(), "greeting"); err != nil {
		t.Fatal(err)
	}
	if d := waitFor("delete").Deltas; len(d) != 1 || d[0].Value != nil ||
		d[0].Peer != "m1" || d[0].Key != "greeting" || d[0].Version != 2 || !d[0].Deleted {
		t.Fatalf("delete event %+v", seen["delete"])
	}
}

// TestSSEBinaryValues: a value that is not UTF-8 is not given as a
// (mangled) string, only as base64; text values are given both ways.
func TestSSEBinaryValues(t *testing.T) {
	ev := node.Event{Type: node.EventUpdates, Deltas: []node.Delta{
		{Peer: "p", Key: "bin", Value: []byte{0xff, 0xfe, 0}, Version: 1},
		{Peer: "p", Key: "text", Value: []byte("héllo"), Version: 2},
		{Peer: "p", Key: "empty", Value: []byte{}, Version: 3},
	}}
	data, err := json.Marshal(toSSE(ev, time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`{"peer":"p","key":"bin","value_b64":"//4A","version":1}`,
		`{"peer":"p","key":"text","value":"héllo","value_b64":"aMOpbGxv","version":2}`,
		`{"peer":"p","key":"empty","value":"","value_b64":"","version":3}`,
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("%s lacks %s", data, want)
		}
	}
}

func TestSSEDeltasCapped(t *testing.T) {
	ev := node.Event{Type: node.EventUpdates, Missed: 3}
	for i := 0; i < SSEMaxDeltas+5; i++ {
		ev.Deltas = append(ev.Deltas, node.Delta{Peer: "p", Key: "k", Value: []byte("v"), Version: uint64(i + 1)})
	}
	got := toSSE(ev, time.Unix(0, 0))
	if len(got.Deltas) != SSEMaxDeltas || got.More != 5 || got.Missed != 3 || got.Type != "updates" {
		t.Fatalf("%d deltas, more %d, missed %d, type %s", len(got.Deltas), got.More, got.Missed, got.Type)
	}
}

func TestEventsEndWithClientAndNode(t *testing.T) {
	old := sseHeartbeat
	sseHeartbeat = 20 * time.Millisecond
	t.Cleanup(func() { sseHeartbeat = old })
	n, err := node.New(fastConfig("sse"), node.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	a := newAPI(n, ConfigFrom(n.Config()))
	srv := httptest.NewServer(a.handler())
	defer srv.Close()

	// A client that goes away ends its stream (and its subscription).
	events, cancel, resp := openEvents(t, srv.URL)
	line, err := events.r.ReadString('\n')
	if err != nil || line != "retry: 2000\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	for i := 0; i < 2; i++ { // heartbeats keep coming
		if _, err := events.r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	resp.Body.Close()
	eventually(t, 5*time.Second, func() error {
		if subs := subscribers(t, n); subs != 0 || a.streams.Load() != 0 {
			return fmt.Errorf("%v subscriptions, %d streams still open", subs, a.streams.Load())
		}
		return nil
	})

	// Closing the node ends an open stream.
	events, cancel, resp = openEvents(t, srv.URL)
	defer cancel()
	defer resp.Body.Close()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, events.r); err != nil {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
}

// subscribers is the node's count of open event subscriptions, as its
// metrics give it.
func subscribers(t *testing.T, n *node.Node) float64 {
	t.Helper()
	fams, err := n.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "leviathan_subscribers" {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no leviathan_subscribers gauge")
	return 0
}
