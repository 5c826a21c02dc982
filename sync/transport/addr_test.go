package transport

import (
	"errors"
	"testing"
)

func TestCanonicalAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // "" means an error is expected
	}{
		{"127.0.0.1:7001", "127.0.0.1:7001"},
		{"10.0.0.1:0", "10.0.0.1:0"},
		{"127.0.0.1:007", "127.0.0.1:7"},
		{"[::1]:7001", "[::1]:7001"},
		{"[::ffff:10.1.2.3]:80", "10.1.2.3:80"},
		{"[2001:DB8:0:0::1]:65535", "[2001:db8::1]:65535"},
		{"[fe80::1%eth0]:9", "[fe80::1%eth0]:9"},
		{"localhost:1", "127.0.0.1:1"},
		{"127.0.0.1", ""},             // missing port
		{"::1:7001", ""},              // IPv6 without brackets is ambiguous
		{"[::1]", ""},                 // missing port
		{"127.0.0.1:65536", ""},       // port out of range
		{"127.0.0.1:-1", ""},          // negative port
		{"127.0.0.1:http", ""},        // service names differ between machines
		{"127.0.0.1:", ""},            // empty port
		{":7001", ""},                 // no host to send to
		{"", ""},                      // nothing
		{"[::1]:7001:7002", ""},       // trailing garbage
		{"127.0.0.1:7001 ", ""},       // trailing space
		{"[127.0.0.1]:7001x", ""},     // bad port
		{"999.0.0.1:7001", ""},        // not an IP, not a resolvable name
		{"localhost:99999999", ""},    // out of range before resolving
		{"[::1%]:7001", ""},           // empty zone
		{"[1:2:3:4:5:6:7:8:9]:1", ""}, // too many groups
	}
	for _, tc := range tests {
		got, err := CanonicalAddr(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("CanonicalAddr(%q) = %q, want error", tc.in, got)
			} else if !errors.Is(err, ErrBadAddr) {
				t.Errorf("CanonicalAddr(%q) error %v does not match ErrBadAddr", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("CanonicalAddr(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("CanonicalAddr(%q) = %q, want %q", tc.in, got, tc.want)
		}
		// Canonical form is a fixed point.
		if again, err := CanonicalAddr(got); err != nil || again != got {
			t.Errorf("CanonicalAddr(%q) = %q, %v; want it unchanged", got, again, err)
		}
	}
}

func TestCanonicalAddrErrorNamesInput(t *testing.T) {
	t.Parallel()
	_, err := CanonicalAddr("127.0.0.1")
	if err == nil {
		t.Fatal("no error")
	}
	const want = `transport: address "127.0.0.1": address 127.0.0.1: missing port in address`
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}
