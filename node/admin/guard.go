package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// hostPolicy decides which Host headers the admin API answers. A browser
// tricked by DNS rebinding sends the attacker's name as Host, so names
// must be listed; an IP literal or a loopback name cannot be rebound.
type hostPolicy struct {
	allowed map[string]bool // canonical names and IPs
	any     bool            // "*" listed: the check is off
	anyIP   bool            // HTTPAddr binds a wildcard: every IP is the node's
}

func newHostPolicy(c Config) hostPolicy {
	p := hostPolicy{allowed: map[string]bool{}}
	for _, h := range append([]string{"localhost", "127.0.0.1", "::1", c.Addr}, c.AllowedHosts...) {
		p.any = p.any || h == "*"
		p.allowed[canonicalHost(h)] = true
	}
	if host, _, err := net.SplitHostPort(c.HTTPAddr); err == nil {
		if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
			p.anyIP = true
		} else {
			p.allowed[canonicalHost(host)] = true
		}
	}
	return p
}

// allows reports whether a request's Host (with or without a port, IPv6
// in brackets) is one the node answers to.
func (p hostPolicy) allows(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil { // no port
		host = hostport
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		}
	}
	if _, err := netip.ParseAddr(host); err == nil && p.anyIP {
		return true
	}
	return p.any || host != "" && p.allowed[canonicalHost(host)]
}

// canonicalHost lower-cases a name and drops its root dot, and writes an
// IP the one way netip does, so that "::0:1" matches "::1".
func canonicalHost(h string) string {
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.WithZone("").Unmap().String()
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// checkHost answers 421 to a request for a host the node is not, before
// any handler runs.
func (p hostPolicy) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.allows(r.Host) {
			writeError(w, http.StatusMisdirectedRequest,
				fmt.Sprintf("host %q is not served here; list it in http_allowed_hosts", r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authed requires the bearer token, when one is set, of the endpoints
// that write or carry values.
func (a *api) authed(h http.HandlerFunc) http.HandlerFunc {
	if a.cfg.Token == "" {
		return h
	}
	// Hashing first makes the comparison constant-time in the length too.
	want := sha256.Sum256([]byte(a.cfg.Token))
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := bearerToken(r)
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="leviathan"`)
			writeError(w, http.StatusUnauthorized, "this endpoint needs Authorization: Bearer <http_token>")
			return
		}
		h(w, r)
	}
}

// bearerToken returns the token of an Authorization: Bearer header; the
// scheme is case-insensitive (RFC 9110).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}
