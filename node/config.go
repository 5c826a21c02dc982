package node

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// Config is a node's configuration, built in code or read from TOML
// (LoadConfig). The zero value of a field means its default (see
// DefaultConfig); config.example.toml documents every key. In TOML, an
// interval is milliseconds (1000) or a Go duration ("1s"), and a size is
// bytes or a string with a unit ("256MiB").
type Config struct {
	// Identity and membership.
	ID      string   `toml:"id"`      // stable node id; default alias, else addr:port
	Alias   string   `toml:"alias"`   // human-readable name; default the id
	Cluster string   `toml:"cluster"` // nodes only gossip within one cluster name
	Seeds   []string `toml:"seeds"`   // host:port of nodes to join through

	// Network.
	Addr string `toml:"addr"` // IP or host peers reach this node at (advertised); also bound unless bind_addr is set
	// BindAddr is the IP or host the sockets listen on, when it is not
	// addr: "0.0.0.0" or "::" (which takes IPv4 as well) to listen on every
	// interface, as in a container or behind NAT, where addr is the
	// address peers see. Empty: addr.
	BindAddr       string `toml:"bind_addr"`
	Port           int    `toml:"port"`             // UDP and TCP port; 0 picks a free one
	MTU            int    `toml:"mtu"`              // largest datagram payload
	MaxMessageSize int    `toml:"max_message_size"` // largest message on the stream path
	// HTTPAddr is where the admin API is served. The node serves no HTTP
	// itself: it is for the program that mounts package node/admin
	// (examples/peer serves it there); empty: not served.
	HTTPAddr string `toml:"http_addr"`

	// Admin API hardening, read by package node/admin (admin.ConfigFrom).
	HTTPAllowedHosts []string `toml:"http_allowed_hosts"` // Host names answered besides loopback, addr and http_addr
	HTTPToken        string   `toml:"http_token"`         // bearer token for writes and value reads; empty: none
	HTTPMaxSSE       int      `toml:"http_max_sse"`       // concurrent GET /events streams

	// Security: shared AES-GCM keys, base64; the first seals, all open.
	EncryptKeys     []string `toml:"encrypt_keys"`
	EncryptKeysFile string   `toml:"encrypt_keys_file"` // one base64 key per line, first is primary

	// Node identity (docs/security.md, "Node identity"): this node's
	// ed25519 key and which keys speak for which node ids.
	KeyFile  string `toml:"key_file"`  // private key, PEM; created on first start; outside data_dir
	CertFile string `toml:"cert_file"` // this node's certificate by a CA of trusted_ca
	// TrustedCA lists the cluster CA public keys: each the base64 of the
	// key's 32 bytes, or the path of a public key file (PEM or base64).
	TrustedCA []string `toml:"trusted_ca"`
	// TrustedKeys pins, for each node id, the base64 public keys trusted
	// for it (several during a key rotation). Not with TrustedCA.
	TrustedKeys map[string][]string `toml:"trusted_keys"`
	RevokedKeys []string            `toml:"revoked_keys"` // base64 public keys refused whatever vouches for them
	// Signed makes every node's address, generation, alias and leave
	// change only through its own signed node record, and its heartbeats
	// count only with the proofs of the chain that record commits to;
	// needs key_file and a trust mode. All nodes of a cluster sign, or
	// none.
	Signed bool `toml:"signed"`

	// Storage.
	DataDir    string `toml:"data_dir"`    // Badger directory; unset: ./leviathan-data, with a warning
	InMemory   bool   `toml:"in_memory"`   // keep nothing on disk (tests, demos)
	SyncWrites bool   `toml:"sync_writes"` // fsync every batch

	// MemoryLimit is the Go runtime's soft memory limit for the process
	// (runtime/debug.SetMemoryLimit) in bytes, set by Start. 0 leaves the
	// runtime's default (no limit); GOMEMLIMIT in the environment takes
	// precedence. It bounds the heap that Badger's transient buffers
	// (memtables, table builders of flushes and compactions) and decoded
	// messages grow to: the collector runs more often instead of letting
	// the heap double.
	MemoryLimit int64 `toml:"memory_limit"`
	// MinFreeDisk is the free space in bytes kept on the data directory's
	// file system (0: the default 128 MiB, negative: off). Below it local
	// writes fail with ErrDiskFull and peers' data is refused, while the
	// node keeps gossiping: Badger out of space may crash instead of
	// failing a write.
	MinFreeDisk int64 `toml:"min_free_disk"`

	// Intervals.
	GossipVal      time.Duration `toml:"gossip_val"`       // one gossip round per interval
	HeartbeatVal   time.Duration `toml:"heartbeat_val"`    // local heartbeat bumped per interval
	HealthCheckVal time.Duration `toml:"health_check_val"` // peer states re-evaluated per interval
	ReduceVal      time.Duration `toml:"reduce_val"`       // tombstone collection interval
	Fanout         int           `toml:"fanout"`           // live peers gossiped to per round

	// Deletes, dead peers and leaving.
	TombstoneGrace time.Duration `toml:"tombstone_grace"` // deleted keys' tombstones kept this long
	DeadGrace      time.Duration `toml:"dead_grace"`      // dead this long -> removed with its data
	KeepDeadPeers  bool          `toml:"keep_dead_peers"` // never remove dead peers or their data
	SkipLeave      bool          `toml:"skip_leave"`      // Close without announcing a leave

	// Failure detection (phi accrual).
	PhiThreshold       float64       `toml:"phi_threshold"`
	PhiWindow          int           `toml:"phi_window"`
	PhiInitialInterval time.Duration `toml:"phi_initial_interval"`
	PhiMaxInterval     time.Duration `toml:"phi_max_interval"`
	PhiAcceptablePause time.Duration `toml:"phi_acceptable_pause"`
	DeadAfter          time.Duration `toml:"dead_after"`
	// Monitoring: each node beats straight to Monitors peers (0: the
	// default 5; negative: off, phi over relayed heartbeats),
	// which suspect it above PhiDirectThreshold and vote; a majority of
	// its monitors suspends it everywhere. A node suspects a peer it does
	// not monitor on its own only when phi over its relayed heartbeats
	// passes 4 × phi_threshold.
	Monitors int `toml:"monitors"`
	// MaxPeers caps the nodes this node knows at once, itself and ids
	// only heard of included (0: the default 16384, negative: no cap): a
	// flood of made-up ids stops there, logged and counted
	// (leviathan_rejected_total{reason="peer_limit"}).
	MaxPeers           int     `toml:"max_peers"`
	PhiDirectThreshold float64 `toml:"phi_direct_threshold"`
	// QuietFanout is the fanout of a round with nothing new to spread (no
	// data changed within 30 rounds, no member joining or back within 5,
	// no vote): 0 means the default 1, negative always fanout and full
	// digests. Such rounds send a summary of the digest (about 30 bytes)
	// instead of a full datagram, answered only by a peer out of step.
	QuietFanout int `toml:"quiet_fanout"`
	// PushFanout is how many live peers a committed write (local, or new
	// from a push) is pushed to at once, rather than waiting for rounds
	// (docs/design.md, "Eager push"): 0 means the default 5, negative
	// leaves writes to the rounds.
	PushFanout int `toml:"push_fanout"`
	// MaxWriteLag is write flow control's threshold, in records: when the
	// live peers (at the 0.75 quantile) lack more than this many of this
	// node's records, local writes are rate-limited, the rate cut while
	// the backlog grows and raised once it is back under (docs/design.md,
	// "Write flow control"). 0 means the default 2000; negative turns flow
	// control off.
	MaxWriteLag int `toml:"max_write_lag"`

	// Limits on keys and values, local and received.
	MaxKeySize   int `toml:"max_key_size"`
	MaxValueSize int `toml:"max_value_size"`

	LogLevel string `toml:"log_level"` // trace, debug, info, warn, error

	// dataDirDefaulted records that New chose DataDir, so that it says so.
	dataDirDefaulted bool
}

