package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// clientCommand is one command of the client: it talks to a running
// peer's admin API instead of running a peer.
type clientCommand struct {
	args       string // positional arguments, for the usage line
	minN, maxN int    // how many positional arguments it takes
	run        func(c *apiClient, args []string) int
}

var clientCommands = map[string]clientCommand{
	"get":     {"PEER KEY", 2, 2, (*apiClient).get},
	"set":     {"KEY VALUE", 2, 2, (*apiClient).set},
	"del":     {"KEY", 1, 1, (*apiClient).del},
	"peers":   {"", 0, 0, (*apiClient).peers},
	"status":  {"", 0, 0, (*apiClient).status},
	"changes": {"[-since N] [-generation G] [-limit N] [PEER]", 0, 1, (*apiClient).changes},
}

// clientUsage lists the client's commands, for the peer's own usage.
const clientUsage = `       peer get|set|del|peers|status|changes -http ADDR [-token T] [args]
  get PEER KEY   print a value as it is (PEER: id, alias or self)
  set KEY VALUE  write one of the peer's own keys
  del KEY        delete one of its keys
  peers          the other nodes, a table
  status         the peer itself, JSON
  changes [PEER] a changefeed page, JSON (-since, -generation, -limit)
The token defaults to $LEVIATHAN_HTTP_TOKEN. Exit status: 0 done, 1 not
found or refused (the API's message on stderr), 2 usage.
`

// apiClient is one request to the admin API and where its answer goes.
type apiClient struct {
	base           string // scheme://host:port
	token          string
	http           *http.Client
	stdout, stderr io.Writer
	name           string // "peer get", for messages

	// changes' cursor and page size; zero: the API's defaults.
	since, generation uint64
	limit             int
}

