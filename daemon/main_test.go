package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain keeps the tests away from a real /etc/holdover on the machine
// that runs them: the system layer points at a directory that is empty.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "holdover-sysdir-")
	if err != nil {
		panic(err)
	}
	os.Setenv("HOLDOVER_SYSTEM_DIR", filepath.Join(dir, "none"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