// DefaultConfig is for nodes on one LAN or in one data centre (1 s rounds,
// a crashed peer suspected within about 8 s); its values are also the
// defaults of fields left zero.
func DefaultConfig() Config {
	return Config{
		Cluster:            "leviathan",
		Addr:               "127.0.0.1",
		Port:               7946,
		MTU:                1400,
		MaxMessageSize:     4 << 20,
		DataDir:            "leviathan-data",
		GossipVal:          time.Second,
		HeartbeatVal:       time.Second,
		HealthCheckVal:     time.Second,
		ReduceVal:          10 * time.Second,
		TombstoneGrace:     time.Hour,
		DeadGrace:          24 * time.Hour,
		Fanout:             3,
		PhiThreshold:       8,
		PhiWindow:          1000,
		PhiInitialInterval: 2 * time.Second,
		PhiMaxInterval:     10 * time.Second,
		DeadAfter:          30 * time.Second,
		Monitors:           5,
		MaxPeers:           16384,
		MinFreeDisk:        128 << 20,
		PhiDirectThreshold: 4,
		QuietFanout:        1,
		PushFanout:         5,
		MaxWriteLag:        DefaultMaxWriteLag,
		MaxKeySize:         4 << 10,
		MaxValueSize:       1 << 20,
		HTTPMaxSSE:         64,
		LogLevel:           "info",
	}
}

