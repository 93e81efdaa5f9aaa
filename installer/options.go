package installer

import (
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"runtime"
	"strings"
	"unicode"

	"github.com/kardianos/service"
)

// Options describe one installation. Only Scope is required; every other
// field has a per-scope default.
type Options struct {
	// Scope is System or User. Required.
	Scope Scope

	// ConfigPath is the configuration file the service runs with
	// ("holdover run --config ConfigPath") and the file Install seeds.
	// Default: DefaultPaths(Scope).ConfigFile. Must be absolute.
	ConfigPath string

	// Executable is the holdover binary the service starts. Default:
	// os.Executable(). Must be absolute. For System scope on Linux it must
	// not live under /home, /root, /run/user, /tmp or /var/tmp, which the
	// unit's sandbox (ProtectHome, PrivateTmp) hides from the service.
	Executable string

	// StarterConfig is written to ConfigPath when no file exists there.
	// nil means DefaultStarterConfig; pass examples/config.yaml here.
	StarterConfig []byte

	// Credentials are systemd credential names (letters, digits, "_", "-",
	// "."). Each becomes LoadCredential=NAME:CredentialsDir/NAME; the
	// configuration then says "password_credential: NAME".
	Credentials []string

	// CredentialsDir holds the credential files. Default:
	// DefaultPaths(Scope).CredentialsDir.
	CredentialsDir string

	// SetConfigEnv adds HOLDOVER_CONFIG=ConfigPath to the service's
	// environment, so that holdover subcommands started by the service see
	// the same file.
	SetConfigEnv bool

	// ServiceUser is the account a System service runs as (systemd
	// User=/Group=, launchd UserName). Default "holdover". Ignored for User
	// scope and on Windows (LocalSystem).
	ServiceUser string

	// DataDir is the data directory: the System account's home and, on
	// macOS, created for a System service (launchd has no
	// StateDirectory=). Default: DefaultPaths(Scope).DataDir. The Linux
	// system unit always uses /var/lib/holdover (StateDirectory=holdover),
	// so another value is rejected there; holdover itself takes its data
	// directory from the configuration (data_dir).
	DataDir string

	// LogDir is where launchd writes holdover.out.log and holdover.err.log.
	// Default: DefaultPaths(Scope).LogDir. Unused by systemd and Windows.
	LogDir string

	// Host replaces the parts that touch the real host. nil, or a nil field,
	// means the real thing. Tests set it; production code leaves it nil.
	Host *Host
}

// Host is everything the package does to the host apart from writing the
// starter configuration and its directories.
type Host struct {
	// GOOS is the target operating system. Default runtime.GOOS.
	GOOS string

	// SystemdRunning reports whether systemd is PID 1. Default: whether
	// /run/systemd/system is a directory (what sd_booted(3) checks).
	SystemdRunning func() bool

	// EnsureUser makes sure the account name exists, creating it if the
	// platform allows (Linux: useradd --system --user-group --home-dir home
	// --shell /usr/sbin/nologin name), and returns it. Called only for
	// System scope on Linux and macOS.
	EnsureUser func(name, home string) (Account, error)

	// NewService builds the service-manager handle. Default: kardianos'
	// service.New with a no-op program.
	NewService ServiceFactory

	// skipSandboxPathCheck lets in-package tests use temp paths for System
	// scope, which the Linux sandbox check would otherwise reject.
	skipSandboxPathCheck bool
}

// Account is the System service account.
type Account struct {
	Name    string
	UID     int
	GID     int
	Created bool // created by this call
}

// Service is the part of kardianos' service.Service the installer uses;
// service.Service satisfies it.
type Service interface {
	Install() error
	Uninstall() error
	Start() error
	Stop() error
	Restart() error
	Status() (service.Status, error)
}

// ServiceFactory builds a Service from a kardianos configuration.
type ServiceFactory func(cfg *service.Config) (Service, error)

// Errors callers may want to tell apart (test with errors.Is).
var (
	// ErrNoSystemd: Linux without systemd as PID 1.
	ErrNoSystemd = errors.New("systemd is not running as PID 1 on this machine; holdover install supports systemd only on Linux — run `holdover run` under your init system instead")
	// ErrUnsupported: a platform or scope this package cannot install on.
	ErrUnsupported = errors.New("not supported")
	// ErrNotInstalled: the service is not installed.
	ErrNotInstalled = errors.New("holdover service is not installed")
	// ErrAlreadyInstalled: Install found the service registered already.
	ErrAlreadyInstalled = errors.New("holdover service is already installed; uninstall it first to replace it")
)

// resolved is Options with every default filled in, for one target OS.
type resolved struct {
	Options
	goos  string
	paths Paths
}

