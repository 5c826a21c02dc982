package admin

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/leviathan-gossip/leviathan/node"
)

// chromium finds a Chromium or Chrome binary; the test is skipped without
// one unless LEVIATHAN_REQUIRE_BROWSER=1 (CI installs Debian's chromium).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("LEVIATHAN_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("LEVIATHAN_REQUIRE_BROWSER") == "1" {
		t.Fatal("no chromium binary found and LEVIATHAN_REQUIRE_BROWSER=1")
	}
	t.Skip("no chromium binary found; install chromium or set LEVIATHAN_CHROMIUM")
	return ""
}

// TestStatusPageShowsSuspension drives the status page of node 0 of a
// three-node UDP cluster in headless Chromium: both peers show alive, and
// after one is closed its row turns suspended.
func TestStatusPageShowsSuspension(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	bin := chromium(t)
	// u2 is closed as if it crashed, not leaving.
	nodes := udpCluster(t, 3, func(i int, c *node.Config) { c.SkipLeave = i == 2 })
	srv := httptest.NewServer(handler(nodes[0]))
	defer srv.Close()
	eventually(t, 15*time.Second, func() error {
		if live := len(nodes[0].LivePeers()); live != 2 {
			return fmt.Errorf("u0 sees %d live peers", live)
		}
		return nil
	})

	profile := browserProfile(t)
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(bin), chromedp.UserDataDir(profile)}
	for _, f := range headlessFlags {
		opts = append(opts, chromedp.Flag(strings.TrimPrefix(f, "--"), true))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	if err := chromedp.Run(bctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	// stateOf reads a peer's state cell from the DOM ("" if no row yet).
	stateOf := func(id string) (string, error) {
		var s string
		js := fmt.Sprintf(`(function(){const td=document.querySelector('tr[data-peer=%q] td.state');return td?td.textContent:""})()`, id)
		err := chromedp.Run(bctx, chromedp.Evaluate(js, &s))
		return s, err
	}
	waitState := func(id, want string, timeout time.Duration) {
		t.Helper()
		eventually(t, timeout, func() error {
			got, err := stateOf(id)
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("page shows %s as %q, want %q", id, got, want)
			}
			return nil
		})
	}
	waitState("u1", "alive", 20*time.Second)
	waitState("u2", "alive", 20*time.Second)
	var title, self string
	if err := chromedp.Run(bctx, chromedp.Title(&title), chromedp.Text("#self", &self, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if self != "u0" {
		t.Errorf("page header shows %q, want u0 (title %q)", self, title)
	}
	// A screenshot of the live page (stream open) decodes as an image.
	var shot []byte
	if err := chromedp.Run(bctx, chromedp.CaptureScreenshot(&shot)); err != nil {
		t.Fatal(err)
	}
	if img, err := png.Decode(bytes.NewReader(shot)); err != nil || img.Bounds().Dx() < 100 {
		t.Errorf("screenshot does not decode as a page-sized PNG: %v", err)
	}

	// The page opens its event stream once it has checked that the
	// browser's clock is real (one second): wait for it, as a user sees
	// "events: live".
	eventually(t, 20*time.Second, func() error {
		var conn string
		if err := chromedp.Run(bctx, chromedp.Text("#conn", &conn, chromedp.ByQuery)); err != nil {
			return err
		}
		if conn != "live" {
			return fmt.Errorf("events: %q", conn)
		}
		return nil
	})

	if err := nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	waitState("u2", "suspended", 30*time.Second)
	if got, err := stateOf("u1"); err != nil || got != "alive" {
		t.Fatalf("u1 shows %q (%v) after u2 stopped", got, err)
	}
	// The SSE stream logged the suspension too.
	var log string
	if err := chromedp.Run(bctx, chromedp.Text("#log", &log, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, "peers_suspend u2") {
		t.Errorf("peer event log lacks the suspension: %q", log)
	}
}

// headlessFlags are the flags Chromium needs here (as root, in a
// container, offline).
var headlessFlags = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"}

// browserProfile makes a Chromium profile directory removed after the test.
func browserProfile(t *testing.T) string {
	t.Helper()
	// Not t.TempDir: Chromium's helpers may still be writing there for a
	// moment after the browser is gone, which fails TempDir's cleanup.
	profile, err := os.MkdirTemp("", "leviathan-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 50 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	return profile
}

// TestStatusPageHeadlessScreenshot scripts the page as a user would from a
// shell: chromium --headless --virtual-time-budget, which waits for the
// network to go quiet and so hung on the never-ending /events stream. The
// page sees the virtual clock and leaves the stream closed (as it does
// with ?events=0), Chromium returns, and the page it saw (DOM and
// screenshot) shows both peers with their phi.
func TestStatusPageHeadlessScreenshot(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	bin := chromium(t)
	nodes := udpCluster(t, 3, nil)
	srv := httptest.NewServer(handler(nodes[0]))
	defer srv.Close()
	eventually(t, 15*time.Second, func() error {
		if live := len(nodes[0].LivePeers()); live != 2 {
			return fmt.Errorf("u0 sees %d live peers", live)
		}
		return nil
	})
	// headless runs chromium with the user's flags and a deadline (a hang
	// is what this test is about).
	headless := func(path string, extra ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		args := append(append([]string{}, headlessFlags...), "--user-data-dir="+browserProfile(t), "--virtual-time-budget=3000")
		args = append(append(args, extra...), srv.URL+path)
		cmd := exec.CommandContext(ctx, bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if ctx.Err() != nil {
			t.Fatalf("chromium %v did not return within 60 s", extra)
		}
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", extra, err, stderr.String())
		}
		return out
	}

	dom := string(headless("/", "--dump-dom"))
	phiCell := regexp.MustCompile(`<tr data-peer="(u[12])">.*?class="state state-alive">alive</td><td class="num phi">\d+\.\d\d</td><td class="num heard">[\d.]+ s ago</td>`)
	rows := map[string]bool{}
	for _, m := range phiCell.FindAllStringSubmatch(dom, -1) {
		rows[m[1]] = true
	}
	if !rows["u1"] || !rows["u2"] {
		t.Fatalf("the page Chromium saw lacks alive rows with phi for u1 and u2 (found %v):\n%.3000s", rows, dom)
	}
	if !strings.Contains(dom, `class="spark"`) || !strings.Contains(dom, "φ 20") { // fastConfig's threshold
		t.Error("phi graph with its threshold line missing")
	}
	if !strings.Contains(dom, "off (virtual clock: headless browser)") {
		t.Error("the page does not say why its event stream is off")
	}
	gen := fmt.Sprintf(`<td class="num generation">%d</td>`, nodes[1].Status().Generation)
	if !strings.Contains(dom, gen) {
		t.Errorf("no generation column with u1's generation (%s)", gen)
	}

	file := filepath.Join(t.TempDir(), "page.png")
	headless("/?events=0", "--window-size=1200,600", "--screenshot="+file)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 600 {
		t.Errorf("screenshot is %v, want 1200x600", b)
	}
}
