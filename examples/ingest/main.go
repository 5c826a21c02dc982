// Command ingest shows an application consuming a node's updates
// batch-wise into its own storage — what the seed libraries' READMEs call
// persistent_storage.write(deltas) — including what to do when events
// were missed.
//
//	go run ./examples/ingest -duration 10s
//
// By default it starts two nodes on loopback: a producer that writes
// bursts of keys (and deletes some), and the ingesting node, which
// appends every peer's changes to a JSON-lines file, one fsync per batch.
// Its subscription buffer is deliberately small and its storage slow, so
// events get dropped: the consumer sees Event.Missed and re-reads the
// node's state with Peers, Keys and Version — the store is the truth,
// events are notifications. At the end it checks that its storage matches
// the node's view of every peer.
//
// To ingest from the four example peers instead (see the README), run
//
//	go run ./examples/ingest -seeds 127.0.0.1:7001 -cluster example
package main

import (
	"bufio"
	"encoding/json"
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

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	out := fs.String("out", "", "JSON-lines file to append to (default: a new file in a temporary directory)")
	buffer := fs.Int("buffer", 2, "subscription buffer; small on purpose so that misses happen")
	maxBatch := fs.Int("batch", 500, "most records written per batch")
	slow := fs.Duration("slow", 250*time.Millisecond, "extra time the application storage takes per batch")
	seeds := fs.String("seeds", "", "comma-separated host:port to join an existing cluster (default: run a producer node too)")
	cluster := fs.String("cluster", "ingest-demo", "cluster name")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	keep := *out != ""
	if !keep {
		dir, err := os.MkdirTemp("", "leviathan-ingest-")
		if err != nil {
			fmt.Fprintln(stderr, "ingest:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		*out = filepath.Join(dir, "ingest.jsonl")
	}
	app, err := openAppStore(*out, *slow)
	if err != nil {
		fmt.Fprintln(stderr, "ingest:", err)
		return 1
	}
	defer app.Close()

	fast := func(cfg node.Config) node.Config {
		cfg.Cluster, cfg.Addr, cfg.InMemory = *cluster, "127.0.0.1", true
		cfg.GossipVal, cfg.HeartbeatVal, cfg.HealthCheckVal = node.Duration(100*time.Millisecond), node.Duration(100*time.Millisecond), node.Duration(100*time.Millisecond)
		return cfg
	}
	var producer *node.Node
	cfg := fast(node.Config{Alias: "ingest"})
	if *seeds != "" {
		cfg.Seeds = strings.Split(*seeds, ",")
		cfg.GossipVal, cfg.HeartbeatVal, cfg.HealthCheckVal = 0, 0, 0 // the defaults, as the peers use
	} else {
		producer, err = node.New(fast(node.Config{Alias: "producer"}))
		if err == nil {
			err = producer.Start()
		}
		if err != nil {
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
	sub := n.Subscribe(*buffer)
	if err := n.Start(); err != nil {
		fmt.Fprintln(stderr, "ingest:", err)
		return 1
	}
	where := *out
	if !keep {
		where += " (removed at exit; -out FILE keeps it)"
	}
	fmt.Fprintf(stdout, "ingesting into %s\nsubscription buffer %d events, storage takes +%v per batch: expect misses and resyncs\n", where, *buffer, *slow)

	stopProducer := make(chan struct{})
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		if producer != nil {
			produce(producer, stopProducer)
		}
	}()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	var end <-chan time.Time
	if *duration > 0 {
		end = time.After(*duration)
	}
	report := time.NewTicker(2 * time.Second)
	defer report.Stop()

	c := &consumer{n: n, app: app, maxBatch: *maxBatch}
	interrupted := false
loop:
	for {
		select {
		case <-sigs:
			interrupted = true
			break loop
		case <-end:
			break loop
		case <-report.C:
			fmt.Fprintf(stdout, "%s\n", c.summary())
		case ev, ok := <-sub.C:
			if !ok {
				break loop
			}
			if err := c.consume(ev, sub.C); err != nil {
				fmt.Fprintln(stderr, "ingest:", err)
				return 1
			}
		}
	}
	close(stopProducer)
	<-producerDone
	if interrupted || producer == nil {
		fmt.Fprintln(stdout, c.summary())
		return 0
	}
	// The producer has stopped: drain, resync once more and compare.
	deadline := time.Now().Add(15 * time.Second)
	for {
		drained := false
		for !drained {
			select {
			case ev := <-sub.C:
				if err := c.consume(ev, sub.C); err != nil {
					fmt.Fprintln(stderr, "ingest:", err)
					return 1
				}
			default:
				drained = true
			}
		}
		diff := c.compare(producer)
		if diff == "" {
			break
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(stdout, c.summary())
			fmt.Fprintln(stdout, "application storage does NOT match the producer:", diff)
			return 1
		}
		time.Sleep(100 * time.Millisecond)
		if err := c.resync(); err != nil { // catch anything gossip delivered since
			fmt.Fprintln(stderr, "ingest:", err)
			return 1
		}
	}
	fmt.Fprintln(stdout, c.summary())
	fmt.Fprintf(stdout, "application storage matches the producer's %d keys.\n", len(producer.Keys("")))
	return 0
}

// produce writes bursts of keys and deletes some, until stop.
func produce(n *node.Node, stop <-chan struct{}) {
	rng := rand.New(rand.NewSource(1))
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
				_, err = n.Delete(key)
			} else {
				_, err = n.Set(key, []byte(fmt.Sprintf("burst %d #%d", seq, i)))
			}
			if err != nil && !errors.Is(err, node.ErrClosed) {
				fmt.Fprintln(os.Stderr, "producer:", err)
			}
		}
	}
}

