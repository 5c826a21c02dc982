package versioner

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a scripted clock that is safe to read from many goroutines.
type fakeClock struct{ ms atomic.Int64 }

func (c *fakeClock) now() time.Time { return time.UnixMilli(c.ms.Load()) }

// jitterClock advances on every read but wobbles back and forth by a few
// milliseconds, like a clock being slewed by NTP.
type jitterClock struct{ reads atomic.Int64 }

func (c *jitterClock) now() time.Time {
	n := c.reads.Add(1)
	return time.UnixMilli(1_700_000_000_000 + n/4 + (n%7-3)*2)
}

func implementations() map[string]func() Versioner {
	return map[string]func() Versioner{
		"counter": func() Versioner { return NewCounter() },
		"hlc": func() Versioner {
			c := &fakeClock{}
			c.ms.Store(1_700_000_000_000)
			return NewHLC(c.now)
		},
		"hlc jittery clock": func() Versioner { return NewHLC((&jitterClock{}).now) },
		"hlc frozen clock":  func() Versioner { return NewHLC(func() time.Time { return time.UnixMilli(5) }) },
	}
}

func TestStrictlyIncreasingUnderConcurrency(t *testing.T) {
	const goroutines, perG = 16, 2000
	for name, mk := range implementations() {
		t.Run(name, func(t *testing.T) {
			v := mk()
			v.Restore(1000)
			results := make([][]uint64, goroutines)
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					out := make([]uint64, 0, perG)
					for i := range perG {
						if i%100 == 0 {
							v.Restore(500) // a stale Restore lowers nothing
						}
						out = append(out, v.Next())
					}
					results[g] = out
				}()
			}
			wg.Wait()
			var all []uint64
			for _, out := range results {
				// Each goroutine sees its own versions increase...
				for i := 1; i < len(out); i++ {
					if out[i] <= out[i-1] {
						t.Fatalf("not increasing within a goroutine: %d then %d", out[i-1], out[i])
					}
				}
				all = append(all, out...)
			}
			// ...and no version is handed out twice or at/below Restore.
			slices.Sort(all)
			if len(slices.Compact(all)) != goroutines*perG {
				t.Fatal("duplicate versions")
			}
			if all[0] <= 1000 {
				t.Fatalf("version %d at or below restored max", all[0])
			}
		})
	}
}

func TestRestore(t *testing.T) {
	for name, mk := range implementations() {
		t.Run(name, func(t *testing.T) {
			tests := []struct {
				restore []uint64
				above   uint64
			}{
				{nil, 0},
				{[]uint64{41}, 41},
				{[]uint64{1 << 60}, 1 << 60}, // above any clock reading
				{[]uint64{1 << 60, 7}, 1 << 60},
			}
			for _, tt := range tests {
				v := mk()
				for _, r := range tt.restore {
					v.Restore(r)
				}
				prev := tt.above
				for range 100 {
					n := v.Next()
					if n <= prev {
						t.Fatalf("restore %v: Next = %d, want > %d", tt.restore, n, prev)
					}
					prev = n
				}
				v.Restore(prev + 1000) // later Restore raises too
				if n := v.Next(); n <= prev+1000 {
					t.Fatalf("Next = %d after Restore(%d)", n, prev+1000)
				}
			}
		})
	}
}

func TestCounterFromOne(t *testing.T) {
	var c Counter // zero value is usable
	if a, b := c.Next(), c.Next(); a != 1 || b != 2 {
		t.Fatalf("got %d, %d", a, b)
	}
}

func TestExhaustionPanics(t *testing.T) {
	for name, mk := range implementations() {
		t.Run(name, func(t *testing.T) {
			v := mk()
			v.Restore(math.MaxUint64 - 1)
			if n := v.Next(); n != math.MaxUint64 {
				t.Fatalf("Next = %d", n)
			}
			defer func() {
				if recover() == nil {
					t.Fatal("Next wrapped around instead of panicking")
				}
			}()
			v.Next()
		})
	}
}