// DefaultLocalConfig is for nodes on one machine (tests, demos): five times
// faster than DefaultConfig, a crashed peer suspected within about 2 s.
func DefaultLocalConfig() Config {
	c := DefaultConfig()
	c.GossipVal = 200 * time.Millisecond
	c.HeartbeatVal = 200 * time.Millisecond
	c.HealthCheckVal = 200 * time.Millisecond
	c.PhiInitialInterval = 400 * time.Millisecond
	c.PhiMaxInterval = 2 * time.Second
	c.DeadAfter = 10 * time.Second
	return c
}

// DefaultWANConfig is for nodes across regions: slower rounds and a
// detector that rides out jitter, a crashed peer suspected within about 30 s.
func DefaultWANConfig() Config {
	c := DefaultConfig()
	c.GossipVal = 2 * time.Second
	c.HeartbeatVal = 2 * time.Second
	c.HealthCheckVal = 2 * time.Second
	c.PhiThreshold = 12
	c.PhiInitialInterval = 5 * time.Second
	c.PhiMaxInterval = 30 * time.Second
	c.PhiAcceptablePause = 3 * time.Second
	c.DeadAfter = 2 * time.Minute
	return c
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid config")

// LoadConfig reads a TOML file over the defaults and validates it. Unknown
// keys are errors: a misspelt key silently taking its default is worse.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(string(data), path)
}

// ParseConfig parses TOML text over the defaults and validates it; name
// is used in messages. Every problem is reported, one line each: unknown
// keys (with the nearest real key), values of the wrong type and values
// out of range, so that one edit fixes a file.
func ParseConfig(text, name string) (Config, error) {
	cfg := DefaultConfig()
	errs, err := decodeFields(text, &cfg)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w: %v", name, ErrConfig, err)
	}
	errs = append(errs, cfg.problems()...)
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("config %s: %w:\n  %w", name, ErrConfig, joinLines(errs))
	}
	return cfg, nil
}

// withDefaults fills zero fields of a Config built in code.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setDefault(&c.Cluster, d.Cluster)
	setDefault(&c.Addr, d.Addr)
	setDefault(&c.MTU, d.MTU)
	setDefault(&c.MaxMessageSize, d.MaxMessageSize)
	if c.DataDir == "" && !c.InMemory {
		c.DataDir, c.dataDirDefaulted = d.DataDir, true
	}
	setDefault(&c.GossipVal, d.GossipVal)
	setDefault(&c.HeartbeatVal, d.HeartbeatVal)
	setDefault(&c.HealthCheckVal, d.HealthCheckVal)
	setDefault(&c.ReduceVal, d.ReduceVal)
	setDefault(&c.TombstoneGrace, d.TombstoneGrace)
	setDefault(&c.DeadGrace, d.DeadGrace)
	setDefault(&c.PhiInitialInterval, d.PhiInitialInterval)
	setDefault(&c.PhiMaxInterval, d.PhiMaxInterval)
	setDefault(&c.DeadAfter, d.DeadAfter)
	setDefault(&c.Monitors, d.Monitors)
	setDefault(&c.MaxPeers, d.MaxPeers)
	setDefault(&c.MinFreeDisk, d.MinFreeDisk)
	setDefault(&c.PhiDirectThreshold, d.PhiDirectThreshold)
	setDefault(&c.QuietFanout, d.QuietFanout)
	setDefault(&c.PushFanout, d.PushFanout)
	setDefault(&c.MaxWriteLag, d.MaxWriteLag)
	setDefault(&c.Fanout, d.Fanout)
	setDefault(&c.PhiThreshold, d.PhiThreshold)
	setDefault(&c.PhiWindow, d.PhiWindow)
	setDefault(&c.MaxKeySize, d.MaxKeySize)
	setDefault(&c.MaxValueSize, d.MaxValueSize)
	setDefault(&c.HTTPMaxSSE, d.HTTPMaxSSE)
	setDefault(&c.LogLevel, d.LogLevel)
	return c
}