// consumer moves a node's changes into the application's storage.
type consumer struct {
	n        *node.Node
	app      *appStore
	maxBatch int
	events   int
	batches  int
	records  int
	misses   uint64
	resyncs  int
}

// consume takes ev and whatever else is already waiting (up to maxBatch
// records), and writes it as one batch. A miss triggers a resync.
func (c *consumer) consume(ev node.Event, more <-chan node.Event) error {
	var batch []record
	missed := false
	take := func(ev node.Event) {
		c.events++
		if ev.Missed > 0 {
			c.misses += ev.Missed
			missed = true
		}
		for _, d := range ev.Deltas { // updates and delete carry deltas; peer events none
			batch = append(batch, record{Peer: d.Peer, Key: d.Key, Value: string(d.Value), Version: d.Version, Deleted: d.Deleted})
		}
	}
	take(ev)
	for drained := false; !drained && len(batch) < c.maxBatch; {
		select {
		case ev, ok := <-more:
			if ok {
				take(ev)
			} else {
				drained = true
			}
		default:
			drained = true
		}
	}
	if err := c.write(batch); err != nil {
		return err
	}
	if missed {
		return c.resync()
	}
	return nil
}

func (c *consumer) write(batch []record) error {
	if len(batch) == 0 {
		return nil
	}
	written, err := c.app.Apply(batch)
	if err != nil {
		return err
	}
	c.batches++
	c.records += written
	return nil
}

// resync re-reads every peer's keys from the node and writes whatever the
// application storage lacks: newer versions, and deletions of keys the
// node no longer has.
func (c *consumer) resync() error {
	c.resyncs++
	var batch []record
	for _, p := range c.n.Peers() {
		live := map[string]bool{}
		for _, k := range c.n.Keys(p.ID) {
			live[k] = true
			v, ok := c.n.Version(p.ID, k)
			val, ok2 := c.n.Get(p.ID, k)
			if ok && ok2 && v > c.app.Version(p.ID, k) {
				batch = append(batch, record{Peer: p.ID, Key: k, Value: string(val), Version: v})
			}
		}
		for k, r := range c.app.keys(p.ID) {
			if !live[k] && !r.Deleted {
				// Gone at the node: deleted. Its tombstone's version is not
				// readable through the API, so mark it deleted at the
				// version we had; a later write still wins.
				batch = append(batch, record{Peer: p.ID, Key: k, Version: r.Version, Deleted: true, resync: true})
			}
		}
	}
	return c.write(batch)
}

