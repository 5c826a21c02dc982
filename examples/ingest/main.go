// Command ingest shows an application consuming a node's replicated data
// into its own storage with the changefeed, so that neither its own
// crashes nor the node's lose or duplicate anything.
//
//	go run ./examples/ingest -duration 10s
//
// By default it starts two nodes on loopback: a producer that writes
// bursts of keys (and deletes some), and the ingesting node. The
// application's storage is a JSON-lines file: each line is one batch of a
// peer's changes together with the changefeed cursor after them, written
// and fsynced as one line, so a batch and its cursor are durable together
// or not at all (a torn last line is cut off when the file is reopened).
// Events only say "something changed"; the cursor says from where to read
// (Node.Changes), so a missed event or a crash costs nothing: the next read
// starts where the stored cursor says. At the end it checks that its
// storage matches the producer's keys.
//
// To ingest from the four example peers instead (see the README), run
//
//	go run ./examples/ingest -seeds 127.0.0.1:7001 -cluster example
//
// and kill it with kill -9 whenever you like: started again with the same
// -out file, it resumes from its cursors.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/leviathan-gossip/leviathan/node"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type flags struct {
	duration time.Duration
	out      string
	page     int
	slow     time.Duration
	seeds    string
	cluster  string
	alias    string
}

func parse(args []string, stderr io.Writer) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&f.duration, "duration", 0, "stop after this long (0: run until Ctrl-C)")
	fs.StringVar(&f.out, "out", "", "the application's storage, a JSON-lines file (default: a new file in a temporary directory)")
	fs.IntVar(&f.page, "batch", 500, "most changes read and written per batch")
	fs.DurationVar(&f.slow, "slow", 100*time.Millisecond, "extra time the application storage takes per batch")
	fs.StringVar(&f.seeds, "seeds", "", "comma-separated host:port to join an existing cluster (default: run a producer node too)")
	fs.StringVar(&f.cluster, "cluster", "ingest-demo", "cluster name")
	fs.StringVar(&f.alias, "alias", "ingest", "the ingesting node's alias (its id)")
	return f, fs.Parse(args)
}

func run(args []string, stdout, stderr io.Writer) int {
	f, err := parse(args, stderr)
	if err != nil {
		return 2
	}
	keep := f.out != ""
	if !keep {
		dir, err := os.MkdirTemp("", "leviathan-ingest-")
		if err != nil {
			fmt.Fprintln(stderr, "ingest:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		f.out = filepath.Join(dir, "ingest.jsonl")
	}
	app, err := openAppStore(f.out, f.slow)
	if err != nil {
		fmt.Fprintln(stderr, "ingest:", err)
		return 1
	}
	defer app.Close()

	var producer *node.Node
	cfg := demoConfig(f.cluster, f.alias)
	if f.seeds != "" {
		cfg.Seeds = strings.Split(f.seeds, ",")
		cfg.GossipVal, cfg.HeartbeatVal, cfg.HealthCheckVal = 0, 0, 0 // the defaults, as the peers use
	} else {
		if producer, err = startNode(demoConfig(f.cluster, "producer")); err != nil {
			fmt.Fprintln(stderr, "ingest: producer:", err)
			return 1
		}
		defer producer.Close()
		cfg.Seeds = []string{producer.Addr()}
	}
	n, err := node.New(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "ingest:", err)
		return 1
	}
	defer n.Close()
	// A small buffer on purpose: events are only wake-ups, a miss is
	// harmless.
	sub := n.Subscribe(2)
	if err := n.Start(); err != nil {
		fmt.Fprintln(stderr, "ingest:", err)
		return 1
	}
	where := f.out
	if !keep {
		where += " (removed at exit; -out FILE keeps it)"
	}
	fmt.Fprintf(stdout, "ingesting into %s, resuming from %d stored cursors\n", where, len(app.cursors))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	c := &consumer{n: n, app: app, page: f.page}
	stopProducer := make(chan struct{})
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		if producer != nil {
			produce(producer, stopProducer)
		}
	}()
	interrupted, err := c.follow(ctx, sub, f.duration, stdout)
	close(stopProducer)
	<-producerDone
	if err != nil {
		fmt.Fprintln(stderr, "ingest:", err)
		return 1
	}
	if interrupted || producer == nil {
		fmt.Fprintln(stdout, c.summary())
		return 0
	}
	return c.finish(ctx, producer, stdout, stderr)
}

func demoConfig(cluster, alias string) node.Config {
	fast := 100 * time.Millisecond
	return node.Config{Alias: alias, Cluster: cluster, Addr: "127.0.0.1", InMemory: true,
		GossipVal: fast, HeartbeatVal: fast, HealthCheckVal: fast}
}

func startNode(cfg node.Config) (*node.Node, error) {
	n, err := node.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := n.Start(); err != nil {
		_ = n.Close()
		return nil, err
	}
	return n, nil
}

