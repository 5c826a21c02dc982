// Command cluster runs four Leviathan peers in one process and draws a
// live view of them in the terminal: each peer's view of the others
// (state and phi) and keys converging as a writer keeps setting them.
// Halfway through, one peer is stopped and later started again, so you
// see it suspended by the others, then recovered with a new generation.
//
//	go run ./examples/cluster                  # until Ctrl-C
//	go run ./examples/cluster -duration 20s    # bounded, as CI runs it
//
// Node 1's status page and admin API (package node/admin) are served on
// -http, http://127.0.0.1:8080/ by default: open it in a browser alongside.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	gosync "sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/leviathan-gossip/leviathan/node"
	"github.com/leviathan-gossip/leviathan/node/admin"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type options struct {
	nodes    int
	duration time.Duration
	kill     time.Duration
	gossip   time.Duration
	httpAddr string
	plain    bool
	logPath  string
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.nodes, "nodes", 4, "peers to run (2-16)")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (0: run until Ctrl-C)")
	fs.DurationVar(&o.kill, "kill", 10*time.Second, "stop the last peer after this long and start it again as long after (0: never)")
	fs.DurationVar(&o.gossip, "gossip", 200*time.Millisecond, "gossip, heartbeat and health-check interval")
	fs.StringVar(&o.httpAddr, "http", "127.0.0.1:8080", "serve peer1's status page and admin API here (empty: off; busy: any free port)")
	fs.BoolVar(&o.plain, "plain", !isTerminal(stdout), "append frames instead of redrawing the screen (default when not a terminal)")
	fs.StringVar(&o.logPath, "log", "", "write the peers' logs (JSON, info level) to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.nodes < 2 || o.nodes > 16 {
		fmt.Fprintln(stderr, "cluster: -nodes must be 2-16")
		return 2
	}
	log := zerolog.Nop()
	if o.logPath != "" {
		f, err := os.Create(o.logPath)
		if err != nil {
			fmt.Fprintln(stderr, "cluster:", err)
			return 1
		}
		defer f.Close()
		log = zerolog.New(f).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	}

	d := &demo{opts: o, log: log, start: time.Now(), peers: make([]*node.Node, o.nodes), ports: make([]int, o.nodes)}
	defer d.closeAll()
	for i := range d.peers {
		if err := d.startPeer(i); err != nil {
			fmt.Fprintln(stderr, "cluster:", err)
			return 1
		}
	}
	if o.httpAddr != "" {
		srv, err := serve(d.peers[0], o.httpAddr)
		if err != nil {
			fmt.Fprintln(stderr, "cluster: status page:", err)
			return 1
		}
		defer srv.Close()
		d.pageURL = "http://" + srv.Addr() + "/"
	}

	stopWriter := make(chan struct{})
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); d.writer(stopWriter) }()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	var end <-chan time.Time
	if o.duration > 0 {
		end = time.After(o.duration)
	}
	frame := time.NewTicker(time.Second)
	defer frame.Stop()
	last := o.nodes - 1
	killed, restarted := false, false
	d.draw(stdout)
loop:
	for {
		select {
		case <-sigs:
			close(stopWriter)
			<-writerDone
			fmt.Fprintln(stdout, "stopping.")
			return 0
		case <-end:
			break loop
		case <-frame.C:
			el := time.Since(d.start)
			switch {
			case o.kill > 0 && !killed && el >= o.kill:
				killed = true
				d.stopPeer(last)
			case o.kill > 0 && killed && !restarted && el >= 2*o.kill:
				restarted = true
				if err := d.startPeer(last); err != nil {
					d.note("restart failed: " + err.Error())
				}
			}
			d.draw(stdout)
		}
	}
	close(stopWriter)
	<-writerDone
	// Restart a stopped peer so that the final check covers everyone.
	if d.peer(last) == nil {
		if err := d.startPeer(last); err != nil {
			fmt.Fprintln(stderr, "cluster:", err)
			return 1
		}
	}
	ok := d.waitConverged(15 * time.Second)
	d.draw(stdout)
	if !ok {
		fmt.Fprintln(stdout, "peers did NOT converge within 15 s of the last write")
		return 1
	}
	fmt.Fprintf(stdout, "all %d peers hold every peer's latest keys; stopping.\n", o.nodes)
	return 0
}

