package daemon

import (
	"os"
	"testing"

	"github.com/holdover/holdover/internal/testenv"
)

// TestMain keeps the tests away from a real /etc/holdover.
func TestMain(m *testing.M) { os.Exit(testenv.RunWithoutSystemConfig(m)) }
