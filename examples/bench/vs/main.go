// Command vs runs memberlist and Leviathan with the same number of nodes
// on this machine, one after the other, and prints one row for each: the
// join, a write (Leviathan) or broadcast (memberlist) reaching every node,
// a crash being detected, false suspicions, and idle traffic.
//
//	cd examples/bench/vs && go run . -nodes 100
//
// Each system runs all its nodes in one process, on 127.0.0.1, with its
// defaults. The Leviathan row is the bench command's cluster scenario
// (go run ./examples/bench -scenario cluster -json, started from the
// repository root); the memberlist row is measured here the same way. This
// is a module of its own so that the library never depends on memberlist.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/memberlist"
)

// Row is one system's run.
type Row struct {
	System string  `json:"system"`
	Nodes  int     `json:"nodes"`
	Rounds string  `json:"rounds"`
	JoinS  float64 `json:"join_s"` // until every node sees 99% of the others alive
	// Write or broadcast to all: from the call returning on one node to the
	// last other node holding it.
	Writes    int     `json:"writes"`
	Missed    int     `json:"writes_not_reaching_all"`
	WriteP50S float64 `json:"write_all_s_p50"`
	WriteMaxS float64 `json:"write_all_s_max"`
	// Detected is what the crash columns time: memberlist's "dead" (the
	// node leaves the member list), Leviathan's "suspected" (the node is
	// suspended).
	Detected   string  `json:"detected"`
	DetectMinS float64 `json:"detect_first_s"`
	DetectAllS float64 `json:"detect_all_s"` // -1 if some node did not in time
	// False suspicions and deaths of running nodes, per observer, from the
	// first boot to the crash; NodeMin is that span in node-minutes.
	// FalseDeaths is -1 where it is not measured.
	FalseSusp   int     `json:"false_suspicions"`
	FalseDeaths int     `json:"false_deaths"`
	NodeMin     float64 `json:"node_min"`
	IdleBytes   float64 `json:"idle_bytes_per_node_per_s"` // sent
	IdleUDP     float64 `json:"idle_udp_bytes_per_node_per_s,omitempty"`
	IdleTCP     float64 `json:"idle_tcp_bytes_per_node_per_s,omitempty"`
	IdleS       float64 `json:"idle_window_s"`
	WallS       float64 `json:"wall_s"`
	// Load is the machine's 1-minute load average when the row started and
	// ended: other work on the cores shows up in every column.
	Load  [2]float64 `json:"load_avg_1m"`
	Error string     `json:"error,omitempty"` // the run failed; nothing else is measured
}

type options struct {
	nodes   int
	seed    int64
	idle    time.Duration
	probe   time.Duration
	systems string
	repo    string
	json    bool
	log     bool
}

func (o options) logOut() io.Writer {
	if o.log {
		return os.Stderr
	}
	return io.Discard
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "vs:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("vs", flag.ContinueOnError)
	fs.IntVar(&o.nodes, "nodes", 100, "nodes of each system")
	fs.Int64Var(&o.seed, "seed", 1, "random seed: which nodes write and which one crashes")
	fs.DurationVar(&o.idle, "idle", 0, "memberlist: idle window (default: its push-pull period at -nodes, 90s at 65-128 nodes; a shorter window sees a random share of the push-pulls)")
	fs.DurationVar(&o.probe, "memberlist-probe", 0, "memberlist: probe interval, with a probe timeout of half of it (default: the LAN defaults, 1s and 500ms)")
	fs.StringVar(&o.systems, "systems", "memberlist,leviathan", "which rows to run, comma-separated")
	fs.StringVar(&o.repo, "repo", "../../..", "leviathan: the repository root, where the bench command is run")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per row instead of a table")
	fs.BoolVar(&o.log, "log", false, "the nodes' logs on stderr")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if o.nodes < 2 {
		return fmt.Errorf("-nodes: need at least 2, got %d", o.nodes)
	}
	rows, err := runSystems(o)
	if err != nil {
		return err
	}
	print := printTable
	if o.json {
		print = printJSON
	}
	if err := print(out, rows); err != nil {
		return err
	}
	for _, r := range rows {
		if r.Error != "" {
			return errors.New("a system's run failed")
		}
	}
	return nil
}

