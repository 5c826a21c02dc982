package node

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"
	gosync "sync"
	"time"

	"github.com/leviathan-gossip/leviathan/sync/transport"
)

// WithKeyring makes the node seal and authenticate every message with kr
// (AES-GCM; see transport.Keyring), overriding encrypt_keys and
// encrypt_keys_file. Rotate keys at runtime through Node.Keyring.
func WithKeyring(kr *transport.Keyring) Option { return func(o *options) { o.keyring = kr } }

// Keyring returns the keyring that seals this node's messages, or nil when
// the node runs without encryption. Install, Use and Remove on it take
// effect at once, which is how keys are rotated across a live cluster.
func (n *Node) Keyring() *transport.Keyring { return n.keyring }

// keysConfigured reports whether the configuration asks for encryption.
func (c Config) keysConfigured() bool { return len(c.EncryptKeys) > 0 || c.EncryptKeysFile != "" }

// decodeKeys parses the configured keys: encrypt_keys, or the lines of
// encrypt_keys_file. Each error names the field (and index or line) at fault.
func (c Config) decodeKeys() ([][]byte, []error) {
	var errs []error
	if len(c.EncryptKeys) > 0 && c.EncryptKeysFile != "" {
		return nil, []error{fmt.Errorf("encrypt_keys_file: set together with encrypt_keys; use one or the other")}
	}
	var keys [][]byte
	if c.EncryptKeysFile != "" {
		data, err := readKeysFile(c.EncryptKeysFile)
		if err != nil {
			return nil, []error{fmt.Errorf("encrypt_keys_file: %w", err)}
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for line := 1; sc.Scan(); line++ {
			s := strings.TrimSpace(sc.Text())
			if s == "" || strings.HasPrefix(s, "#") {
				continue
			}
			k, err := decodeKey(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("encrypt_keys_file: %s line %d: %v", c.EncryptKeysFile, line, err))
				continue
			}
			keys = append(keys, k)
		}
		if err := sc.Err(); err != nil {
			errs = append(errs, fmt.Errorf("encrypt_keys_file: %s: %v", c.EncryptKeysFile, err))
		}
		if len(keys) == 0 && len(errs) == 0 {
			errs = append(errs, fmt.Errorf("encrypt_keys_file: %s holds no key", c.EncryptKeysFile))
		}
		return keys, errs
	}
	for i, s := range c.EncryptKeys {
		k, err := decodeKey(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("encrypt_keys[%d]: %v", i, err))
			continue
		}
		keys = append(keys, k)
	}
	return keys, errs
}

// maxKeysFile bounds what is read of encrypt_keys_file: a few keys take a
// few hundred bytes, and a path like /dev/zero must not exhaust memory.
const maxKeysFile = 64 << 10

func readKeysFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeysFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxKeysFile {
		return nil, fmt.Errorf("%s: larger than %d bytes; not a keys file", path, maxKeysFile)
	}
	return data, nil
}

// decodeKey reads one base64 key (standard alphabet, as `openssl rand
// -base64 32` prints it) and checks its size. The key itself is never
// echoed in the error.
func decodeKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not base64 (generate one with `openssl rand -base64 32`)")
	}
	switch len(k) {
	case 16, 24, 32:
		return k, nil
	}
	return nil, fmt.Errorf("decodes to %d bytes; a key must be 16, 24 or 32 bytes (AES-128, -192, -256)", len(k))
}

// validateKeys adds the errors of the encryption settings to Validate's.
func (c Config) validateKeys(bad func(field, format string, args ...any)) []error {
	if !c.keysConfigured() {
		return nil
	}
	_, errs := c.decodeKeys()
	// The envelope takes SealOverhead bytes of every datagram and message.
	if c.MTU-transport.SealOverhead < 512 && c.MTU >= 512 {
		bad("mtu", "%d leaves %d bytes after the %d-byte encryption envelope; at least 512 needed", c.MTU, c.MTU-transport.SealOverhead, transport.SealOverhead)
	}
	if minMsg := c.MaxKeySize + c.MaxValueSize + 1024; c.MaxMessageSize >= minMsg && c.MaxMessageSize-transport.SealOverhead < minMsg {
		bad("max_message_size", "%d leaves no room for the %d-byte encryption envelope; at least %d needed", c.MaxMessageSize, transport.SealOverhead, minMsg+transport.SealOverhead)
	}
	return errs
}

// keyring builds the configured keyring, or returns nil without keys.
func (c Config) keyring() (*transport.Keyring, error) {
	if !c.keysConfigured() {
		return nil, nil
	}
	keys, errs := c.decodeKeys()
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w:\n  %w", ErrConfig, joinLines(errs))
	}
	kr, err := transport.NewKeyring(keys[0], keys[1:]...)
	if err != nil {
		return nil, fmt.Errorf("%w: encrypt_keys: %v", ErrConfig, err)
	}
	return kr, nil
}

// setupEncryption wraps the transport when a keyring is given or configured.
func (n *Node) setupEncryption(kr *transport.Keyring) error {
	if kr == nil {
		var err error
		if kr, err = n.cfg.keyring(); err != nil {
			return fmt.Errorf("node: %w", err)
		}
	}
	if kr == nil {
		return nil
	}
	n.keyring = kr
	n.encrypted = transport.Encrypt(n.transport, kr)
	n.transport = n.encrypted
	return nil
}

// logAuthFailures warns about messages the encryption layer dropped — a peer
// with a wrong or missing key is a common misconfiguration — once a minute
// per sender at most. Called once n.log is final.
func (n *Node) logAuthFailures() {
	if n.encrypted == nil {
		return
	}
	log := n.log
	limit := newLogLimiter(badClusterLogWindow, badClusterLogKeys)
	n.encrypted.OnReject(func(from string, err error) {
		if ok, suppressed := limit.allow(from, n.clock.Now()); ok {
			log.Warn().Str("from", from).Err(err).Uint64("suppressed", suppressed).
				Msg("dropped a message that failed authentication (peer without the cluster key?); logged at most once a minute per sender")
		}
	})
}

// unauthenticated counts messages the encryption layer dropped.
func (n *Node) unauthenticated() uint64 {
	if n.encrypted == nil {
		return 0
	}
	return n.encrypted.Stats().Rejected()
}

// logLimiter lets a warning about a sender through at most once per window,
// so that a misconfigured or hostile peer cannot flood the log. It tracks at
// most maxKeys senders; when a flood of distinct (perhaps spoofed) senders
// fills it, warnings about new senders are suppressed until old ones expire.
type logLimiter struct {
	window  time.Duration
	maxKeys int

	mu   gosync.Mutex
	seen map[string]*limitEntry
}

type limitEntry struct {
	last       time.Time
	suppressed uint64
}

const (
	badClusterLogWindow = time.Minute
	badClusterLogKeys   = 256
)

func newLogLimiter(window time.Duration, maxKeys int) *logLimiter {
	return &logLimiter{window: window, maxKeys: maxKeys, seen: make(map[string]*limitEntry)}
}

// allow reports whether to log about key now, and how many warnings about
// it were suppressed since the last one logged.
func (l *logLimiter) allow(key string, now time.Time) (bool, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.seen[key]
	if e == nil {
		if len(l.seen) >= l.maxKeys {
			for k, old := range l.seen {
				if now.Sub(old.last) >= l.window {
					delete(l.seen, k)
				}
			}
			if len(l.seen) >= l.maxKeys {
				return false, 0
			}
		}
		l.seen[key] = &limitEntry{last: now}
		return true, 0
	}
	if now.Sub(e.last) < l.window {
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	return true, n
}
