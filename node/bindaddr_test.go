package node

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestBindAddrConfig: bind_addr may be a wildcard, addr may not, and the
// two must be of one IP family unless bind_addr is "::".
func TestBindAddrConfig(t *testing.T) {
	tests := []struct {
		name, toml string
		want       []string // each must appear in the error; none: valid
	}{
		{"default", ``, nil},
		{"ipv4 any", "bind_addr = \"0.0.0.0\"\naddr = \"10.0.0.5\"", nil},
		{"ipv6 any, ipv6 addr", "bind_addr = \"::\"\naddr = \"fd00::5\"", nil},
		{"ipv6 any, ipv4 addr", "bind_addr = \"::\"\naddr = \"10.0.0.5\"", nil},
		{"specific bind", "bind_addr = \"10.0.0.5\"\naddr = \"203.0.113.7\"", nil},
		{"host name bind", "bind_addr = \"localhost\"", nil},
		{"addr any", `addr = "0.0.0.0"`, []string{"addr: 0.0.0.0 is not an address peers can reach", `bind_addr = "0.0.0.0"`}},
		{"addr ipv6 any", `addr = "::"`, []string{"addr: :: is not an address peers can reach", `bind_addr = "::"`}},
		{"bind with port", `bind_addr = "0.0.0.0:7946"`, []string{"bind_addr", "port = 7946"}},
		{"bind bracketed", `bind_addr = "[::]"`, []string{"bind_addr", "without brackets"}},
		{"ipv4 any, ipv6 addr", "bind_addr = \"0.0.0.0\"\naddr = \"fd00::5\"", []string{"bind_addr", "IPv4 but addr fd00::5 is IPv6", `"::"`}},
		{"ipv6 bind, ipv4 addr", "bind_addr = \"fd00::5\"\naddr = \"10.0.0.5\"", []string{"bind_addr", "IPv6 but addr 10.0.0.5 is IPv4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(tt.toml, "test")
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			mentions(t, err, tt.want)
		})
	}
}

// TestBindWildcardJoins: a node listening on every interface and
// advertising its loopback address joins a node bound the usual way, and
// both converge on each other's data; the datagram and stream paths both
// carry it (a value larger than the MTU goes over TCP, whose hello must
// name the connection's IP).
func TestBindWildcardJoins(t *testing.T) {
	for _, tc := range []struct{ name, bind, addr string }{
		{"ipv4 any", "0.0.0.0", "127.0.0.1"},
		{"ipv6 any", "::", "::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.addr, ":") {
				l, err := net.ListenPacket("udp6", "[::1]:0")
				if err != nil {
					t.Skipf("no IPv6 loopback: %v", err)
				}
				l.Close()
			}
			acfg := fastConfig("a")
			acfg.Addr = tc.addr
			a := startNode(t, acfg)

			bcfg := fastConfig("b")
			bcfg.Addr, bcfg.BindAddr = tc.addr, tc.bind
			bcfg.Seeds = []string{a.Addr()}
			b := startNode(t, bcfg)
			if host, _, _ := net.SplitHostPort(b.Addr()); host != tc.addr {
				t.Fatalf("b advertises %s, want host %s", b.Addr(), tc.addr)
			}

			big := strings.Repeat("x", 8<<10) // above the MTU: streamed
			if _, err := b.Set(context.Background(), "k", []byte(big)); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Set(context.Background(), "k", []byte("small")); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, func() error {
				if len(a.LivePeers()) != 1 || len(b.LivePeers()) != 1 {
					return fmt.Errorf("a sees %d live, b sees %d", len(a.LivePeers()), len(b.LivePeers()))
				}
				if e, err := a.Get(context.Background(), "b", "k"); err != nil || string(e.Value) != big {
					return fmt.Errorf("a has b/k: %v (%d bytes)", err, len(e.Value))
				}
				if e, err := b.Get(context.Background(), "a", "k"); err != nil || string(e.Value) != "small" {
					return fmt.Errorf("b has a/k: %q %v", e.Value, err)
				}
				return nil
			})
		})
	}
}
