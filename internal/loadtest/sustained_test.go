package loadtest

import (
	"testing"
	"time"
)

// TestSustainedSmall: three node processes writing at once each end up
// holding every record of the others, and the run measures what it says.
func TestSustainedSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs OS processes")
	}
	const nodes, rate = 3, 40
	res, err := Sustained(SustainedOptions{Scenario: "load", Nodes: nodes, Rate: rate, Duration: 3 * time.Second,
		ValueSize: 100, Sample: 4, Settle: 2 * time.Second, Drain: time.Minute, Dir: t.TempDir(), Args: []string{"-test.run=^$"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	checks := []struct {
		what string
		ok   bool
	}{
		{"every record held by every node", res.Missing == 0 && res.DrainS >= 0},
		{"most of the records written", res.Records >= nodes*rate*3*8/10},
		{"no write failed", res.SetErrors == 0},
		{"every sample timed", res.Samples > 0 && res.Unobserved == 0},
		{"latencies ordered", 0 < res.P50Ms && res.P50Ms <= res.P99Ms && res.P99Ms <= res.MaxMs},
		{"traffic counted", res.BytesPerDelivery > 0 && res.EncodedB > 100},
		{"memory read", res.PeakRSSMaxMB > 0},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: %+v", c.what, res)
		}
	}
}

// TestRecordWireSize: a 100-byte value with a 10-byte key costs its bytes
// plus a few of framing, whatever the version's size.
func TestRecordWireSize(t *testing.T) {
	for _, v := range []uint64{1, 300, 70000} {
		got := RecordWireSize("r000000001", 100, v)
		if got < 110 || got > 125 {
			t.Errorf("version %d: %d bytes", v, got)
		}
	}
}