// demo is the running cluster and what the view shows.
type demo struct {
	opts    options
	log     zerolog.Logger
	start   time.Time
	pageURL string

	mu     gosync.Mutex
	peers  []*node.Node // nil while stopped
	ports  []int
	subs   []*node.Subscription
	events []string
	wg     gosync.WaitGroup
}

func name(i int) string { return fmt.Sprintf("peer%d", i+1) }

func (d *demo) peer(i int) *node.Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.peers[i]
}

// startPeer starts peer i in memory on loopback; a restarted peer takes
// its old port back and, with an empty store, a new generation.
func (d *demo) startPeer(i int) error {
	cfg := node.Config{
		Alias: name(i), Cluster: "demo", Addr: "127.0.0.1", Port: d.ports[i], InMemory: true,
		GossipVal: d.opts.gossip, HeartbeatVal: d.opts.gossip,
		HealthCheckVal: d.opts.gossip, PhiInitialInterval: 5 * d.opts.gossip,
		DeadAfter: time.Minute,
		// The demo stops a peer as if it crashed, to show it suspected;
		// a graceful Close would announce a leave instead.
		SkipLeave: true,
	}
	if i > 0 {
		cfg.Seeds = []string{fmt.Sprintf("127.0.0.1:%d", d.ports[0])}
	}
	// The node adds node=<id> to each of its lines (here the peer's name);
	// "peer" is the field of the peer a line is about.
	n, err := node.New(cfg, node.WithLogger(d.log))
	if err != nil {
		return err
	}
	sub := n.Subscribe(256)
	if err := n.Start(); err != nil {
		sub.Close()
		_ = n.Close()
		return err
	}
	_, port, _ := net.SplitHostPort(n.Addr())
	fmt.Sscan(port, &d.ports[i])
	d.mu.Lock()
	d.peers[i] = n
	d.subs = append(d.subs, sub)
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for ev := range sub.C {
			switch ev.Type {
			case node.EventUpdates, node.EventDelete:
				// The key matrix shows these.
			default:
				d.note(fmt.Sprintf("%s: %s %s", name(i), ev.Type, strings.Join(ev.Peers, ", ")))
			}
		}
	}()
	if d.peersStarted() > d.opts.nodes {
		d.note(fmt.Sprintf("%s started again (generation %d)", name(i), n.Status().Generation))
	}
	return nil
}

func (d *demo) peersStarted() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.subs)
}

func (d *demo) stopPeer(i int) {
	d.mu.Lock()
	n := d.peers[i]
	d.peers[i] = nil
	d.mu.Unlock()
	if n != nil {
		_ = n.Close()
		d.note(name(i) + " stopped")
	}
}

func (d *demo) closeAll() {
	for i := range d.peers {
		d.mu.Lock()
		n := d.peers[i]
		d.peers[i] = nil
		d.mu.Unlock()
		if n != nil {
			_ = n.Close()
		}
	}
	d.wg.Wait()
}

func (d *demo) note(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events = append(d.events, time.Now().Format("15:04:05")+"  "+s)
	if len(d.events) > 6 {
		d.events = d.events[len(d.events)-6:]
	}
}

// writer keeps setting keys on random running peers.
func (d *demo) writer(stop <-chan struct{}) {
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	colors := []string{"red", "green", "blue", "amber", "violet"}
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	count := 0
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		i := rng.Intn(d.opts.nodes)
		n := d.peer(i)
		if n == nil {
			continue
		}
		count++
		key, val := "counter", fmt.Sprint(count)
		if rng.Intn(3) == 0 {
			key, val = "color", colors[rng.Intn(len(colors))]
		}
		if _, err := n.Set(context.Background(), key, []byte(val)); err != nil && !errors.Is(err, node.ErrClosed) {
			d.note(fmt.Sprintf("%s: set failed: %v", name(i), err))
		}
	}
}