func TestHLCFollowsClock(t *testing.T) {
	c := &fakeClock{}
	h := NewHLC(c.now)
	steps := []struct {
		ms       int64 // clock reading before Next
		physical int64
		logical  uint16
	}{
		{1000, 1000, 0},
		{1000, 1000, 1}, // clock stands still: logical carries
		{1000, 1000, 2},
		{1005, 1005, 0}, // clock advances: logical resets
		{900, 1005, 1},  // clock steps back: still increasing
		{1004, 1005, 2},
		{1006, 1006, 0}, // clock caught up
		{-50, 1006, 1},  // before 1970
	}
	prev := uint64(0)
	for i, s := range steps {
		c.ms.Store(s.ms)
		v := h.Next()
		if v <= prev {
			t.Fatalf("step %d: %d not above %d", i, v, prev)
		}
		prev = v
		if got := h.Physical(v).UnixMilli(); got != s.physical {
			t.Errorf("step %d: physical %d, want %d", i, got, s.physical)
		}
		if got := h.Logical(v); got != s.logical {
			t.Errorf("step %d: logical %d, want %d", i, got, s.logical)
		}
	}
}

func TestHLCDecode(t *testing.T) {
	want := time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)
	h := NewHLC(func() time.Time { return want.Add(999 * time.Microsecond) }) // sub-ms truncated
	v := h.Next()
	if v != uint64(want.UnixMilli())<<16 {
		t.Fatalf("version %#x, want %#x", v, uint64(want.UnixMilli())<<16)
	}
	if got := h.Physical(v); !got.Equal(want) {
		t.Fatalf("Physical = %v, want %v", got, want)
	}
	var nilHLC *HLC // decoding needs no clock
	if got := nilHLC.Physical(v | 0xffff); !got.Equal(want) || nilHLC.Logical(v|0xffff) != 0xffff {
		t.Fatalf("Physical = %v", got)
	}
}

// 65536 versions within one millisecond overflow the logical bits; the carry
// goes into the physical part, never backwards.
func TestHLCLogicalOverflowCarries(t *testing.T) {
	const ms = 1_700_000_000_000
	h := NewHLC(func() time.Time { return time.UnixMilli(ms) })
	prev := uint64(0)
	for i := 0; i < 3*(1<<LogicalBits)+10; i++ {
		v := h.Next()
		if v <= prev {
			t.Fatalf("version %d: %#x not above %#x", i, v, prev)
		}
		prev = v
	}
	if got := h.Physical(prev).UnixMilli(); got != ms+3 {
		t.Fatalf("physical after 3 overflows = %d, want %d", got, ms+3)
	}
	if got := h.Logical(prev); got != 9 {
		t.Fatalf("logical = %d, want 9", got)
	}
	// When the clock catches up past the carried physical part, versions
	// follow the clock again.
	h.now = func() time.Time { return time.UnixMilli(ms + 10) }
	if v := h.Next(); v != uint64(ms+10)<<LogicalBits {
		t.Fatalf("version %#x after clock caught up", v)
	}
}

func TestHLCWitness(t *testing.T) {
	c := &fakeClock{}
	c.ms.Store(1000)
	h := NewHLC(c.now)
	local := h.Next()
	remote := uint64(5000)<<LogicalBits | 7 // a peer 4s ahead
	h.Witness(remote)
	h.Witness(local) // an older version changes nothing
	v := h.Next()
	if v != remote+1 {
		t.Fatalf("Next after Witness = %#x, want %#x", v, remote+1)
	}
}

func TestHLCClampsOutOfRangeClocks(t *testing.T) {
	tests := []struct {
		name string
		t    time.Time
		want uint64
	}{
		{"far future", time.Unix(1<<60, 0), maxPhysical << LogicalBits},
		{"just past the range", time.UnixMilli(maxPhysical + 1), maxPhysical << LogicalBits},
		{"last representable ms", time.UnixMilli(maxPhysical), maxPhysical << LogicalBits},
		{"far past", time.Unix(-1<<60, 0), 1},
		{"zero time", time.Time{}, 1},
		{"epoch", time.Unix(0, 0), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHLC(func() time.Time { return tt.t })
			a, b := h.Next(), h.Next()
			if a != tt.want || b != a+1 {
				t.Fatalf("got %#x, %#x, want %#x then +1", a, b, tt.want)
			}
		})
	}
}

func TestNewHLCNilClockPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	NewHLC(nil)
}
