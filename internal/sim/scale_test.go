package sim

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// TestScaleProgress is a manual probe: SIM_N=1000 go test -run ScaleProgress -v.
func TestScaleProgress(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SIM_N"))
	if n == 0 {
		t.Skip("set SIM_N")
	}
	c, err := New(Config{Nodes: n, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.Prejoin()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 6 {
		c.RunFor(5 * time.Second)
		t.Logf("t=%v wall=%v alive=%v bytes=%d", c.Now(), time.Since(start), c.allAlive(), c.Traffic().BytesOut)
	}
}
