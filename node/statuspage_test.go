package node

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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
	nodes := udpCluster(t, 3, nil)
	srv := httptest.NewServer(nodes[0].Handler())
	defer srv.Close()
	eventually(t, 15*time.Second, func() error {
		if live := len(nodes[0].LivePeers()); live != 2 {
			return fmt.Errorf("u0 sees %d live peers", live)
		}
		return nil
	})

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
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(profile),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
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

	nodes[2].cfg.SkipLeave = true // a crash, not a leave
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
