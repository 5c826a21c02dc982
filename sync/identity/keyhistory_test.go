package identity

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyHistoryRotate(t *testing.T) {
	a, b, c, d := testKey(t, 1).Public(), testKey(t, 2).Public(), testKey(t, 3).Public(), testKey(t, 4).Public()
	r := func(pub []byte, gen, through uint64) RetiredKey {
		return RetiredKey{PublicKey: pub, Generation: gen, Through: through}
	}
	cases := []struct {
		name string
		h    KeyHistory
		cur  []byte
		want KeyHistory
	}{
		{"first start", KeyHistory{}, a, KeyHistory{Current: a}},
		{"same key", KeyHistory{Current: a, Retired: []RetiredKey{r(b, 1, 5)}}, a, KeyHistory{Current: a, Retired: []RetiredKey{r(b, 1, 5)}}},
		{"rotated", KeyHistory{Current: a}, b, KeyHistory{Current: b, Retired: []RetiredKey{r(a, 7, 90)}, Rekey: true}},
		{"same key, stored proofs not signed again yet", KeyHistory{Current: b, Retired: []RetiredKey{r(a, 7, 90)}, Rekey: true}, b,
			KeyHistory{Current: b, Retired: []RetiredKey{r(a, 7, 90)}, Rekey: true}},
		{"rotated twice", KeyHistory{Current: b, Retired: []RetiredKey{r(a, 7, 50)}}, c,
			KeyHistory{Current: c, Retired: []RetiredKey{r(b, 7, 90), r(a, 7, 50)}, Rekey: true}},
		{"the oldest dropped", KeyHistory{Current: c, Retired: []RetiredKey{r(b, 7, 60), r(a, 7, 50)}}, d,
			KeyHistory{Current: d, Retired: []RetiredKey{r(c, 7, 90), r(b, 7, 60)}, Rekey: true}},
		{"back to a retired key", KeyHistory{Current: b, Retired: []RetiredKey{r(a, 7, 50)}}, a,
			KeyHistory{Current: a, Retired: []RetiredKey{r(b, 7, 90)}, Rekey: true}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.h.Rotate(tt.cur, 7, 90)
			if !got.Equal(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			path := filepath.Join(t.TempDir(), "signing_keys")
			if err := got.Save(path); err != nil {
				t.Fatal(err)
			}
			back, err := LoadKeyHistory(path)
			if err != nil {
				t.Fatal(err)
			}
			if !back.Equal(got) {
				t.Fatalf("saved %+v, loaded %+v", got, back)
			}
		})
	}
}

func TestLoadKeyHistory(t *testing.T) {
	dir := t.TempDir()
	if h, err := LoadKeyHistory(filepath.Join(dir, "none")); err != nil || h.Current != nil {
		t.Fatalf("missing file: %+v, %v", h, err)
	}
	a, b := FormatPublicKey(testKey(t, 1).Public()), FormatPublicKey(testKey(t, 2).Public())
	for _, tt := range []struct{ name, text, has string }{
		{"two keys", "key " + a + "\nkey " + b + "\n", "line 2"},
		{"retired without a key", "retired " + a + " 1 2\n", "without a key"},
		{"rekey without a key", "rekey\n", "without a key"},
		{"rekey twice", "key " + a + "\nrekey\nrekey\n", "line 3"},
		{"retired is the key", "key " + a + "\nretired " + a + " 1 2\n", "own key"},
		{"three retired", "key " + a + strings.Repeat("\nretired "+b+" 1 2", 3), "line 4"},
		{"bad version", "key " + a + "\nretired " + b + " 1 -2\n", "unsigned integers"},
		{"bad key", "key AAAA\n", "line 1"},
		{"too long", "#" + strings.Repeat("x", maxKeyHistoryBytes), "over"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, []byte(tt.text), 0o644); err != nil {
				t.Fatal(err)
			}
			h, err := LoadKeyHistory(path)
			if !errors.Is(err, ErrKeyHistory) || !strings.Contains(err.Error(), tt.has) {
				t.Fatalf("loaded %+v: %v, want %q", h, err, tt.has)
			}
		})
	}
}
