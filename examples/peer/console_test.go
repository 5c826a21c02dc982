package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/leviathan-gossip/leviathan/node"
)

// TestLogsWithoutColourOffATerminal: a pipe or file gets plain text, no
// ANSI escape codes.
func TestLogsWithoutColourOffATerminal(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, zerolog.InfoLevel)
	log.Warn().Str("node", "peer1").Str("peer", "peer2").Msg("peer suspended")
	out := buf.String()
	if strings.Contains(out, "\x1b[") {
		t.Errorf("escape codes in %q", out)
	}
	if !strings.Contains(out, "WRN peer suspended node=peer1 peer=peer2") {
		t.Errorf("unexpected line %q", out)
	}
}

// TestUpdateLinesNameTheNode: the console's updates and delete lines carry
// node= like the node's own lines, and the fields the README shows.
func TestUpdateLinesNameTheNode(t *testing.T) {
	var buf bytes.Buffer
	log := nodeLogger(newLogger(&buf, zerolog.InfoLevel), "peer1")
	ch := make(chan node.Event, 2)
	ch <- node.Event{Type: node.EventUpdates, Deltas: []node.Delta{{Peer: "peer2", Key: "greeting", Value: []byte("hello"), Version: 1}}}
	ch <- node.Event{Type: node.EventDelete, Deltas: []node.Delta{{Peer: "peer2", Key: "greeting", Version: 2, Deleted: true}}}
	close(ch)
	logEvents(log, &node.Subscription{C: ch})
	for _, want := range []string{
		"updates key=greeting node=peer1 peer=peer2 value=hello version=1",
		"delete key=greeting node=peer1 peer=peer2 version=2",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
}

// TestConsoleCommands runs the console's commands against a node in memory.
func TestConsoleCommands(t *testing.T) {
	n, err := node.New(node.Config{Alias: "c1", Addr: "127.0.0.1", InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	tests := []struct{ line, want string }{
		{"set greeting hello world", "greeting = hello world (version 1)"},
		{"get self greeting", "greeting = hello world (version 1)"},
		{"get c1 greeting", "greeting = hello world (version 1)"},
		{"get self nothing", "self has no key nothing"},
		{"get peer9 greeting", "unknown peer peer9"},
		{"keys peer9", "unknown peer peer9"},
		{"keys self", "1 keys: greeting"},
		{"peers", "no peers yet"},
		{"status", "c1 (127.0.0.1:"},
		{"status", "store in memory"},
		{"del greeting", "greeting deleted (version 2)"},
		{"get self greeting", "self has no key greeting"},
		{"bogus", "commands:"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		command(n, tt.line, &out)
		if !strings.Contains(out.String(), tt.want) {
			t.Errorf("%q printed %q, want %q", tt.line, out.String(), tt.want)
		}
	}
}

func TestRenderings(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{heard(-1), "-"},
		{heard(1500 * time.Millisecond), "1.5s"},
		{humanBytes(28 << 10), "28.0 KiB"},
		{humanBytes(512), "512 B"},
		{humanBytes(128 << 20), "128.0 MiB"},
		{abbreviate([]byte{0xff, 0, 1}), "(3 bytes, not text)"},
		{abbreviate([]byte("hello")), "hello"},
		{abbreviate([]byte(strings.Repeat("x", 59) + "é" + "tail")), strings.Repeat("x", 59) + "…"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
