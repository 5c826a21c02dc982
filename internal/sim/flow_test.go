package sim

import (
	"errors"
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

func TestFlowAIMD(t *testing.T) {
	cfg := FlowConfig{Initial: 100, Min: 1, Max: 200, Step: 10, Factor: 0.5, Patience: 2, Capacity: 50, Burst: 10}
	f, err := NewFlow(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tick := func(lag uint64) bool { f.ObserveLag(lag); return f.Tick() }
	// One overflow is noise; the second in a row halves the rate.
	if tick(60) || f.Rate() != 100 {
		t.Fatalf("first overflow changed the rate to %v", f.Rate())
	}
	if !tick(60) || f.Rate() != 50 {
		t.Fatalf("rate after two overflows = %v, want 50", f.Rate())
	}
	// A calm period in between resets the count.
	tick(60)
	tick(10)
	if tick(60) || f.Rate() != 50 {
		t.Fatalf("interrupted overflows changed the rate to %v", f.Rate())
	}
	// Silence is not calm.
	for range 5 {
		if f.Tick() {
			t.Fatal("a period with no observation changed the rate")
		}
	}
	tick(0)
	if !tick(0) || f.Rate() != 60 {
		t.Fatalf("rate after two calm periods = %v, want 60", f.Rate())
	}
	for range 100 {
		tick(1000)
	}
	if f.Rate() != cfg.Min {
		t.Fatalf("rate floor = %v, want %v", f.Rate(), cfg.Min)
	}
	for range 100 {
		tick(0)
	}
	if f.Rate() != cfg.Max {
		t.Fatalf("rate ceiling = %v, want %v", f.Rate(), cfg.Max)
	}
}

func TestFlowAllowIsATokenBucket(t *testing.T) {
	f, err := NewFlow(FlowConfig{Initial: 10, Min: 1, Max: 10, Step: 1, Factor: 0.5, Patience: 1, Capacity: 1, Burst: 5})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(0, 0)
	n := 0
	for f.Allow(t0, 1) {
		n++
	}
	if n != 5 {
		t.Fatalf("burst allowed %d writes, want 5", n)
	}
	if !f.Allow(t0.Add(100*time.Millisecond), 1) || f.Allow(t0.Add(100*time.Millisecond), 1) {
		t.Fatal("100ms at 10/s should allow exactly one more write")
	}
	// A clock going backwards allows nothing extra.
	if f.Allow(t0, 1) {
		t.Fatal("time going back allowed a write")
	}
}

func TestFlowConfigValidation(t *testing.T) {
	good := DefaultFlowConfig(100)
	for name, mod := range map[string]func(*FlowConfig){
		"zero min":      func(c *FlowConfig) { c.Min = 0 },
		"initial > max": func(c *FlowConfig) { c.Initial = c.Max + 1 },
		"factor 1":      func(c *FlowConfig) { c.Factor = 1 },
		"no step":       func(c *FlowConfig) { c.Step = 0 },
		"no patience":   func(c *FlowConfig) { c.Patience = 0 },
		"no capacity":   func(c *FlowConfig) { c.Capacity = 0 },
		"burst below 1": func(c *FlowConfig) { c.Burst = 0.5 },
	} {
		c := good
		mod(&c)
		if _, err := NewFlow(c); !errors.Is(err, lsync.ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want lsync.ErrInvalidConfig", name, err)
		}
	}
	if _, err := NewFlow(good); err != nil {
		t.Fatal(err)
	}
}
