package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	leviathanModule = "github.com/leviathan-gossip/leviathan"
	// leviathanWrites is how many writes the cluster scenario makes; the
	// memberlist run makes as many broadcasts.
	leviathanWrites = 8
	// idleSettle is how long after the join both idle windows start.
	idleSettle = 10 * time.Second
)

// clusterResult holds the fields of the bench command's cluster scenario
// that a row shows.
type clusterResult struct {
	Mode       string  `json:"mode"`
	Nodes      int     `json:"nodes"`
	IntervalMs float64 `json:"interval_ms"`
	JoinS      float64 `json:"join_s"`
	Writes     int     `json:"writes"`
	WriteP50S  float64 `json:"write_all_s_p50"`
	WriteMaxS  float64 `json:"write_all_s_max"`
	DetectMinS float64 `json:"detect_first_s"`
	DetectAllS float64 `json:"detect_all_s"`
	FalseSusp  int     `json:"false_suspicions"`
	NodeMin    float64 `json:"node_min"`
	IdleBytes  float64 `json:"idle_bytes_per_node_per_s"`
	WallS      float64 `json:"wall_s"`
}

// leviathanRow runs the cluster scenario from the repository root and
// keeps its real-socket row; the simulated row it also prints is not
// compared here.
// The nodes' log goes to logOut; it is shown anyway when the run fails.
func leviathanRow(repo string, n int, seed int64, logOut io.Writer) (Row, error) {
	if err := checkRepo(repo); err != nil {
		return Row{}, err
	}
	cmd := exec.Command("go", "run", "./examples/bench", "-scenario", "cluster",
		"-nodes", strconv.Itoa(n), "-seed", strconv.FormatInt(seed, 10), "-json")
	cmd.Dir = repo
	var stderr bytes.Buffer
	cmd.Stderr = io.MultiWriter(&stderr, logOut)
	out, err := cmd.Output()
	if err != nil {
		if logOut == io.Discard {
			os.Stderr.Write(lastLines(stderr.Bytes(), 20))
		}
		return Row{}, fmt.Errorf("leviathan: %s: %w", strings.Join(cmd.Args, " "), err)
	}
	r, err := parseCluster(out)
	if err != nil {
		return Row{}, fmt.Errorf("leviathan: %w", err)
	}
	return r, nil
}

// checkRepo fails early, with a hint, when -repo is not Leviathan's root.
func checkRepo(repo string) error {
	b, err := os.ReadFile(filepath.Join(repo, "go.mod"))
	if err != nil {
		return fmt.Errorf("leviathan: -repo %s: %w", repo, err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	if strings.TrimSpace(first) != "module "+leviathanModule {
		return fmt.Errorf("leviathan: -repo %s is not the root of %s", repo, leviathanModule)
	}
	return nil
}

// parseCluster turns the scenario's JSON lines into the real cluster's row.
func parseCluster(out []byte) (Row, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var c clusterResult
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return Row{}, fmt.Errorf("decode %q: %w", sc.Text(), err)
		}
		if c.Mode != "real" {
			continue
		}
		return Row{
			System: "leviathan", Nodes: c.Nodes,
			Rounds: (time.Duration(c.IntervalMs) * time.Millisecond).String(),
			JoinS:  c.JoinS, Writes: c.Writes, WriteP50S: c.WriteP50S, WriteMaxS: c.WriteMaxS,
			Detected: "suspected", DetectMinS: c.DetectMinS, DetectAllS: c.DetectAllS,
			FalseSusp: c.FalseSusp, FalseDeaths: -1, NodeMin: c.NodeMin,
			IdleBytes: c.IdleBytes, IdleS: idleWindowLeviathan.Seconds(), WallS: c.WallS,
		}, nil
	}
	if err := sc.Err(); err != nil {
		return Row{}, fmt.Errorf("read output: %w", err)
	}
	return Row{}, fmt.Errorf("no real-cluster row in the output")
}

// idleWindowLeviathan is the cluster scenario's idle window.
const idleWindowLeviathan = 10 * time.Second

// lastLines is the end of b, at most n lines.
func lastLines(b []byte, n int) []byte {
	b = bytes.TrimRight(b, "\n")
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			if n--; n == 0 {
				return append(b[i+1:], '\n')
			}
		}
	}
	if len(b) == 0 {
		return nil
	}
	return append(b, '\n')
}
