package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// isolate points HOME at a fresh directory and clears the XDG and
// HOLDOVER variables, so tests never see the real environment. It
// returns the home directory.
func isolate(t *testing.T) string {
	t.Helper()
	// Not t.TempDir(): its long name would push the default control
	// socket path past the Unix limit that Load enforces.
	home, err := os.MkdirTemp("", "ho")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOLDOVER_CONFIG", "")
	// No system layers unless a test makes some.
	t.Setenv("HOLDOVER_SYSTEM_DIR", filepath.Join(home, "no-system-dir"))
	return home
}

// writeConfig writes text (with tabs turned into two spaces, so tests can
// indent naturally) to config.yaml in a temporary directory.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(text, "\t", "  ")), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// mustLoad loads text and fails the test on any error.
func mustLoad(t *testing.T, text string) *Config {
	t.Helper()
	c, err := Load(writeConfig(t, text))
	if err != nil {
		t.Fatalf("Load: unexpected error:\n%v", err)
	}
	return c
}
