package health

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDetector(DefaultConfig()); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error; "" means valid
	}{
		{"threshold negative", func(c *Config) { c.Threshold = -1 }, "health: threshold must be > 0 and finite, got -1"},
		{"threshold zero", func(c *Config) { c.Threshold = 0 }, "threshold must be > 0"},
		{"threshold NaN", func(c *Config) { c.Threshold = math.NaN() }, "threshold must be > 0"},
		{"threshold Inf", func(c *Config) { c.Threshold = math.Inf(1) }, "threshold must be > 0"},
		{"window zero", func(c *Config) { c.WindowSize = 0 }, "health: window size must be >= 1, got 0"},
		{"window one", func(c *Config) { c.WindowSize = 1 }, ""},
		{"initial zero", func(c *Config) { c.InitialInterval = 0 }, "health: initial interval must be > 0, got 0s"},
		{"max negative", func(c *Config) { c.MaxInterval = -time.Second }, "health: max interval must be > 0, got -1s"},
		{"pause negative", func(c *Config) { c.AcceptablePause = -time.Millisecond }, "health: acceptable pause must be >= 0, got -1ms"},
		{"pause positive", func(c *Config) { c.AcceptablePause = time.Second }, ""},
		{"dead zero", func(c *Config) { c.DeadAfter = 0 }, "health: dead after must be > 0, got 0s"},
		{"guard negative", func(c *Config) { c.PauseGuard = -1 }, "health: pause guard must be >= 0 (0 disables it), got -1ns"},
		{"guard disabled", func(c *Config) { c.PauseGuard = 0 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			_, nerr := NewDetector(c)
			if tt.want == "" {
				if err != nil || nerr != nil {
					t.Fatalf("want valid, got %v / %v", err, nerr)
				}
				return
			}
			if err == nil || nerr == nil {
				t.Fatalf("want error %q, got %v / %v", tt.want, err, nerr)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("%v does not wrap ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}
