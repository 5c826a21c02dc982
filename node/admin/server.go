package admin

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/leviathan-gossip/leviathan/node"
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

// newHTTPServer is the server Serve runs h on.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		IdleTimeout:       httpIdleTimeout,
	}
}

// Server is the admin API of a node served on a TCP address.
type Server struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

// Serve listens on addr (host:port; port 0 picks a free one) and serves
// the admin API of n there, with timeouts against slow and idle clients,
// until Close. cfg.HTTPAddr, when empty, is taken to be addr.
func Serve(n *node.Node, cfg Config, addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = addr
	}
	s := &Server{srv: newHTTPServer(New(n, cfg)), addr: ln.Addr().String(), done: make(chan struct{})}
	log := n.Logger()
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("admin api stopped")
		}
	}()
	log.Info().Str("http", s.addr).Msg("admin api listening")
	return s, nil
}

// Addr is the address the server listens on, its port chosen when addr
// gave 0.
func (s *Server) Addr() string { return s.addr }

// Close closes the listener and every connection, event streams
// included, and returns once the server has stopped.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	if err != nil {
		return fmt.Errorf("admin: close: %w", err)
	}
	return nil
}
