// Command peer runs one Leviathan node with a console: start four of them
// in four terminals and watch values spread, peers get suspended and
// recover.
//
//	go run ./examples/peer -config examples/peer1.toml
//
// Commands on stdin: set KEY VALUE, del KEY, get PEER KEY, keys PEER,
// peers, status, help. PEER is an id or alias; "self" is this node.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/leviathan-gossip/leviathan/node"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("peer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "TOML config file (see config.example.toml)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "peer: -config is required, e.g. -config examples/peer1.toml")
		return 2
	}
	cfg, err := node.LoadConfig(*path)
	if err != nil {
		fmt.Fprintln(stderr, "peer:", err)
		return 2
	}
	zerolog.TimeFieldFormat = zerolog.TimeFormatUnixMs
	log := zerolog.New(zerolog.ConsoleWriter{Out: stderr, TimeFormat: "15:04:05.000"}).
		Level(cfg.Level()).With().Timestamp().Logger()

	n, err := node.New(cfg, node.WithLogger(log))
	if err != nil {
		fmt.Fprintln(stderr, "peer:", err)
		return 1
	}
	sub := n.Subscribe(1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		logEvents(log, sub)
	}()
	if err := n.Start(); err != nil {
		fmt.Fprintln(stderr, "peer:", err)
		_ = n.Close()
		<-done
		return 1
	}
	fmt.Fprintf(stdout, "%s listening on %s, admin API on http://%s — type 'help'\n", n.ID(), n.Addr(), n.HTTPAddr())

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	lines := make(chan string)
	go readLines(stdin, lines)

	for {
		select {
		case s := <-sigs:
			log.Info().Str("signal", s.String()).Msg("shutting down")
			err := n.Close()
			<-done
			if err != nil {
				fmt.Fprintln(stderr, "peer:", err)
				return 1
			}
			return 0
		case line, ok := <-lines:
			if !ok {
				lines = nil // stdin closed: keep running until a signal
				continue
			}
			command(n, line, stdout)
		}
	}
}

// readLines feeds stdin lines to out; it ends with stdin, and the process
// ends it otherwise (a blocked read cannot be interrupted portably).
func readLines(r io.Reader, out chan<- string) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		out <- sc.Text()
	}
	close(out)
}

func logEvents(log zerolog.Logger, sub *node.Subscription) {
	for ev := range sub.C {
		if ev.Missed > 0 {
			log.Warn().Uint64("missed", ev.Missed).Msg("events dropped: console too slow")
		}
		switch ev.Type {
		case node.EventUpdates, node.EventDelete:
			for i, d := range ev.Deltas {
				if i == 20 {
					log.Info().Int("more", len(ev.Deltas)-i).Msg(ev.Type.String())
					break
				}
				e := log.Info().Str("peer", d.Peer).Str("key", d.Key).Uint64("version", d.Version)
				if !d.Deleted {
					e = e.Str("value", abbreviate(d.Value))
				}
				e.Msg(ev.Type.String())
			}
		default:
			// Peer state changes: the node logs them itself, one line per
			// peer with alias, generation and address.
		}
	}
}

func abbreviate(v []byte) string {
	if len(v) > 60 {
		return string(v[:60]) + "…"
	}
	return string(v)
}

func command(n *node.Node, line string, out io.Writer) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return
	}
	peer := func(s string) string {
		if s == "self" {
			return ""
		}
		return s
	}
	switch {
	case f[0] == "set" && len(f) >= 3:
		value := strings.Join(f[2:], " ")
		v, err := n.Set(f[1], []byte(value))
		report(out, err, "%s = %s (version %d)", f[1], value, v)
	case f[0] == "del" && len(f) == 2:
		v, err := n.Delete(f[1])
		report(out, err, "%s deleted (version %d)", f[1], v)
	case f[0] == "get" && len(f) == 3:
		val, ok := n.Get(peer(f[1]), f[2])
		ver, _ := n.Version(peer(f[1]), f[2])
		if !ok {
			fmt.Fprintf(out, "%s has no key %s\n", f[1], f[2])
			return
		}
		fmt.Fprintf(out, "%s = %s (version %d)\n", f[2], val, ver)
	case f[0] == "keys" && len(f) == 2:
		keys := n.Keys(peer(f[1]))
		fmt.Fprintf(out, "%d keys: %s\n", len(keys), strings.Join(keys, " "))
	case f[0] == "peers":
		peers := n.Peers()
		if len(peers) == 0 {
			fmt.Fprintln(out, "no peers yet")
		}
		for _, p := range peers {
			fmt.Fprintf(out, "%-12s %-22s %-9s phi=%5.2f heartbeat=%d max_version=%d keys=%d\n",
				p.Alias, p.Addr, p.State, p.Phi, p.Heartbeat&(1<<32-1), p.MaxVersion, p.Keys)
		}
	case f[0] == "status":
		s := n.Status()
		fmt.Fprintf(out, "%s (%s) generation %d, max version %d, %d keys, %d peers, up %s\n",
			s.ID, s.Addr, s.Generation, s.MaxVersion, s.Keys, s.Peers, s.Uptime.Round(time.Second))
	default:
		fmt.Fprintln(out, "commands: set KEY VALUE | del KEY | get PEER KEY | keys PEER | peers | status   (PEER: id, alias or self)")
	}
}

func report(out io.Writer, err error, format string, args ...any) {
	if err != nil {
		if errors.Is(err, node.ErrClosed) {
			fmt.Fprintln(out, "node is closing")
			return
		}
		fmt.Fprintln(out, "error:", err)
		return
	}
	fmt.Fprintf(out, format+"\n", args...)
}