// resolve fills the defaults of opts for goos and validates the result.
// It reads the environment only for default paths and os.Executable.
func (opts Options) resolve(goos string) (*resolved, error) {
	if !opts.Scope.valid() {
		return nil, fmt.Errorf("installer: Scope must be System or User, got %v", opts.Scope)
	}
	r := &resolved{Options: opts, goos: goos}
	r.paths = defaultPathsFor(goos, opts.Scope, os.Getenv, homeDir)
	if r.ConfigPath == "" {
		r.ConfigPath = r.paths.ConfigFile
	}
	if r.CredentialsDir == "" {
		r.CredentialsDir = r.paths.CredentialsDir
	}
	if r.LogDir == "" {
		r.LogDir = r.paths.LogDir
	}
	if r.DataDir == "" {
		r.DataDir = r.paths.DataDir
	}
	if r.ServiceUser == "" {
		r.ServiceUser = ServiceName
	}
	if r.StarterConfig == nil {
		r.StarterConfig = DefaultStarterConfig
	}
	if r.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("installer: locate the holdover executable: %w", err)
		}
		r.Executable = exe
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return r, nil
}

var (
	credentialName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$`)
	accountName    = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
)

func (r *resolved) isAbs(p string) bool {
	if r.goos == "windows" {
		// C:\... or \\server\share
		return (len(p) > 2 && p[1] == ':' && (p[2] == '\\' || p[2] == '/')) || strings.HasPrefix(p, `\\`)
	}
	return path.IsAbs(p)
}

// checkValue rejects what cannot be written safely into a unit file or a
// plist: control characters (a newline would start a new directive) and
// "{{"/"}}", which kardianos' template engine would interpret.
func checkValue(what, v string) error {
	if strings.Contains(v, "{{") || strings.Contains(v, "}}") {
		return fmt.Errorf("installer: %s %q must not contain {{ or }}", what, v)
	}
	for _, c := range v {
		if unicode.IsControl(c) {
			return fmt.Errorf("installer: %s %q contains a control character", what, v)
		}
	}
	return nil
}

func (r *resolved) validate() error {
	for _, f := range []struct{ what, v string }{
		{"ConfigPath", r.ConfigPath},
		{"Executable", r.Executable},
		{"CredentialsDir", r.CredentialsDir},
		{"DataDir", r.DataDir},
	} {
		if err := checkValue(f.what, f.v); err != nil {
			return err
		}
		if !r.isAbs(f.v) {
			return fmt.Errorf("installer: %s %q must be an absolute path", f.what, f.v)
		}
	}
	if r.LogDir != "" {
		if err := checkValue("LogDir", r.LogDir); err != nil {
			return err
		}
		if !r.isAbs(r.LogDir) {
			return fmt.Errorf("installer: LogDir %q must be an absolute path", r.LogDir)
		}
	}
	if r.goos == "linux" && r.Scope == System && r.DataDir != r.paths.DataDir {
		return fmt.Errorf("installer: DataDir %q: the Linux system unit always uses %s (StateDirectory=holdover)", r.DataDir, r.paths.DataDir)
	}
	// LoadCredential= takes the path verbatim to the end of the line.
	if strings.ContainsAny(r.CredentialsDir, " \t") && len(r.Credentials) > 0 {
		return fmt.Errorf("installer: CredentialsDir %q must not contain whitespace", r.CredentialsDir)
	}
	if !accountName.MatchString(r.ServiceUser) {
		return fmt.Errorf("installer: ServiceUser %q is not a valid account name", r.ServiceUser)
	}
	seen := map[string]bool{}
	for _, c := range r.Credentials {
		if !credentialName.MatchString(c) {
			return fmt.Errorf("installer: credential name %q: use letters, digits, _, - and . only", c)
		}
		if seen[c] {
			return fmt.Errorf("installer: credential %q listed twice", c)
		}
		seen[c] = true
	}
	return nil
}

// sandboxHidden lists the directories the System unit's sandbox hides
// (ProtectHome=yes, PrivateTmp=yes): an executable or configuration there
// cannot be reached by the service.
var sandboxHidden = []string{"/home", "/root", "/run/user", "/tmp", "/var/tmp"}

func (r *resolved) checkSandboxPaths() error {
	if r.goos != "linux" || r.Scope != System || (r.Host != nil && r.Host.skipSandboxPathCheck) {
		return nil
	}
	for _, f := range []struct{ what, v string }{
		{"executable", r.Executable},
		{"configuration", r.ConfigPath},
		{"credentials directory", r.CredentialsDir},
	} {
		p := path.Clean(f.v)
		for _, h := range sandboxHidden {
			if p == h || strings.HasPrefix(p, h+"/") {
				return fmt.Errorf("installer: the %s %s is under %s, which the system unit's sandbox hides from the service (ProtectHome/PrivateTmp); put it elsewhere (e.g. copy holdover to /usr/local/bin)", f.what, f.v, h)
			}
		}
	}
	return nil
}

// host returns the hooks with defaults filled in.
func (opts Options) host() Host {
	var h Host
	if opts.Host != nil {
		h = *opts.Host
	}
	if h.GOOS == "" {
		h.GOOS = runtime.GOOS
	}
	if h.SystemdRunning == nil {
		h.SystemdRunning = systemdRunning
	}
	if h.EnsureUser == nil {
		h.EnsureUser = ensureUser
	}
	if h.NewService == nil {
		h.NewService = newKardianosService
	}
	return h
}
