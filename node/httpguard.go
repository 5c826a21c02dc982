package node

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Timeouts of the admin API's server. A client that trickles its headers
// or body, or parks idle keep-alive connections, would otherwise hold a
// goroutine and a socket for ever. ReadTimeout leaves GET /events alone:
// the server lifts the read deadline once a request without a body is
// read. There is no write timeout: it would cut GET /events, which sets
// its own deadline per write instead (sse.go).
const (
	httpReadHeaderTimeout = 5 * time.Second
	httpReadTimeout       = 30 * time.Second // a PUT body of max_value_size on a slow link
	httpIdleTimeout       = 120 * time.Second
)

// newHTTPServer is the server Start runs the admin API on.
func (n *Node) newHTTPServer() *http.Server {
	return &http.Server{
		Handler:           n.Handler(),
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		IdleTimeout:       httpIdleTimeout,
	}
}

// hostPolicy decides which Host headers the admin API answers. A browser
// tricked by DNS rebinding sends the attacker's name as Host, so names
// must be listed; an IP literal or a loopback name cannot be rebound.
type hostPolicy struct {
	allowed map[string]bool // canonical names and IPs
	any     bool            // "*" listed: the check is off
	anyIP   bool            // http_addr binds a wildcard: every IP is the node's
}

func (c Config) hostPolicy() hostPolicy {
	p := hostPolicy{allowed: map[string]bool{}}
	for _, h := range append([]string{"localhost", "127.0.0.1", "::1", c.Addr}, c.HTTPAllowedHosts...) {
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

// authed requires the bearer token http_token, when one is set, of the
// endpoints that write or carry values.
func (n *Node) authed(h http.HandlerFunc) http.HandlerFunc {
	if n.cfg.HTTPToken == "" {
		return h
	}
	// Hashing first makes the comparison constant-time in the length too.
	want := sha256.Sum256([]byte(n.cfg.HTTPToken))
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

// minTokenLen keeps a guessable token out of a config.
const minTokenLen = 16

// validateHTTP adds the errors of the admin API's hardening keys to
// Validate's.
func (c Config) validateHTTP(bad func(field, format string, args ...any)) {
	for i, h := range c.HTTPAllowedHosts {
		if msg := allowedHostProblem(h); msg != "" {
			bad(fmt.Sprintf("http_allowed_hosts[%d]", i), "%s", msg)
		}
	}
	switch t := c.HTTPToken; {
	case t == "":
	case len(t) < minTokenLen:
		bad("http_token", "is %d bytes, at least %d needed (try `openssl rand -base64 24`)", len(t), minTokenLen)
	case strings.IndexFunc(t, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
		bad("http_token", "must be printable ASCII without spaces, as it travels in a header")
	}
	if c.HTTPMaxSSE < 1 || c.HTTPMaxSSE > 10000 {
		bad("http_max_sse", "%d is out of range 1-10000", c.HTTPMaxSSE)
	}
}

// allowedHostProblem explains what is wrong with an http_allowed_hosts
// entry, or returns "".
func allowedHostProblem(h string) string {
	if _, err := netip.ParseAddr(h); err == nil || h == "*" {
		return ""
	}
	switch {
	case h == "":
		return "must not be empty"
	case strings.HasPrefix(h, "["):
		return fmt.Sprintf("%q: write an IPv6 address without brackets (%s)", h, strings.Trim(h, "[]"))
	}
	if strings.ContainsAny(h, "/ \t") {
		return fmt.Sprintf("%q is not a host name or IP", h)
	}
	if host, _, err := net.SplitHostPort(h); err == nil {
		return fmt.Sprintf("%q: give the host alone (%s); any port is accepted", h, host)
	}
	if strings.Contains(h, ":") {
		return fmt.Sprintf("%q is not a host name or IP", h)
	}
	return ""
}