// runClient parses its own flags: -http and -token mean nothing to a
// peer, and changes has flags of its own.
func runClient(name string, args []string, stdout, stderr io.Writer) int {
	cmd := clientCommands[name]
	c := &apiClient{stdout: stdout, stderr: stderr, name: "peer " + name, http: &http.Client{Timeout: 30 * time.Second}}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("http", "", "admin API of the running peer (its http_addr): host:port or a URL")
	// No default shown: -h would print the token.
	fs.StringVar(&c.token, "token", "", "bearer token (the peer's http_token); default $LEVIATHAN_HTTP_TOKEN")
	if name == "changes" {
		fs.Uint64Var(&c.since, "since", 0, "cursor version: changes after it")
		fs.Uint64Var(&c.generation, "generation", 0, "cursor generation")
		fs.IntVar(&c.limit, "limit", 0, "at most this many changes (default: the API's)")
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s -http ADDR [-token T] %s\n", c.name, cmd.args)
		fmt.Fprintln(stderr, "  (put -- before an argument that starts with -)")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if *addr == "" || len(pos) < cmd.minN || len(pos) > cmd.maxN {
		fs.Usage()
		return 2
	}
	c.base = strings.TrimSuffix(*addr, "/")
	if !strings.Contains(c.base, "://") {
		c.base = "http://" + c.base
	}
	if c.token == "" {
		c.token = os.Getenv("LEVIATHAN_HTTP_TOKEN")
	}
	return cmd.run(c, pos)
}

// parseInterspersed parses flags before, between and after the
// positional arguments, which it returns: "peer get self k -http A" is
// as natural to type as "peer get -http A self k". After "--" every
// argument is positional, for keys and values that start with "-".
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

func (c *apiClient) get(args []string) int {
	body, ok := c.do(http.MethodGet, "/kv/"+url.PathEscape(args[0])+"/"+url.PathEscape(args[1])+"?raw=1", nil)
	if !ok {
		return 1
	}
	_, _ = c.stdout.Write(body)
	// Raw for a pipe; on a terminal, the prompt on a line of its own.
	if isTerminal(c.stdout) && !bytes.HasSuffix(body, []byte("\n")) {
		fmt.Fprintln(c.stdout)
	}
	return 0
}

func (c *apiClient) set(args []string) int {
	return c.printBody(c.do(http.MethodPut, "/kv/"+url.PathEscape(args[0]), strings.NewReader(args[1])))
}

func (c *apiClient) del(args []string) int {
	return c.printBody(c.do(http.MethodDelete, "/kv/"+url.PathEscape(args[0]), nil))
}

func (c *apiClient) status([]string) int {
	return c.printJSON(c.do(http.MethodGet, "/status", nil))
}

func (c *apiClient) changes(args []string) int {
	q := url.Values{}
	if len(args) == 1 {
		q.Set("peer", args[0])
	}
	if c.since > 0 {
		q.Set("since", strconv.FormatUint(c.since, 10))
	}
	if c.generation > 0 {
		q.Set("generation", strconv.FormatUint(c.generation, 10))
	}
	if c.limit > 0 {
		q.Set("limit", strconv.Itoa(c.limit))
	}
	path := "/changes"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return c.printJSON(c.do(http.MethodGet, path, nil))
}

// peerRow is the part of GET /peers the table shows.
type peerRow struct {
	ID          string  `json:"id"`
	Alias       string  `json:"alias"`
	Addr        string  `json:"addr"`
	State       string  `json:"state"`
	Phi         float64 `json:"phi"`
	LastHeardMS int64   `json:"last_heard_ms"`
	Heartbeat   uint64  `json:"heartbeat"`
	Boot        uint64  `json:"boot"`
	Generation  uint64  `json:"generation"`
	MaxVersion  uint64  `json:"max_version"`
	Keys        int     `json:"keys"`
}

func (c *apiClient) peers([]string) int {
	body, ok := c.do(http.MethodGet, "/peers", nil)
	if !ok {
		return 1
	}
	var rows []peerRow
	if err := json.Unmarshal(body, &rows); err != nil {
		fmt.Fprintf(c.stderr, "%s: GET /peers answered no peer list: %v\n", c.name, err)
		return 1
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tALIAS\tADDR\tSTATE\tPHI\tHEARD\tHEARTBEAT\tBOOT\tGENERATION\tMAX_VERSION\tKEYS")
	for _, p := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f\t%s\t%d\t%d\t%d\t%d\t%d\n", p.ID, p.Alias, p.Addr, p.State, p.Phi,
			heard(time.Duration(p.LastHeardMS)*time.Millisecond), p.Heartbeat, p.Boot, p.Generation, p.MaxVersion, p.Keys)
	}
	_ = tw.Flush()
	return 0
}

// do sends one request and returns the body of a 2xx answer. Anything
// else is reported on stderr, in the API's words when it gave them, and
// ok is false.
func (c *apiClient) do(method, path string, body io.Reader) (_ []byte, ok bool) {
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: %v\n", c.name, err)
		return nil, false
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: %v\n", c.name, err)
		return nil, false
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: reading the answer: %v\n", c.name, err)
		return nil, false
	}
	if resp.StatusCode/100 != 2 {
		var apiErr struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &apiErr) == nil && apiErr.Error != "" {
			msg = apiErr.Error
		}
		fmt.Fprintf(c.stderr, "%s: %s (%s)\n", c.name, msg, resp.Status)
		return nil, false
	}
	return data, true
}

func (c *apiClient) printBody(body []byte, ok bool) int {
	if !ok {
		return 1
	}
	_, _ = c.stdout.Write(body)
	return 0
}

// printJSON prints an answer indented: status and changes are read by
// people as often as by jq.
func (c *apiClient) printJSON(body []byte, ok bool) int {
	if !ok {
		return 1
	}
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(body), "", "  "); err != nil {
		_, _ = c.stdout.Write(body)
		return 0
	}
	out.WriteByte('\n')
	_, _ = c.stdout.Write(out.Bytes())
	return 0
}
