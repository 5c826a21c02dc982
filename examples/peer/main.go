// Command peer runs one Leviathan node with a console: start four of them
// in four terminals and watch values spread, peers get suspended and
// recover.
//
//	go run ./examples/peer -config examples/peer1.toml
//
// Commands on stdin: set KEY VALUE, del KEY, get PEER KEY, keys PEER,
// peers, status, help. PEER is an id or alias; "self" is this node.
// Log lines go to stderr, in colour only on a terminal. LEVIATHAN_<KEY>
// variables override the file's keys (node.LoadConfigEnv).
//
// The same binary is a client of a running peer's admin API:
//
//	peer get|set|del|peers|status|changes -http ADDR [-token T] [args]
//
// and it makes node keys and a cluster CA's certificates (peer ca, peer
// key; see docs/security.md).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/leviathan-gossip/leviathan/node"
	"github.com/leviathan-gossip/leviathan/node/admin"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if _, ok := clientCommands[args[0]]; ok {
			return runClient(args[0], args[1:], stdout, stderr)
		}
		if cmd, ok := identityCommands[args[0]]; ok {
			return cmd(args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("peer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "TOML config file (see config.example.toml); LEVIATHAN_<KEY> variables override it")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: peer -config FILE")
		fmt.Fprint(stderr, clientUsage)
		fmt.Fprint(stderr, identityUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "peer: -config is required, e.g. -config examples/peer1.toml")
		return 2
	}
	cfg, err := node.LoadConfigEnv(*path)
	if err != nil {
		fmt.Fprintln(stderr, "peer:", err)
		return 2
	}
	zerolog.TimeFieldFormat = zerolog.TimeFormatUnixMs // milliseconds in the console's times
	log := newLogger(stderr, cfg.Level())

	n, err := node.New(cfg, node.WithLogger(log))
	if err != nil {
		fmt.Fprintln(stderr, "peer:", err)
		return 1
	}
	log = nodeLogger(log, n.ID())
	sub := n.Subscribe(1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		logEvents(log, sub)
	}()
	// The node serves no HTTP: this program serves its admin API on
	// http_addr, as any application embedding a node would. Listening
	// first lets a busy address stop the peer before it joins.
	api := "admin API off (set http_addr)"
	var srv *admin.Server
	if cfg.HTTPAddr != "" {
		if srv, err = admin.Serve(n, admin.ConfigFrom(n.Config()), cfg.HTTPAddr); err != nil {
			fmt.Fprintln(stderr, "peer: http_addr:", err)
			_ = n.Close()
			<-done
			return 1
		}
		api = "admin API on http://" + srv.Addr()
	}
	if err := n.Start(); err != nil {
		fmt.Fprintln(stderr, "peer:", err)
		if srv != nil {
			_ = srv.Close()
		}
		_ = n.Close()
		<-done
		return 1
	}
	fmt.Fprintf(stdout, "%s listening on %s, %s — type 'help'\n", n.ID(), n.Addr(), api)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	lines := make(chan string)
	go readLines(stdin, lines)

	for {
		select {
		case s := <-sigs:
			log.Info().Str("signal", s.String()).Msg("shutting down")
			var errs []error
			if srv != nil {
				errs = append(errs, srv.Close())
			}
			errs = append(errs, n.Close())
			<-done
			if err := errors.Join(errs...); err != nil {
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

// newLogger writes human-readable lines to w, in colour only when w is a
// terminal (and NO_COLOR is unset): a log file or a pipe gets no ANSI codes.
func newLogger(w io.Writer, level zerolog.Level) zerolog.Logger {
	_, noColor := os.LookupEnv("NO_COLOR")
	out := zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000", NoColor: noColor || !isTerminal(w)}
	return zerolog.New(out).Level(level).With().Timestamp().Logger()
}

// nodeLogger tags the console's own lines (updates, deletes, shutdown)
// with node=<id>, as the node tags its lines.
func nodeLogger(log zerolog.Logger, id string) zerolog.Logger {
	return log.With().Str("node", id).Logger()
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
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

// abbreviate renders a value for one log line: text cut at 60 bytes,
// other bytes as their count (a terminal is no place for them).
func abbreviate(v []byte) string {
	if !utf8.Valid(v) {
		return fmt.Sprintf("(%d bytes, not text)", len(v))
	}
	if len(v) > 60 {
		cut := 60
		for cut > 0 && !utf8.RuneStart(v[cut]) {
			cut-- // not inside a character
		}
		return string(v[:cut]) + "…"
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
	// A command runs to its end: the console reads the next line after.
	ctx := context.Background()
	switch {
	case f[0] == "set" && len(f) >= 3:
		value := strings.Join(f[2:], " ")
		v, err := n.Set(ctx, f[1], []byte(value))
		report(out, err, "%s = %s (version %d)", f[1], value, v)
	case f[0] == "del" && len(f) == 2:
		v, err := n.Delete(ctx, f[1])
		report(out, err, "%s deleted (version %d)", f[1], v)
	case f[0] == "get" && len(f) == 3:
		e, err := n.Get(ctx, peer(f[1]), f[2])
		switch {
		case errors.Is(err, node.ErrUnknownPeer):
			fmt.Fprintf(out, "unknown peer %s (see 'peers')\n", f[1])
		case errors.Is(err, node.ErrNotFound):
			fmt.Fprintf(out, "%s has no key %s\n", f[1], f[2])
		case err != nil:
			fmt.Fprintf(out, "error: %v\n", err)
		default:
			fmt.Fprintf(out, "%s = %s (version %d)\n", f[2], e.Value, e.Version)
		}
	case f[0] == "keys" && len(f) == 2:
		keys, err := n.Keys(ctx, peer(f[1]))
		switch {
		case errors.Is(err, node.ErrUnknownPeer):
			fmt.Fprintf(out, "unknown peer %s (see 'peers')\n", f[1])
			return
		case err != nil:
			fmt.Fprintf(out, "error: %v\n", err)
			return
		}
		fmt.Fprintf(out, "%d keys: %s\n", len(keys), strings.Join(keys, " "))
	case f[0] == "peers":
		peers := n.Peers()
		if len(peers) == 0 {
			fmt.Fprintln(out, "no peers yet")
		}
		for _, p := range peers {
			fmt.Fprintf(out, "%-12s %-22s %-9s phi=%5.2f heard=%-6s heartbeat=%d boot=%d generation=%d max_version=%d keys=%d\n",
				p.Alias, p.Addr, p.State, p.Phi, heard(p.LastHeard), p.Heartbeat, p.Boot, p.Generation, p.MaxVersion, p.Keys)
		}
	case f[0] == "status":
		s := n.Status()
		disk := ", store in memory"
		if s.Store != nil && (s.DataDir != "" || s.Store.DiskBytes > 0) {
			disk = fmt.Sprintf(", store %s on disk", humanBytes(s.Store.DiskBytes))
			if s.DataDir != "" {
				disk += " in " + s.DataDir
			}
		}
		fmt.Fprintf(out, "%s (%s) generation %d, boot %d, heartbeat %d, max version %d, %d keys, %d peers, up %s%s\n",
			s.ID, s.Addr, s.Generation, s.Boot, s.Heartbeat, s.MaxVersion, s.Keys, s.Peers, s.Uptime.Round(time.Second), disk)
	default:
		fmt.Fprintln(out, "commands: set KEY VALUE | del KEY | get PEER KEY | keys PEER | peers | status   (PEER: id, alias or self)")
	}
}

// heard renders how long ago a peer was last heard ("-" for never).
func heard(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// humanBytes renders a size as du -h would, in powers of 1024.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
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