// follow reads the changefeeds whenever an event says something changed,
// and at least every half second, until the duration ends or a signal
// comes (ctx ends); it reports whether a signal ended it.
func (c *consumer) follow(ctx context.Context, sub *node.Subscription, d time.Duration, stdout io.Writer) (bool, error) {
	var end <-chan time.Time
	if d > 0 {
		end = time.After(d)
	}
	poll := time.NewTicker(500 * time.Millisecond)
	defer poll.Stop()
	report := time.NewTicker(2 * time.Second)
	defer report.Stop()
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case <-end:
			return false, nil
		case <-report.C:
			fmt.Fprintln(stdout, c.summary())
		case <-poll.C:
		case _, ok := <-sub.C:
			if !ok {
				return false, nil
			}
			c.wakeups++
		}
		if err := c.catchUp(ctx); err != nil && ctx.Err() == nil {
			return false, err
		}
	}
}

// finish stops nothing but waits, with a deadline, until the application
// storage holds exactly the producer's keys.
func (c *consumer) finish(ctx context.Context, producer *node.Node, stdout, stderr io.Writer) int {
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := c.catchUp(ctx); err != nil {
			fmt.Fprintln(stderr, "ingest:", err)
			return 1
		}
		diff := c.app.compare(ctx, producer)
		if diff == "" {
			break
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(stdout, c.summary())
			fmt.Fprintln(stdout, "application storage does NOT match the producer:", diff)
			return 1
		}
		time.Sleep(100 * time.Millisecond) // gossip is still delivering
	}
	fmt.Fprintln(stdout, c.summary())
	keys, _ := producer.Keys(ctx, "") // compare read them just now
	fmt.Fprintf(stdout, "application storage matches the producer's %d keys.\n", len(keys))
	return 0
}

// produce writes bursts of keys and deletes some, until stop.
func produce(n *node.Node, stop <-chan struct{}) {
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		for i := 0; i < 20; i++ {
			key := fmt.Sprintf("item-%03d", rng.Intn(300))
			var err error
			if rng.Intn(10) == 0 {
				_, err = n.Delete(context.Background(), key)
			} else {
				_, err = n.Set(context.Background(), key, []byte(fmt.Sprintf("burst %d #%d", seq, i)))
			}
			if err != nil && !errors.Is(err, node.ErrClosed) {
				fmt.Fprintln(os.Stderr, "producer:", err)
			}
		}
	}
}

// consumer moves a node's changefeeds into the application's storage.
type consumer struct {
	n       *node.Node
	app     *appStore
	page    int
	wakeups int
	batches int
	records int
	resets  int
	// proven counts the changes checked against their origin's key
	// (signed = true): a page whose proofs do not check is not taken.
	proven int
}

// catchUp reads every peer's changefeed from the stored cursor until it is
// at the end, writing each page with its cursor as one batch.
func (c *consumer) catchUp(ctx context.Context) error {
	for _, p := range c.n.Peers() {
		for range 10_000 { // bounded: each page advances the cursor
			more, err := c.readPage(ctx, p.ID)
			if err != nil || !more {
				if err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}

func (c *consumer) readPage(ctx context.Context, peer string) (bool, error) {
	cur := c.app.cursors[peer]
	page, err := c.n.Changes(ctx, peer, cur, c.page)
	if errors.Is(err, node.ErrGenerationChanged) || errors.Is(err, node.ErrCompacted) {
		// What we hold of that peer is stale: drop it, start over.
		c.resets++
		return true, c.app.Apply(batch{Peer: peer, Reset: true})
	}
	if errors.Is(err, node.ErrCursorAhead) {
		// The node holds less of this peer than the application stored:
		// it is still catching up after a restart (its store is new, or
		// behind what it had). Read again at the next wake-up; reading
		// from a lower cursor would hand over changes twice.
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if len(page.Deltas) == 0 && page.Next == cur {
		return false, nil
	}
	if page.OriginKey != nil {
		// A signed cluster: each change carries its origin's proof, so
		// this application trusts the origin's key, not the node it
		// reads from. A page not proven yet (the origin's newest writes,
		// signed a moment after they commit) is read again later.
		if err := node.VerifyPage(page, page.OriginKey); err != nil {
			return false, nil
		}
		c.proven += len(page.Deltas)
	}
	b := batch{Peer: peer, Next: page.Next}
	for _, d := range page.Deltas {
		b.Changes = append(b.Changes, change{Key: d.Key, Value: d.Value, Version: d.Version, Deleted: d.Deleted})
	}
	if err := c.app.Apply(b); err != nil {
		return false, err
	}
	c.batches++
	c.records += len(b.Changes)
	return page.More, nil
}

func (c *consumer) summary() string {
	avg := 0.0
	if c.batches > 0 {
		avg = float64(c.records) / float64(c.batches)
	}
	return fmt.Sprintf("%d wake-ups → %d changes in %d batches (%.1f per batch), %d resets, %d proven by their origin's key; storage holds %d keys",
		c.wakeups, c.records, c.batches, avg, c.resets, c.proven, c.app.Len())
}