// converged reports whether every running peer holds every running
// peer's latest version of every key.
func (d *demo) converged() bool {
	for i := range d.peers {
		owner := d.peer(i)
		if owner == nil {
			return false
		}
		keys, err := owner.Keys(context.Background(), "")
		if err != nil {
			return false
		}
		for _, k := range keys {
			want, _ := owner.Get(context.Background(), "", k)
			for j := range d.peers {
				if viewer := d.peer(j); viewer == nil || j != i && !has(viewer, owner.ID(), k, want.Version) {
					return false
				}
			}
		}
	}
	return true
}

func has(n *node.Node, owner, key string, version uint64) bool {
	e, err := n.Get(context.Background(), owner, key)
	return err == nil && e.Version == version
}

func (d *demo) waitConverged(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for !d.converged() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// draw renders one frame of the view.
func (d *demo) draw(w io.Writer) {
	var b strings.Builder
	if !d.opts.plain {
		b.WriteString("\033[H\033[2J")
	}
	el := time.Since(d.start).Round(time.Second)
	fmt.Fprintf(&b, "Leviathan: %d peers in one process, gossip every %v, %v elapsed", d.opts.nodes, d.opts.gossip, el)
	if d.opts.duration > 0 {
		fmt.Fprintf(&b, " of %v", d.opts.duration)
	} else {
		b.WriteString(" (Ctrl-C to stop)")
	}
	b.WriteString("\n")
	if d.pageURL != "" {
		fmt.Fprintf(&b, "status page of peer1: %s\n", d.pageURL)
	}
	if d.opts.kill > 0 {
		fmt.Fprintf(&b, "%s is stopped at %v and started again (empty, new generation) at %v\n", name(d.opts.nodes-1), d.opts.kill, 2*d.opts.kill)
	}

	b.WriteString("\nWHO SEES WHOM (state, phi; suspended above phi 8)\n")
	for i := range d.peers {
		n := d.peer(i)
		if n == nil {
			fmt.Fprintf(&b, "  %-6s  (stopped)\n", name(i))
			continue
		}
		st := n.Status()
		fmt.Fprintf(&b, "  %-6s  gen %d  ", name(i), st.Generation)
		peers := n.Peers()
		sort.Slice(peers, func(a, c int) bool { return peers[a].Alias < peers[c].Alias })
		for _, p := range peers {
			fmt.Fprintf(&b, " %s %-9s %5.2f |", p.Alias, p.State, p.Phi)
		}
		b.WriteString("\n")
	}

	ctx := context.Background()
	b.WriteString("\nKEYS: version of each owner's key as each peer sees it (* = not the owner's latest yet)\n")
	fmt.Fprintf(&b, "  %-16s", "owner/key")
	for j := range d.peers {
		fmt.Fprintf(&b, " %8s", name(j))
	}
	b.WriteString("\n")
	for i := range d.peers {
		owner := d.peer(i)
		if owner == nil {
			continue
		}
		keys, _ := owner.Keys(ctx, "") // a closing owner shows no keys
		for _, k := range keys {
			want, _ := owner.Get(ctx, "", k)
			fmt.Fprintf(&b, "  %-16s", name(i)+"/"+k)
			for j := range d.peers {
				viewer := d.peer(j)
				cell := "-"
				if viewer != nil {
					if e, err := viewer.Get(ctx, owner.ID(), k); err == nil {
						cell = fmt.Sprint(e.Version)
						if e.Version != want.Version {
							cell += "*"
						}
					}
				}
				fmt.Fprintf(&b, " %8s", cell)
			}
			fmt.Fprintf(&b, "   = %s\n", want.Value)
		}
	}

	b.WriteString("\nEVENTS\n")
	d.mu.Lock()
	for _, e := range d.events {
		b.WriteString("  " + e + "\n")
	}
	d.mu.Unlock()
	if d.opts.plain {
		b.WriteString("\n")
	}
	_, _ = io.WriteString(w, b.String())
}

// serve serves n's admin API on addr, or on any free loopback port if
// addr is busy.
func serve(n *node.Node, addr string) (*admin.Server, error) {
	cfg := admin.ConfigFrom(n.Config())
	srv, err := admin.Serve(n, cfg, addr)
	if err != nil {
		srv, err = admin.Serve(n, cfg, "127.0.0.1:0")
	}
	return srv, err
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
