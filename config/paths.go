package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// DefaultPath returns the configuration file holdover reads when none is
// given: $HOLDOVER_CONFIG if set, else $XDG_CONFIG_HOME/holdover/config.yaml
// (when XDG_CONFIG_HOME is an absolute path, as the XDG spec requires),
// else ~/.config/holdover/config.yaml. It returns "" only when none of
// HOLDOVER_CONFIG, XDG_CONFIG_HOME and HOME is usable.
func DefaultPath() string {
	if p := os.Getenv("HOLDOVER_CONFIG"); p != "" {
		return p
	}
	if x := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "holdover", "config.yaml")
	}
	if h := homeDir(); h != "" {
		return filepath.Join(h, ".config", "holdover", "config.yaml")
	}
	return ""
}

// defaultDataDir is $XDG_DATA_HOME/holdover or ~/.local/share/holdover,
// or "" when neither is known.
func defaultDataDir() string {
	if x := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "holdover")
	}
	if h := homeDir(); h != "" {
		return filepath.Join(h, ".local", "share", "holdover")
	}
	return ""
}

func homeDir() string {
	h, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return h
}

var errNoHome = errors.New(`cannot expand "~": $HOME is not set`)

// expandHome replaces a leading "~" or "~/" by the home directory and
// cleans absolute results. "~user" and environment variables are left
// alone (the caller then rejects the relative path).
func expandHome(p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		h := homeDir()
		if h == "" {
			return p, errNoHome
		}
		p = filepath.Join(h, p[1:])
	}
	if filepath.IsAbs(p) {
		p = filepath.Clean(p)
	}
	return p, nil
}
