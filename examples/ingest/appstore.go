package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/leviathan-gossip/leviathan/node"
)

// batch is one line of the application's storage: a page of one peer's
// changes and the cursor after them, or a reset of that peer.
type batch struct {
	Peer    string      `json:"peer"`
	Reset   bool        `json:"reset,omitempty"`
	Changes []change    `json:"changes,omitempty"`
	Next    node.Cursor `json:"next"`
}

type change struct {
	Key     string `json:"key"`
	Value   []byte `json:"value,omitempty"`
	Version uint64 `json:"version"`
	Deleted bool   `json:"deleted,omitempty"`
}

// appStore is the application's own storage: an append-only JSON-lines
// file of batches, replayed into memory when opened. One line is written
// with one write and one fsync, so a batch and its cursor survive together
// or not at all.
type appStore struct {
	f       *os.File
	slow    time.Duration
	data    map[string]map[string]change // peer -> key -> latest
	cursors map[string]node.Cursor
}

func openAppStore(path string, slow time.Duration) (*appStore, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	s := &appStore{f: f, slow: slow, data: map[string]map[string]change{}, cursors: map[string]node.Cursor{}}
	good, err := s.replay(f)
	if err == nil {
		// Cut a torn last line (a crash mid-write) so the next append
		// starts on a line of its own.
		err = f.Truncate(good)
	}
	if err == nil {
		_, err = f.Seek(good, io.SeekStart)
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("app storage %s: %w", path, err)
	}
	return s, nil
}

// readAppStore loads the storage at path read-only, as another process
// may be appending to it: a torn last line is skipped, not cut.
func readAppStore(path string) (*appStore, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := &appStore{data: map[string]map[string]change{}, cursors: map[string]node.Cursor{}}
	if _, err := s.replay(f); err != nil {
		return nil, fmt.Errorf("app storage %s: %w", path, err)
	}
	return s, nil
}

// replay applies every complete line and returns the offset after the
// last one.
func (s *appStore) replay(r io.Reader) (int64, error) {
	br := bufio.NewReader(r)
	var good int64
	for {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return good, nil // a partial last line, if any, is dropped
		}
		if err != nil {
			return 0, err
		}
		var b batch
		if json.Unmarshal(bytes.TrimSpace(line), &b) != nil {
			return good, nil
		}
		s.apply(b)
		good += int64(len(line))
	}
}

// Apply makes b durable, then applies it in memory.
func (s *appStore) Apply(b batch) error {
	line, err := json.Marshal(b)
	if err != nil {
		return err
	}
	if _, err := s.f.Write(append(line, '\n')); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		return err
	}
	s.apply(b)
	time.Sleep(s.slow) // a slower application, as real ones are
	return nil
}

func (s *appStore) apply(b batch) {
	if b.Reset {
		delete(s.data, b.Peer)
		delete(s.cursors, b.Peer)
		return
	}
	m := s.data[b.Peer]
	if m == nil {
		m = map[string]change{}
		s.data[b.Peer] = m
	}
	for _, c := range b.Changes {
		if c.Deleted {
			delete(m, c.Key)
		} else {
			m[c.Key] = c
		}
	}
	s.cursors[b.Peer] = b.Next
}

// Len counts the keys held.
func (s *appStore) Len() int {
	k := 0
	for _, m := range s.data {
		k += len(m)
	}
	return k
}

// compare reports the first difference between what is held of the
// producer and the producer's own keys ("" when they agree).
func (s *appStore) compare(ctx context.Context, p *node.Node) string {
	held := s.data[p.ID()]
	keys, err := p.Keys(ctx, "")
	if err != nil {
		return "reading the producer: " + err.Error()
	}
	for _, k := range keys {
		want, _ := p.Get(ctx, "", k)
		got, ok := held[k]
		if !ok || !bytes.Equal(got.Value, want.Value) {
			return fmt.Sprintf("%s = %q (held: %v), want %q", k, got.Value, ok, want.Value)
		}
	}
	if len(held) != len(keys) {
		return fmt.Sprintf("%d keys held, the producer has %d", len(held), len(keys))
	}
	return ""
}

func (s *appStore) Close() error { return s.f.Close() }