// compare reports the first difference between the application storage
// and the producer's own view of its keys ("" when they agree).
func (c *consumer) compare(p *node.Node) string {
	live := map[string]bool{}
	for _, k := range p.Keys("") {
		live[k] = true
		want, _ := p.Version("", k)
		if got := c.app.Version(p.ID(), k); got != want {
			return fmt.Sprintf("%s at version %d, want %d", k, got, want)
		}
	}
	for k, r := range c.app.keys(p.ID()) {
		if !live[k] && !r.Deleted {
			return fmt.Sprintf("%s still present, deleted at the producer", k)
		}
	}
	return ""
}

func (c *consumer) summary() string {
	avg := 0.0
	if c.batches > 0 {
		avg = float64(c.records) / float64(c.batches)
	}
	return fmt.Sprintf("%d events → %d records in %d batches (%.1f per batch); %d events missed, %d resyncs; storage holds %d keys",
		c.events, c.records, c.batches, avg, c.misses, c.resyncs, c.app.Len())
}

// record is one line of the application's JSON-lines storage.
type record struct {
	Peer    string `json:"peer"`
	Key     string `json:"key"`
	Value   string `json:"value,omitempty"`
	Version uint64 `json:"version"`
	Deleted bool   `json:"deleted,omitempty"`
	resync  bool   // a deletion found by a resync: applies at its own version
}

// appStore is the application's own storage: an append-only JSON-lines
// file plus an index of the latest version per (peer, key). Writes are
// idempotent and ordered by version, so replays and resyncs are harmless.
type appStore struct {
	f     *os.File
	w     *bufio.Writer
	slow  time.Duration
	index map[string]map[string]record
}

func openAppStore(path string, slow time.Duration) (*appStore, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &appStore{f: f, w: bufio.NewWriter(f), slow: slow, index: map[string]map[string]record{}}, nil
}

// Apply writes the records newer than what it holds, with one fsync, and
// returns how many it wrote.
func (s *appStore) Apply(batch []record) (int, error) {
	enc := json.NewEncoder(s.w)
	written := 0
	for _, r := range batch {
		old, ok := s.index[r.Peer][r.Key]
		if ok && (r.Version < old.Version || r.Version == old.Version && !r.resync) {
			continue
		}
		if err := enc.Encode(r); err != nil {
			return written, err
		}
		if s.index[r.Peer] == nil {
			s.index[r.Peer] = map[string]record{}
		}
		s.index[r.Peer][r.Key] = r
		written++
	}
	if err := s.w.Flush(); err != nil {
		return written, err
	}
	if err := s.f.Sync(); err != nil {
		return written, err
	}
	time.Sleep(s.slow) // a slower application, so that misses happen
	return written, nil
}

// Version is the version held for a key; a deleted key's is 0.
func (s *appStore) Version(peer, key string) uint64 {
	r, ok := s.index[peer][key]
	if !ok || r.Deleted {
		return 0
	}
	return r.Version
}

func (s *appStore) keys(peer string) map[string]record { return s.index[peer] }

// Len counts the keys held (deleted ones excluded).
func (s *appStore) Len() int {
	k := 0
	for _, m := range s.index {
		for _, r := range m {
			if !r.Deleted {
				k++
			}
		}
	}
	return k
}

func (s *appStore) Close() error {
	if err := s.w.Flush(); err != nil {
		_ = s.f.Close()
		return err
	}
	return s.f.Close()
}
