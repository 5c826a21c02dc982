package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	gosync "sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// logBuffer collects JSON log lines safely across goroutines.
type logBuffer struct {
	mu gosync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) lines(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func TestLogsPeerEventsAndNoPerPacketInfo(t *testing.T) {
	var buf logBuffer
	logger := zerolog.New(&buf).Level(zerolog.InfoLevel)
	nodes := memCluster(t, 3, func(i int) []Option {
		if i == 0 {
			return []Option{WithLogger(logger)}
		}
		return nil
	})
	eventually(t, 10*time.Second, func() error {
		if live := len(nodes[0].LivePeers()); live != 2 {
			return fmt.Errorf("%d live", live)
		}
		return nil
	})
	// Many rounds and a few hundred messages of steady gossip with writes:
	// not one more info line.
	before := len(buf.lines(t))
	in0 := nodes[0].Status().Stats.MessagesIn
	for i := 0; i < 20; i++ {
		if _, err := nodes[1].Set(context.Background(), fmt.Sprint("k", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, func() error {
		if got := nodes[0].Status().Stats.MessagesIn - in0; got < 200 {
			return fmt.Errorf("only %d messages so far", got)
		}
		return nil
	})
	if after := buf.lines(t); len(after) != before {
		t.Fatalf("%d log lines at info during steady gossip: %v", len(after)-before, after[before:])
	}

	nodes[2].cfg.SkipLeave = true // a crash, not a leave
	if err := nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		for _, l := range buf.lines(t) {
			if l["message"] == "peer suspended" {
				if l["peer"] != "m2" || l["alias"] != "m2" || l["level"] != "warn" || l["node"] != "m0" {
					return fmt.Errorf("suspension line %v", l)
				}
				if g, ok := l["generation"].(float64); !ok || g <= 0 {
					return fmt.Errorf("suspension line without generation: %v", l)
				}
				if _, ok := l["phi"]; !ok {
					return fmt.Errorf("suspension line without phi: %v", l)
				}
				return nil
			}
		}
		return fmt.Errorf("no suspension logged")
	})
	var discovered int
	for _, l := range buf.lines(t) {
		if l["message"] == "peer discovered" {
			discovered++
		}
	}
	if discovered != 2 {
		t.Errorf("%d discovery lines, want 2", discovered)
	}
}
