package node

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// minTokenLen keeps a guessable token out of a config.
const minTokenLen = 16

// validateHTTP adds the errors of the admin API's keys (served by package
// node/admin) to Validate's: the keys live in this Config, so a bad one
// fails LoadConfig like any other.
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
