package health

import (
	"math"
	"slices"
	"testing"
	"time"
)

// FuzzDetector drives random heartbeat/check/reset/remove sequences, with a
// clock that mostly advances but sometimes steps back, and checks the
// invariants callers rely on: phi finite and non-negative, states valid,
// reports sorted and consistent with State.
func FuzzDetector(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 1, 200, 2, 0, 3, 1})
	f.Add([]byte{0, 0, 10, 255, 1, 255, 1, 255, 4, 2, 0, 3})
	f.Add([]byte{8, 3, 0, 0, 0, 0, 1, 1, 1, 1, 5, 7, 2, 2, 2, 2})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) < 3 {
			return
		}
		cfg := DefaultConfig()
		cfg.Threshold = float64(ops[0]%16) + 0.5
		cfg.WindowSize = int(ops[1]%8) + 1
		cfg.AcceptablePause = time.Duration(ops[2]%4) * 500 * time.Millisecond
		cfg.DeadAfter = time.Duration(ops[2]%32+1) * time.Second
		d, err := NewDetector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{"a", "b", "c", "d"}
		now := epoch
		for i := 3; i+1 < len(ops); i += 2 {
			op, arg := ops[i], ops[i+1]
			id := ids[arg%4]
			// Steps of up to ~64s, and occasionally backwards.
			step := time.Duration(arg) * 250 * time.Millisecond
			if op&0x80 != 0 && op&0x40 != 0 {
				step = -step / 4
			}
			now = now.Add(step)
			switch op % 5 {
			case 0, 1:
				d.Heartbeat(id, now)
			case 2:
				r := d.Check(now)
				checkReport(t, d, r)
			case 3:
				d.Reset(id, now)
			case 4:
				if op%7 == 0 {
					d.Remove(id)
				}
			}
			for _, id := range ids {
				p := d.Phi(id, now)
				if math.IsNaN(p) || math.IsInf(p, 0) || p < 0 {
					t.Fatalf("phi(%s) = %v", id, p)
				}
				if s, ok := d.State(id); ok && s > Dead {
					t.Fatalf("state(%s) = %v", id, s)
				}
			}
		}
	})
}

func checkReport(t *testing.T, d *Detector, r Report) {
	t.Helper()
	lists := []struct {
		ids  []string
		want State
	}{{r.Discovered, Alive}, {r.Recovered, Alive}, {r.Suspended, Suspended}, {r.Dead, Dead}}
	seen := map[string]bool{}
	for _, l := range lists {
		if !slices.IsSorted(l.ids) {
			t.Fatalf("unsorted report list %v", l.ids)
		}
		for _, id := range l.ids {
			if seen[id] {
				t.Fatalf("%s reported twice in one Check: %+v", id, r)
			}
			seen[id] = true
			if s, ok := d.State(id); !ok || s != l.want {
				t.Fatalf("%s reported as %v but state is %v", id, l.want, s)
			}
		}
	}
}
