package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// ErrBadAddr is matched (errors.Is) by every error about a malformed or
// unresolvable gossip address.
var ErrBadAddr = errors.New("transport: bad address")

// resolveTimeout bounds a DNS lookup so that a dead resolver cannot hang
// start-up or a seed list refresh for the system resolver's full retry cycle.
const resolveTimeout = 5 * time.Second

// addrError keeps the message in the form "transport: address "x": cause" while
// letting callers match both ErrBadAddr and the underlying cause.
type addrError struct {
	addr string
	err  error
}

func (e *addrError) Error() string   { return fmt.Sprintf("transport: address %q: %v", e.addr, e.err) }
func (e *addrError) Unwrap() []error { return []error{ErrBadAddr, e.err} }

func badAddr(s string, err error) error { return &addrError{addr: s, err: err} }

// CanonicalAddr returns the one spelling of a host:port that every node uses
// for the same endpoint, so that addresses can be compared as strings and used
// as map keys: an IP literal (IPv4-mapped IPv6 unmapped, IPv6 in brackets,
// zones kept) and a decimal port. A host name is resolved, preferring an IPv4
// address when it has one, as net.ResolveUDPAddr does, so that "localhost"
// means the same on every machine regardless of resolver order. Port 0 is
// accepted because it is meaningful to ListenNet; an empty host is not,
// because it cannot be sent to.
func CanonicalAddr(s string) (string, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return "", badAddr(s, err)
	}
	if host == "" {
		return "", badAddr(s, errors.New("missing host"))
	}
	// Only decimal numbers: a service name ("http") would need a lookup that
	// differs between machines.
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", badAddr(s, fmt.Errorf("bad port %q", portStr))
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ip, err = resolveHost(host)
		if err != nil {
			return "", badAddr(s, err)
		}
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)).String(), nil
}

func resolveHost(host string) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("no address for host %q", host)
	}
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			return ip, nil
		}
	}
	return ips[0], nil
}
