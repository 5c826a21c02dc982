package node

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: Close stops them all.
// Signed nodes set up short heartbeat chains (as many beats as a test
// runs, at the fast configs' 20 ms), so that each starts in
// milliseconds, under -race too.
func TestMain(m *testing.M) {
	beatChainLength = 1 << 14
	goleak.VerifyTestMain(m)
}
