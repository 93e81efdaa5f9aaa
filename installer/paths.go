package installer

import (
	"fmt"
	"os"
	"path"
	"runtime"
	"strings"
)

// ServiceName is the name of the service in every service manager: the
// systemd unit holdover.service, the launchd label holdover and the Windows
// SCM service holdover. It is also the name of the System account.
const ServiceName = "holdover"

// Scope selects a machine-wide or a per-user service. The zero value is
// invalid so that a forgotten Scope never installs system-wide by accident.
type Scope int

const (
	// System is a machine-wide service running as the "holdover" account.
	System Scope = iota + 1
	// User is a service of the invoking user's own service manager.
	User
)

// String returns "system" or "user".
func (s Scope) String() string {
	switch s {
	case System:
		return "system"
	case User:
		return "user"
	}
	return fmt.Sprintf("Scope(%d)", int(s))
}

// ParseScope parses "system" or "user" (as a command-line flag would).
func ParseScope(s string) (Scope, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "system":
		return System, nil
	case "user":
		return User, nil
	}
	return 0, fmt.Errorf("installer: unknown scope %q (want system or user)", s)
}

func (s Scope) valid() bool { return s == System || s == User }

// Paths are the default locations of one scope on this host.
type Paths struct {
	// ConfigFile is the configuration file the service is started with.
	ConfigFile string
	// ConfDir holds drop-in configuration fragments (conf.d).
	ConfDir string
	// DataDir holds the database, the lock file and the control socket.
	DataDir string
	// CredentialsDir holds the files named by Options.Credentials.
	CredentialsDir string
	// LogDir receives stdout/stderr under launchd; "" where the service
	// manager keeps the logs itself (journald, Windows event log).
	LogDir string
}

// DefaultPaths returns the default paths of scope on this host:
//
//	System (Unix):  /etc/holdover/config.yaml, /etc/holdover/conf.d,
//	                /var/lib/holdover, /etc/holdover/credentials
//	User (Unix):    $XDG_CONFIG_HOME/holdover/config.yaml (else
//	                ~/.config/...), .../conf.d, $XDG_DATA_HOME/holdover
//	                (else ~/.local/share/holdover), .../credentials
//
// macOS adds a LogDir (/var/log/holdover, ~/Library/Logs/holdover).
// Windows uses %ProgramData%\holdover (System) and %AppData% /
// %LocalAppData% (User). A path that depends on an unknown home directory
// comes back relative; Install rejects it.
func DefaultPaths(scope Scope) Paths {
	return defaultPathsFor(runtime.GOOS, scope, os.Getenv, homeDir)
}

func homeDir() string {
	h, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return h
}

// defaultPathsFor is DefaultPaths for a given target OS, environment and
// home directory, so that rendering for Linux or macOS gives the same
// result on any host.
func defaultPathsFor(goos string, scope Scope, getenv func(string) string, home func() string) Paths {
	if goos == "windows" {
		return windowsPaths(scope, getenv)
	}
	if scope == System {
		p := Paths{
			ConfigFile:     "/etc/holdover/config.yaml",
			ConfDir:        "/etc/holdover/conf.d",
			DataDir:        "/var/lib/holdover",
			CredentialsDir: "/etc/holdover/credentials",
		}
		if goos == "darwin" {
			p.LogDir = "/var/log/holdover"
		}
		return p
	}
	h := home()
	xdg := func(env, fallback string) string {
		if v := getenv(env); path.IsAbs(v) {
			return path.Join(v, ServiceName)
		}
		return path.Join(h, fallback, ServiceName)
	}
	cfgDir := xdg("XDG_CONFIG_HOME", ".config")
	p := Paths{
		ConfigFile:     path.Join(cfgDir, "config.yaml"),
		ConfDir:        path.Join(cfgDir, "conf.d"),
		DataDir:        xdg("XDG_DATA_HOME", ".local/share"),
		CredentialsDir: path.Join(cfgDir, "credentials"),
	}
	if goos == "darwin" {
		p.LogDir = path.Join(h, "Library/Logs", ServiceName)
	}
	return p
}

func windowsPaths(scope Scope, getenv func(string) string) Paths {
	env := func(name, fallback string) string {
		if v := getenv(name); v != "" {
			return strings.TrimRight(v, `\`)
		}
		return fallback
	}
	join := func(parts ...string) string { return strings.Join(parts, `\`) }
	if scope == System {
		base := join(env("ProgramData", `C:\ProgramData`), ServiceName)
		return Paths{
			ConfigFile:     join(base, "config.yaml"),
			ConfDir:        join(base, "conf.d"),
			DataDir:        join(base, "data"),
			CredentialsDir: join(base, "credentials"),
		}
	}
	cfg := join(env("AppData", ""), ServiceName)
	return Paths{
		ConfigFile:     join(cfg, "config.yaml"),
		ConfDir:        join(cfg, "conf.d"),
		DataDir:        join(env("LocalAppData", ""), ServiceName),
		CredentialsDir: join(cfg, "credentials"),
	}
}
