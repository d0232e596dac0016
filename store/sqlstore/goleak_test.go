package sqlstore_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when any goroutine they started is still running
// at the end (the package starts goroutines, directly or through what it builds).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
