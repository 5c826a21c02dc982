package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	gosync "sync"
	"testing"
	"time"
)

// proc is one example peer running as a real OS process.
type proc struct {
	cmd    *exec.Cmd
	gossip string // advertised gossip address
	http   string // admin API base URL
}

var listening = regexp.MustCompile(`listening on (\S+), admin API on (http://\S+)`)

// buildPeer compiles this example once for the test.
func buildPeer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "peer")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startPeer runs the peer binary with a config and waits for its banner.
func startPeer(t *testing.T, bin, dir, alias string, seeds []string) *proc {
	t.Helper()
	quoted := make([]string, len(seeds))
	for i, s := range seeds {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	cfg := fmt.Sprintf(`alias = %q
cluster = "crash"
seeds = [%s]
addr = "127.0.0.1"
port = 0
http_addr = "127.0.0.1:0"
data_dir = %q
gossip_val = 50
heartbeat_val = 50
health_check_val = 50
log_level = "warn"
`, alias, strings.Join(quoted, ", "), filepath.Join(dir, alias))
	path := filepath.Join(dir, alias+".toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	stdin, _ := cmd.StdinPipe() // kept open: the peer keeps running until killed
	t.Cleanup(func() { stdin.Close() })
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	banner := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				banner <- m
			}
		}
	}()
	select {
	case m := <-banner:
		return &proc{cmd: cmd, gossip: m[1], http: m[2]}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not start", alias)
		return nil
	}
}

// kill sends SIGKILL: no Close, no flush, no leave.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

var client = &http.Client{Timeout: 5 * time.Second}

func (p *proc) put(key, value string) (uint64, error) {
	req, _ := http.NewRequest(http.MethodPut, p.http+"/kv/"+key, strings.NewReader(value))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct{ Version uint64 }
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, err
	}
	return out.Version, nil
}

func (p *proc) get(peer, key string) (value string, version uint64, ok bool) {
	resp, err := client.Get(p.http + "/kv/" + peer + "/" + key)
	if err != nil {
		return "", 0, false
	}
	defer resp.Body.Close()
	var out struct {
		Value   string
		Version uint64
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return "", 0, false
	}
	return out.Value, out.Version, true
}

// TestKill9LosesNothingAcknowledged: writes go to a real peer process over
// HTTP while it is killed with SIGKILL at random moments; after each
// restart on the same data directory every acknowledged write is there
// with its version, new writes get higher versions, and they reach the
// other peer.
func TestKill9LosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs OS processes")
	}
	bin := buildPeer(t)
	dir := t.TempDir()
	observer := startPeer(t, bin, dir, "observer", nil)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	acked := map[string]uint64{}
	var mu gosync.Mutex
	var maxAcked uint64
	const kills = 4
	for round := 0; round < kills; round++ {
		victim := startPeer(t, bin, dir, "victim", []string{observer.gossip})
		for key, v := range acked { // everything acknowledged before survived
			if _, got, ok := victim.get("victim", key); !ok || got != v {
				t.Fatalf("after kill %d: %s at version %d (%v), acknowledged at %d", round, key, got, ok, v)
			}
		}
		// Four writers until the kill.
		stop := make(chan struct{})
		var wg gosync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < 100000; i++ {
					select {
					case <-stop:
						return
					default:
					}
					key := fmt.Sprintf("r%d-w%d-%d", round, w, i)
					v, err := victim.put(key, key)
					if err != nil {
						return // killed under us: this one was not acknowledged
					}
					mu.Lock()
					acked[key] = v
					maxAcked = max(maxAcked, v)
					mu.Unlock()
				}
			}(w)
		}
		time.Sleep(time.Duration(100+rng.Intn(400)) * time.Millisecond) // let writes pile up, then kill at a random moment
		victim.kill(t)
		close(stop)
		wg.Wait()
	}
	if len(acked) < kills*10 {
		t.Fatalf("only %d writes acknowledged: the test did not exercise the store", len(acked))
	}
	victim := startPeer(t, bin, dir, "victim", []string{observer.gossip})
	for key, v := range acked {
		if _, got, ok := victim.get("victim", key); !ok || got != v {
			t.Fatalf("after the last kill: %s at version %d (%v), acknowledged at %d", key, got, ok, v)
		}
	}
	v, err := victim.put("after", "restart")
	if err != nil {
		t.Fatal(err)
	}
	if v <= maxAcked {
		t.Fatalf("version %d after restart is not above %d", v, maxAcked)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if val, got, ok := observer.get("victim", "after"); ok && got == v && val == "restart" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the write after restart never reached the observer")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// And the observer ends up with everything the victim holds: every
	// acknowledged write, plus any write that was made durable but whose
	// answer the kill cut off (durable, just never acknowledged).
	for {
		n, want := observer.count("victim"), victim.count("victim")
		if n == want && want >= len(acked)+1 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("observer holds %d of the victim's %d keys (%d acknowledged)", n, want, len(acked)+1)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for key, v := range acked {
		if _, got, ok := observer.get("victim", key); !ok || got != v {
			t.Fatalf("observer: %s at version %d (%v), acknowledged at %d", key, got, ok, v)
		}
	}
	t.Logf("%d acknowledged writes across %d kills survived; version after restart %d", len(acked), kills, v)
}

func (p *proc) count(peer string) int {
	n, after := 0, ""
	for page := 0; page < 1000; page++ {
		resp, err := client.Get(p.http + "/kv/" + peer + "?limit=10000&after=" + url.QueryEscape(after))
		if err != nil {
			return -1
		}
		var got struct {
			Keys []json.RawMessage `json:"keys"`
			Next string            `json:"next"`
		}
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil {
			return -1
		}
		n += len(got.Keys)
		if got.Next == "" {
			return n
		}
		after = got.Next
	}
	return -1
}
