package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseCluster(t *testing.T) {
	realLine := `{"mode":"real","nodes":100,"interval_ms":1000,"join_s":3.75,"writes":8,"write_all_s_p50":0.65,"write_all_s_max":1.19,"detect_first_s":4.5,"detect_all_s":5.5,"false_suspicions":2,"node_min":56.4,"idle_bytes_per_node_per_s":854,"push_bytes_per_record":141,"wall_s":60}`
	simLine := strings.Replace(realLine, `"real"`, `"sim"`, 1)
	tests := []struct {
		name    string
		out     string
		wantErr string
	}{
		{"real then sim", realLine + "\n" + simLine + "\n", ""},
		{"sim then real", simLine + "\n" + realLine + "\n", ""},
		{"no real row", simLine + "\n", "no real-cluster row"},
		{"not JSON", "bench: 100 nodes did not join\n", "decode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseCluster([]byte(tc.out))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Row{System: "leviathan", Nodes: 100, Rounds: "1s", JoinS: 3.75, Writes: 8,
				WriteP50S: 0.65, WriteMaxS: 1.19, Detected: "suspected", DetectMinS: 4.5, DetectAllS: 5.5,
				FalseSusp: 2, FalseDeaths: -1, NodeMin: 56.4, IdleBytes: 854, IdleS: 10, WallS: 60}
			if r != want {
				t.Fatalf("row = %+v\nwant %+v", r, want)
			}
		})
	}
}

func TestCheckRepoWantsLeviathanRoot(t *testing.T) {
	if err := checkRepo("../../.."); err != nil {
		t.Fatalf("the repository root: %v", err)
	}
	if err := checkRepo("."); err == nil {
		t.Fatal("this module's directory passed as Leviathan's root")
	}
}

// TestMemberlistSmallCluster runs the whole memberlist measurement on a
// few nodes with a short idle window.
func TestMemberlistSmallCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets and a suspicion timeout of several seconds")
	}
	counter, err := countSuspicions()
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	r, err := runMemberlist(mlParams{Nodes: n, Writes: 3, Seed: 1, Idle: time.Second,
		Suspicions: counter, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if r.Nodes != n || r.JoinS <= 0 || r.JoinS > mlWait.Seconds() {
		t.Errorf("nodes %d, join %v s", r.Nodes, r.JoinS)
	}
	if r.Missed != 0 || r.WriteP50S < 0 || r.WriteMaxS < r.WriteP50S {
		t.Errorf("broadcasts: %d of %d missed, p50 %v s, max %v s", r.Missed, r.Writes, r.WriteP50S, r.WriteMaxS)
	}
	if r.DetectMinS <= 0 || r.DetectAllS < r.DetectMinS {
		t.Errorf("crash detected first %v s, by all %v s", r.DetectMinS, r.DetectAllS)
	}
	// Some node suspected the crashed one before marking it dead.
	if counter.Load() <= int64(r.FalseSusp) {
		t.Errorf("%d suspicions counted in all, %d of them before the crash", counter.Load(), r.FalseSusp)
	}
	if r.IdleUDP <= 0 {
		t.Errorf("idle UDP %v B/s per node: probes were not counted", r.IdleUDP)
	}
}

func TestLastLines(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, ""},
		{"a\n", 3, "a\n"},
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc", 3, "a\nb\nc\n"},
		{"a\nb\nc\nd\n", 1, "d\n"},
	}
	for _, tc := range tests {
		if got := string(lastLines([]byte(tc.in), tc.n)); got != tc.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