// setDefault sets *dst to def if it is the zero value.
func setDefault[T comparable](dst *T, def T) {
	var zero T
	if *dst == zero {
		*dst = def
	}
}

// Validate checks every field and reports each bad one on its own line.
func (c Config) Validate() error {
	errs := c.problems()
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w:\n  %w", ErrConfig, joinLines(errs))
}

// problems lists what is wrong with the configuration, one error per bad
// field, each starting with the field's name.
func (c Config) problems() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if c.Cluster == "" {
		bad("cluster", "must not be empty")
	}
	if msg := addrProblem(c.Addr); msg != "" {
		bad("addr", "%s", msg)
	}
	if msg := bindAddrProblem(c.BindAddr, c.Addr); msg != "" {
		bad("bind_addr", "%s", msg)
	}
	if c.Port < 0 || c.Port > 65535 {
		bad("port", "%d is out of range 0-65535", c.Port)
	}
	for i, s := range c.Seeds {
		if _, _, err := splitSeed(s); err != nil {
			bad(fmt.Sprintf("seeds[%d]", i), "%v", err)
		}
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			bad("http_addr", "%q is not host:port: %v", c.HTTPAddr, err)
		}
	}
	c.validateHTTP(bad)
	if c.MTU < 512 || c.MTU > 65507 {
		bad("mtu", "%d is out of range 512-65507", c.MTU)
	}
	minMsg := c.MaxKeySize + c.MaxValueSize + 1024
	if c.MaxMessageSize < minMsg || c.MaxMessageSize > 64<<20 {
		bad("max_message_size", "%d must be between %d (largest key + value + 1 KiB) and 64 MiB", c.MaxMessageSize, minMsg)
	}
	if c.MaxKeySize < 1 || c.MaxKeySize > 64<<10 {
		bad("max_key_size", "%d is out of range 1-65536", c.MaxKeySize)
	}
	if c.MaxValueSize < 0 || c.MaxValueSize > 16<<20 {
		bad("max_value_size", "%d is out of range 0-16 MiB", c.MaxValueSize)
	}
	if !c.InMemory && c.DataDir == "" {
		bad("data_dir", "must be set unless in_memory = true")
	}
	switch {
	case c.MemoryLimit < 0:
		bad("memory_limit", "%d bytes must not be negative", c.MemoryLimit)
	case c.MemoryLimit > 0 && c.MemoryLimit < minMemoryLimit:
		bad("memory_limit", "%d bytes must be 0 (no limit) or at least 64 MiB", c.MemoryLimit)
	}
	for _, iv := range []struct {
		name string
		d    time.Duration
		min  time.Duration
	}{
		{"gossip_val", c.GossipVal, time.Millisecond},
		// Peers believe a relayed heartbeat rises at most once per 10 ms
		// (sync's claims.go): a faster node would look stalled to them.
		{"heartbeat_val", c.HeartbeatVal, 10 * time.Millisecond},
		{"health_check_val", c.HealthCheckVal, time.Millisecond},
		{"reduce_val", c.ReduceVal, time.Millisecond},
		{"tombstone_grace", c.TombstoneGrace, time.Millisecond},
		{"dead_grace", c.DeadGrace, time.Millisecond},
		{"phi_initial_interval", c.PhiInitialInterval, time.Millisecond},
		{"phi_max_interval", c.PhiMaxInterval, time.Millisecond},
		{"dead_after", c.DeadAfter, time.Millisecond},
	} {
		if iv.d < iv.min || iv.d > 24*time.Hour*365 {
			bad(iv.name, "%v must be between %v and a year", iv.d, iv.min)
		}
	}
	if c.MaxPeers >= 0 && c.MaxPeers < 2 {
		bad("max_peers", "%d must be negative (no cap) or at least 2", c.MaxPeers)
	}
	if c.PhiAcceptablePause < 0 {
		bad("phi_acceptable_pause", "%v must not be negative", c.PhiAcceptablePause)
	}
	if c.MaxWriteLag > 1<<40 {
		bad("max_write_lag", "%d records is out of range (at most 2^40; negative turns flow control off)", c.MaxWriteLag)
	}
	if c.Fanout < 1 || c.Fanout > 64 {
		bad("fanout", "%d is out of range 1-64", c.Fanout)
	}
	if !(c.PhiThreshold > 0) || math.IsInf(c.PhiThreshold, 0) {
		bad("phi_threshold", "%v must be a positive number", c.PhiThreshold)
	}
	if !(c.PhiDirectThreshold > 0) || math.IsInf(c.PhiDirectThreshold, 0) {
		bad("phi_direct_threshold", "%v must be a positive number", c.PhiDirectThreshold)
	}
	if c.Monitors > 64 {
		bad("monitors", "%d is out of range (at most 64; negative turns monitoring off)", c.Monitors)
	}
	if c.PhiWindow < 1 || c.PhiWindow > 100000 {
		bad("phi_window", "%d is out of range 1-100000", c.PhiWindow)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		bad("log_level", "%v", err)
	}
	for _, f := range []struct{ name, v string }{{"id", c.ID}, {"alias", c.Alias}, {"cluster", c.Cluster}} {
		if len(f.v) > lsync.DefaultLimits.MaxIDBytes {
			bad(f.name, "is %d bytes, at most %d", len(f.v), lsync.DefaultLimits.MaxIDBytes)
		}
	}
	errs = append(errs, c.validateKeys(bad)...)
	return append(errs, c.validateIdentity(bad)...)
}