// runSystems runs each system in turn; one that fails gives a row with its
// error, and the others still run.
func runSystems(o options) ([]Row, error) {
	names := strings.Split(o.systems, ",")
	for i, s := range names {
		names[i] = strings.TrimSpace(s)
		if names[i] != "memberlist" && names[i] != "leviathan" {
			return nil, fmt.Errorf("-systems: unknown system %q (want memberlist or leviathan)", s)
		}
	}
	var rows []Row
	for _, s := range names {
		load0 := loadAvg()
		run := memberlistRow
		if s == "leviathan" {
			run = func(o options) (Row, error) { return leviathanRow(o.repo, o.nodes, o.seed, o.logOut()) }
		}
		r, err := run(o)
		if err != nil {
			r = Row{System: s, Nodes: o.nodes, Error: err.Error()}
		}
		r.Load = [2]float64{load0, loadAvg()}
		rows = append(rows, r)
	}
	return rows, nil
}

func memberlistRow(o options) (Row, error) {
	counter, err := countSuspicions()
	if err != nil {
		return Row{}, fmt.Errorf("memberlist: %w", err)
	}
	p := mlParams{Nodes: o.nodes, Seed: o.seed, Writes: leviathanWrites,
		Settle: idleSettle, Idle: o.idle, Suspicions: counter, Log: o.logOut()}
	if o.probe > 0 {
		p.Tune = func(c *memberlist.Config) { c.ProbeInterval, c.ProbeTimeout = o.probe, o.probe/2 }
	}
	r, err := runMemberlist(p)
	if err != nil {
		return r, fmt.Errorf("memberlist: %w", err)
	}
	return r, nil
}

func printJSON(out io.Writer, rows []Row) error {
	enc := json.NewEncoder(out)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("encode row: %w", err)
		}
	}
	return nil
}

func printTable(out io.Writer, rows []Row) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "system\tN\trounds\tjoin\twrite to all p50 / max\tcrash: first / all\tfalse suspicions / deaths\tidle B/s per node\twall\tload")
	for _, r := range rows {
		if r.Error != "" {
			fmt.Fprintf(w, "%s\t%d\tfailed, below\t\t\t\t\t\t\t%.1f → %.1f\n", r.System, r.Nodes, r.Load[0], r.Load[1])
			continue
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%.2f s\t%s\t%s %s\t%s\t%s\t%.0f s\t%.1f → %.1f\n",
			r.System, r.Nodes, r.Rounds, r.JoinS, writeCell(r), r.Detected,
			pair(r.DetectMinS, r.DetectAllS), falseCell(r), idleCell(r), r.WallS, r.Load[0], r.Load[1])
	}
	if err := w.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(out, "\nwrite to all: over each row's writes, from the write or broadcast until the last other node has it.\n"+
		"crash: one node closed without a leave; until the first and the last other node mark it dead (memberlist) or suspend it (leviathan).\n"+
		"false suspicions / deaths: of running nodes, summed over observers, from the first boot to the crash; – where not measured.\n"+
		"idle: bytes sent per node per second over the window shown, from 10 s after the join.\n"+
		"load: the machine's 1-minute load average when the row started and ended.")
	for _, r := range rows {
		if r.Error != "" && err == nil {
			_, err = fmt.Fprintf(out, "%s failed: %s\n", r.System, r.Error)
		}
	}
	return err
}

func writeCell(r Row) string {
	s := pair(r.WriteP50S, r.WriteMaxS)
	if r.Missed > 0 {
		s += fmt.Sprintf(" (%d of %d not all)", r.Missed, r.Writes)
	}
	return s
}

func pair(a, b float64) string {
	cell := func(x float64) string {
		if x < 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f", x)
	}
	return cell(a) + " / " + cell(b) + " s"
}

func falseCell(r Row) string {
	deaths := "–"
	if r.FalseDeaths >= 0 {
		deaths = fmt.Sprint(r.FalseDeaths)
	}
	return fmt.Sprintf("%d / %s in %.0f node-min", r.FalseSusp, deaths, r.NodeMin)
}

func idleCell(r Row) string {
	s := fmt.Sprintf("%.0f over %.0f s", r.IdleBytes, r.IdleS)
	if r.IdleUDP > 0 || r.IdleTCP > 0 {
		s += fmt.Sprintf(" (UDP %.0f, TCP %.0f)", r.IdleUDP, r.IdleTCP)
	}
	return s
}

// loadAvg is the 1-minute load average, or -1 where /proc/loadavg is not.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f, _, _ := strings.Cut(string(b), " ")
	v, err := strconv.ParseFloat(f, 64)
	if err != nil {
		return -1
	}
	return v
}
