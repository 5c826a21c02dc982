// Command promlint reads Prometheus metrics in the text format on stdin and
// lints them with client_golang's promlint, the linter behind `promtool
// check metrics`, with the same output and exit codes: one line per
// problem, 3 when there is any, 1 when the input does not parse. CI runs
// it rather than promtool, whose build (every service discovery of
// Prometheus) takes many minutes.
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

func main() {
	os.Exit(run(os.Stdin, os.Stdout, os.Stderr))
}

func run(stdin io.Reader, stdout, stderr io.Writer) int {
	in, err := io.ReadAll(stdin)
	if err != nil {
		fmt.Fprintln(stderr, "promlint: reading stdin:", err)
		return 1
	}
	// An empty page lints clean: refuse it, as a scrape that returned
	// nothing is not a pass.
	families := bytes.Count(in, []byte("# TYPE "))
	if families == 0 {
		fmt.Fprintln(stderr, "promlint: no metric families on stdin")
		return 1
	}
	problems, err := promlint.New(bytes.NewReader(in)).Lint()
	if err != nil {
		fmt.Fprintln(stderr, "promlint: error while linting:", err)
		return 1
	}
	for _, p := range problems {
		fmt.Fprintln(stderr, p.Metric, p.Text)
	}
	if len(problems) > 0 {
		return 3
	}
	fmt.Fprintf(stdout, "promlint: %d metric families, no problems\n", families)
	return 0
}