// addrProblem explains what is wrong with a bind address, or returns "".
// The address is a bare host or IP: the port is its own key, and an IPv6
// address is written without brackets (they are added where a port joins it).
func addrProblem(addr string) string {
	switch {
	case addr == "":
		return "must not be empty"
	case strings.HasPrefix(addr, "["):
		return fmt.Sprintf("%q: write an IPv6 address without brackets (%s); the port goes in port", addr, strings.Trim(addr, "[]"))
	}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		return fmt.Sprintf("%q: give the host alone (%s) and the port as port = %s", addr, host, port)
	}
	if ip := net.ParseIP(addr); ip != nil && ip.IsUnspecified() {
		return fmt.Sprintf("%s is not an address peers can reach; give the IP peers reach this node at, and bind_addr = %q to listen on every interface", addr, addr)
	}
	return ""
}

// bindAddrProblem explains what is wrong with bind_addr, or returns "".
// Unlike addr it may be a wildcard. The sockets must receive what peers
// send to addr, so the families must match, except for "::", which
// listens for both.
func bindAddrProblem(bind, addr string) string {
	if bind == "" {
		return ""
	}
	if msg := addrProblem(bind); msg != "" && !isUnspecified(bind) {
		return msg
	}
	b, errB := netip.ParseAddr(bind)
	a, errA := netip.ParseAddr(addr)
	if errB != nil || errA != nil || b == netip.IPv6Unspecified() || b.Unmap().Is4() == a.Unmap().Is4() {
		return ""
	}
	if b.Unmap().Is4() {
		return fmt.Sprintf("%s is IPv4 but addr %s is IPv6; use \"::\" to listen on every interface", bind, addr)
	}
	return fmt.Sprintf("%s is IPv6 but addr %s is IPv4; give an IPv4 address, or \"::\" for every interface", bind, addr)
}

// isUnspecified reports whether s is the IPv4 or IPv6 wildcard address.
func isUnspecified(s string) bool {
	ip, err := netip.ParseAddr(s)
	return err == nil && ip.IsUnspecified()
}

// joinLines joins errors one per indented line.
func joinLines(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}

// splitSeed checks a seed's host:port form; IPv6 hosts are bracketed.
func splitSeed(s string) (string, int, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port (IPv6 as [::1]:7946): %v", s, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", 0, fmt.Errorf("%q: port %q is not 1-65535", s, port)
	}
	if host == "" {
		return "", 0, fmt.Errorf("%q has no host", s)
	}
	return host, p, nil
}

// advertised is the host:port peers reach this node at.
func (c Config) advertised() string { return net.JoinHostPort(c.Addr, strconv.Itoa(c.Port)) }

// nodeID is the configured id, else the alias, else the address.
func (c Config) nodeID(addr string) string {
	switch {
	case c.ID != "":
		return c.ID
	case c.Alias != "":
		return c.Alias
	}
	return addr
}
