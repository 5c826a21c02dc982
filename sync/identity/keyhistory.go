package identity

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// KeyHistory is what a node keeps of the keys that proved its own
// records: the key that signed them, and the keys it signed them with
// before, as retired keys. The node keeps it beside the proofs it
// describes (its data directory) and beside its key file, which a wiped
// data directory leaves in place.
// A node that starts with a key other than the one its history names
// has rotated its key: the proofs its store and its peers hold were
// signed by the old one, which its record must then name (Rotate).
type KeyHistory struct {
	Current ed25519.PublicKey // nil: none recorded yet
	Retired []RetiredKey      // newest first, at most MaxRetiredKeys
	// Rekey is set from a rotation until the node has signed its stored
	// proofs again with Current.
	Rekey bool
}

// maxKeyHistoryBytes bounds a key history file: a line per key.
const maxKeyHistoryBytes = 4096

// ErrKeyHistory: a key history file that is not one.
var ErrKeyHistory = errors.New("identity: malformed key history")

// Rotate returns the history of a node whose key is now cur, at
// generation gen and with its own records up to version through: the
// same history when cur is its current key; else cur current and the
// key it replaces retired first, for proofs of gen up to through, and
// Rekey set. The oldest retired keys past MaxRetiredKeys are dropped,
// and cur is never among the retired.
func (h KeyHistory) Rotate(cur ed25519.PublicKey, gen, through uint64) KeyHistory {
	if h.Current.Equal(cur) {
		return h
	}
	out := KeyHistory{Current: bytes.Clone(cur)}
	if len(h.Current) == ed25519.PublicKeySize {
		out.Retired = append(out.Retired, RetiredKey{PublicKey: bytes.Clone(h.Current), Generation: gen, Through: through})
		out.Rekey = true
	}
	for _, k := range h.Retired {
		if len(out.Retired) == MaxRetiredKeys {
			break
		}
		if !k.PublicKey.Equal(cur) && !k.PublicKey.Equal(h.Current) {
			out.Retired = append(out.Retired, k)
		}
	}
	return out
}

// Equal reports whether h and o name the same keys in the same order.
func (h KeyHistory) Equal(o KeyHistory) bool {
	if !h.Current.Equal(o.Current) || len(h.Retired) != len(o.Retired) || h.Rekey != o.Rekey {
		return false
	}
	for i := range h.Retired {
		a, b := h.Retired[i], o.Retired[i]
		if !a.PublicKey.Equal(b.PublicKey) || a.Generation != b.Generation || a.Through != b.Through {
			return false
		}
	}
	return true
}

// LoadKeyHistory reads the history at path; a missing file is an empty
// history.
func LoadKeyHistory(path string) (KeyHistory, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return KeyHistory{}, nil
	}
	if err != nil {
		return KeyHistory{}, fmt.Errorf("identity: key history: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyHistoryBytes+1))
	if err != nil {
		return KeyHistory{}, fmt.Errorf("identity: key history %s: %w", path, err)
	}
	h, err := parseKeyHistory(b)
	if err != nil {
		return KeyHistory{}, fmt.Errorf("%w: %s: %w", ErrKeyHistory, path, err)
	}
	return h, nil
}

// parseKeyHistory reads what Save writes: a "key" line, then a
// "retired" line per retired key (key, generation, through), and a
// "rekey" line while Rekey is set; '#' comments.
func parseKeyHistory(b []byte) (KeyHistory, error) {
	var h KeyHistory
	if len(b) > maxKeyHistoryBytes {
		return h, fmt.Errorf("over %d bytes", maxKeyHistoryBytes)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 0 || strings.HasPrefix(f[0], "#"):
		case f[0] == "key" && len(f) == 2 && h.Current == nil:
			pub, err := ParsePublicKey([]byte(f[1]))
			if err != nil {
				return h, fmt.Errorf("line %d: %w", line, err)
			}
			h.Current = pub
		case f[0] == "retired" && len(f) == 4 && len(h.Retired) < MaxRetiredKeys:
			pub, err := ParsePublicKey([]byte(f[1]))
			if err != nil {
				return h, fmt.Errorf("line %d: %w", line, err)
			}
			gen, gerr := strconv.ParseUint(f[2], 10, 64)
			through, terr := strconv.ParseUint(f[3], 10, 64)
			if gerr != nil || terr != nil {
				return h, fmt.Errorf("line %d: generation and version must be unsigned integers", line)
			}
			h.Retired = append(h.Retired, RetiredKey{PublicKey: pub, Generation: gen, Through: through})
		case f[0] == "rekey" && len(f) == 1 && !h.Rekey:
			h.Rekey = true
		default:
			return h, fmt.Errorf("line %d: want one \"key <base64>\" line, at most %d \"retired <base64> <generation> <version>\" lines and a \"rekey\" line", line, MaxRetiredKeys)
		}
	}
	if h.Current == nil && (len(h.Retired) > 0 || h.Rekey) {
		return h, errors.New("retired keys without a key")
	}
	if err := checkRetired(h.Retired, h.Current); err != nil {
		return h, err
	}
	return h, nil
}

// Save writes h to path, whole or not at all (mode 0644: it holds public
// keys only).
func (h KeyHistory) Save(path string) error {
	var b strings.Builder
	b.WriteString("# The keys that signed this node's record proofs (written by the node).\n")
	fmt.Fprintf(&b, "key %s\n", FormatPublicKey(h.Current))
	for _, k := range h.Retired {
		fmt.Fprintf(&b, "retired %s %d %d\n", FormatPublicKey(k.PublicKey), k.Generation, k.Through)
	}
	if h.Rekey {
		b.WriteString("rekey\n")
	}
	if err := writeFile(path, []byte(b.String()), 0o644, true); err != nil {
		return fmt.Errorf("identity: key history: %w", err)
	}
	return nil
}
