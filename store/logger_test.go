package store

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"

	"github.com/rs/zerolog"
)

func TestBadgerLoggerLevels(t *testing.T) {
	tests := []struct {
		name  string
		log   func(badgerLogger)
		level string
	}{
		{"Errorf", func(l badgerLogger) { l.Errorf("e %d\n", 1) }, "error"},
		{"Warningf", func(l badgerLogger) { l.Warningf("w %d\n", 1) }, "warn"},
		{"Infof", func(l badgerLogger) { l.Infof("i %d\n", 1) }, "debug"},
		{"Debugf", func(l badgerLogger) { l.Debugf("d %d\n", 1) }, "debug"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(badgerLogger{l: zerolog.New(&buf)})
			var line struct {
				Level   string `json:"level"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("log output %q: %v", buf.String(), err)
			}
			if line.Level != tt.level || line.Message[len(line.Message)-1] != '1' {
				t.Fatalf("logged %+v, want level %q and the message without its newline", line, tt.level)
			}
		})
	}
}

// lockedBuffer is a log sink for several goroutines: Badger logs from its
// own (the write loop, compactors) while Open and Close run.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Badger's own log lines reach the configured logger.
func TestOpenLogsThroughZerolog(t *testing.T) {
	var buf lockedBuffer
	s, err := Open(Options{Dir: t.TempDir(), Logger: zerolog.New(&buf).Level(zerolog.DebugLevel)})
	if err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)
	if out := buf.String(); !bytes.Contains([]byte(out), []byte(`"component":"badger"`)) {
		t.Fatalf("no Badger log line in %q", out)
	}
}
