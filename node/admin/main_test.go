package admin

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: the servers and nodes it
// starts are closed, and so are the event streams they served.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
