// Package node is Leviathan's public face: a node that owns key-value
// pairs, replicates every node's pairs by scuttlebutt gossip, watches its
// peers with a phi-accrual failure detector and persists every delta it
// accepts in Badger before telling anyone about it.
//
// # A node
//
// Start from a preset (DefaultConfig on a LAN or in a data centre,
// DefaultLocalConfig on one machine, DefaultWANConfig across regions) or
// from a TOML file (LoadConfig; config.example.toml lists every key), then
// New, Start and, at the end, Close. Config is plain Go: intervals are
// time.Duration, sizes int64 bytes, and a field left zero takes its
// default.
//
//	cfg := node.DefaultConfig()
//	cfg.Alias = "peer1"
//	cfg.Addr = "10.0.0.1"              // this host's IP, as peers reach it
//	cfg.Seeds = []string{"10.0.0.2:7946"}
//	cfg.DataDir = "/var/lib/leviathan" // unset: ./leviathan-data, with a warning in the log
//	n, err := node.New(cfg, node.WithLogger(logger))
//	if err != nil {
//		return err // config errors list every bad field, one per line
//	}
//	if err := n.Start(); err != nil {
//		return err
//	}
//	defer n.Close() // announces the leave, flushes and closes the store
//
// # Writing and reading
//
// A node writes only its own keys; Set returns once the write is durable,
// and gossip carries it to every peer. Any node's keys can be read, by the
// node's id or alias ("self" or "" for this node). Values are copied in
// and out: neither side keeps the other's slice.
//
//	v, err := n.Set(ctx, "greeting", []byte("hello")) // version v
//	e, err := n.Get(ctx, "peer2", "greeting")         // e.Value (a copy), e.Version;
//	                                                  // ErrUnknownPeer or ErrNotFound
//	keys, err := n.Keys(ctx, "peer2")                 // sorted; Scan streams them
//	_, err = n.Delete(ctx, "greeting")                // a tombstone that replicates
//
// # Contexts
//
// Every call that can wait on the disk or the network takes a context
// first: writes, reads of the store, Changes, Join and WaitContact. A
// write's context counts until the write is taken into a group commit:
// ended before, the write is dropped and its error returned; after, the
// write is already being persisted, and Set returns the batch's outcome
// (see Set). A read checks its context before reading; Scan and Keys also
// every few hundred keys. Calls that only read memory or queue datagrams
// (Peers, Leave, Subscribe) take none, and Close is an io.Closer.
//
// # Errors
//
// Errors worth telling apart are variables of this package, for
// errors.Is: ErrConfig, ErrIDMismatch and ErrCorrupt from New;
// ErrNotFound and ErrUnknownPeer from reads; ErrBadKey, ErrValueTooLarge,
// ErrDiskFull, ErrLeft, ErrStoreFailed and ErrRecovering (retry shortly)
// from writes; ErrClosed after Close; and a context's own error, wrapped,
// when the context a call was given ends. Those that come from other
// packages (sync, store) are the same values under this package's name,
// so a caller imports only node.
//
// # Events
//
// Subscribe delivers peers' updates and deletes (already durable) and peer
// state changes (discover, suspend, recover, dead, leave, remove), without
// ever blocking gossip: a subscriber that falls behind loses events and is
// told how many in Missed, and re-reads the store.
//
//	sub := n.Subscribe(1024)
//	defer sub.Close()
//	for ev := range sub.C {
//		switch ev.Type {
//		case node.EventUpdates, node.EventDelete:
//			for _, d := range ev.Deltas {
//				fmt.Println(d.Peer, d.Key, string(d.Value), d.Version)
//			}
//		default:
//			fmt.Println(ev.Type, ev.Peers) // peers_suspend [peer3]
//		}
//	}
//
// # Membership
//
// Seeds come from the configuration, or at run time from Join, which
// contacts them at once; a seed whose name does not resolve yet, or that
// does not answer yet, is retried, it does not stop the node. WaitContact
// (or the channel of Contacted) says when the node first holds a peer
// alive, whichever seeds brought it. Close announces a leave, so peers
// mark the node left rather than failed; Leave does the same and keeps
// the node open for reads until Close.
//
//	err = n.Join(ctx, "10.0.0.7:7946") // optional: cfg.Seeds are contacted too
//	err = n.WaitContact(ctx)           // nil once a peer is alive here
//	err = n.Leave()                    // then writes return ErrLeft
//
// # Admin API and status page
//
// The node serves no HTTP itself. Package node/admin is its admin API as
// an http.Handler: key-value reads and writes, peers, status, a
// server-sent events stream, Prometheus metrics (Gatherer) and a live
// status page. An application mounts admin.New(n, admin.ConfigFrom(cfg))
// on its own server, or runs admin.Serve on an address such as
// http_addr, which this package only validates.
//
// # Examples
//
// The Example functions of this package (ExampleNew, ExampleParseConfig,
// ExampleDefaultLocalConfig, ExampleNode_Subscribe, ExampleNode_Get,
// ExampleNode_Join, ExampleWithMetrics in example_test.go) run as tests
// with checked output; pkg.go.dev shows them, go doc does not, which is
// why the essentials are repeated above.
// examples/peer is a node with a console, examples/ingest an application
// consuming updates into its own storage.
//
// The protocol itself lives in the pure packages sync (scuttlebutt) and
// health (phi accrual), and the logic around them in internal/engine,
// which the simulator runs too; this package owns the goroutines, timers,
// sockets and the store that drive the engine (see gossip.go).
package node
