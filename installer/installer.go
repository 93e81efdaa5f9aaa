package installer

import (
	"errors"
	"fmt"
	"os"
	"path"

	"github.com/kardianos/service"
)

// State is the state of the installed service.
type State int

const (
	// StateUnknown: the service manager could not say; Status then also
	// returns an error saying why (for systemd that includes a unit in the
	// "failed" state).
	StateUnknown State = iota
	StateRunning
	StateStopped
	StateNotInstalled
)

// String returns "unknown", "running", "stopped" or "not-installed".
func (s State) String() string {
	switch s {
	case StateRunning:
		return "running"
	case StateStopped:
		return "stopped"
	case StateNotInstalled:
		return "not-installed"
	}
	return "unknown"
}

// InstallResult says what Install did, for the command to report.
type InstallResult struct {
	// Platform is "linux-systemd", "darwin-launchd" or "windows-service".
	Platform string
	// ServiceFile is the unit or plist written; "" on Windows.
	ServiceFile string
	// ConfigPath is the configuration file the service runs with;
	// ConfigCreated is true when Install wrote the starter there, false
	// when a file existed already and was left untouched.
	ConfigPath    string
	ConfigCreated bool
	// UserCreated is true when Install created the System account.
	UserCreated bool
	// Notes are follow-up steps worth telling the person, one per line.
	Notes []string
}

// plan is everything an operation needs, computed before touching anything.
type plan struct {
	r    *resolved
	host Host
	cfg  *service.Config
}

// prepare checks the platform and options and builds the kardianos
// configuration. It has no side effect: on Linux without systemd it returns
// ErrNoSystemd before anything else is looked at.
func prepare(opts Options) (*plan, error) {
	h := opts.host()
	switch h.GOOS {
	case "linux":
		if !h.SystemdRunning() {
			return nil, ErrNoSystemd
		}
	case "darwin":
	case "windows":
		if opts.Scope == User {
			return nil, fmt.Errorf("installer: user services on Windows: %w; install a system service", ErrUnsupported)
		}
	default:
		return nil, fmt.Errorf("installer: %s: %w; holdover install supports Linux with systemd, macOS and Windows — run `holdover run` under your init system instead", h.GOOS, ErrUnsupported)
	}
	r, err := opts.resolve(h.GOOS)
	if err != nil {
		return nil, err
	}
	return &plan{r: r, host: h, cfg: r.serviceConfig()}, nil
}

// ServiceConfig returns the kardianos configuration Install registers on
// this host. `holdover run` needs it on Windows, where a process started by
// the SCM must call service.New(program, cfg) and Run() to report its state
// (service.Interactive() tells whether it was started by the SCM).
func ServiceConfig(opts Options) (*service.Config, error) {
	p, err := prepare(opts)
	if err != nil {
		return nil, err
	}
	return p.cfg, nil
}

func (r *resolved) serviceConfig() *service.Config {
	cfg := &service.Config{
		Name:        ServiceName,
		DisplayName: "Holdover",
		Description: "holdover local-first sync daemon",
		Executable:  r.Executable,
		Arguments:   []string{"run", "--config", r.ConfigPath},
		Option:      service.KeyValue{"UserService": r.Scope == User},
	}
	switch r.goos {
	case "linux":
		cfg.Option["SystemdScript"] = string(r.systemdUnit())
	case "darwin":
		cfg.Option["LaunchdConfig"] = string(r.launchdPlist())
	case "windows":
		cfg.Option["DelayedAutoStart"] = true
		cfg.Option["OnFailure"] = "restart"
		cfg.Option["OnFailureDelayDuration"] = "5s"
		env := map[string]string{}
		if len(r.Credentials) > 0 {
			env["CREDENTIALS_DIRECTORY"] = r.CredentialsDir
		}
		if r.SetConfigEnv {
			env["HOLDOVER_CONFIG"] = r.ConfigPath
		}
		if len(env) > 0 {
			cfg.EnvVars = env
		}
	}
	return cfg
}

func (r *resolved) platform() string {
	switch r.goos {
	case "linux":
		return "linux-systemd"
	case "darwin":
		return "darwin-launchd"
	}
	return "windows-service"
}

// serviceFile is where kardianos writes the unit or plist.
func (r *resolved) serviceFile() string {
	switch {
	case r.goos == "linux" && r.Scope == System:
		return "/etc/systemd/system/" + ServiceName + ".service"
	case r.goos == "linux":
		return path.Join(homeDir(), ".config/systemd/user", ServiceName+".service")
	case r.goos == "darwin" && r.Scope == System:
		return "/Library/LaunchDaemons/" + ServiceName + ".plist"
	case r.goos == "darwin":
		return path.Join(homeDir(), "Library/LaunchAgents", ServiceName+".plist")
	}
	return ""
}

func (p *plan) service() (Service, error) {
	s, err := p.host.NewService(p.cfg)
	if err != nil {
		return nil, fmt.Errorf("installer: open the %s service manager: %w", p.r.platform(), err)
	}
	return s, nil
}

// Install registers holdover with the service manager: it checks that the
// service is not installed yet, creates the System account when missing
// (Linux; required to exist on macOS), writes the starter configuration
// when none exists at ConfigPath, creates the credentials directory (and on
// macOS the data and log directories) and installs the unit, plist or SCM
// service. On Linux the unit is also enabled. It does not start the
// service; call Start for that.
func Install(opts Options) (*InstallResult, error) {
	p, err := prepare(opts)
	if err != nil {
		return nil, err
	}
	r := p.r
	if err := r.checkSandboxPaths(); err != nil {
		return nil, err
	}
	svc, err := p.service()
	if err != nil {
		return nil, err
	}
	if st, _ := mapStatus(svc.Status()); st == StateRunning || st == StateStopped {
		return nil, ErrAlreadyInstalled
	}

	res := &InstallResult{Platform: r.platform(), ServiceFile: r.serviceFile(), ConfigPath: r.ConfigPath}
	own := ownership{uid: -1, gid: -1}
	if r.Scope == System && (r.goos == "linux" || r.goos == "darwin") {
		acct, err := p.host.EnsureUser(r.ServiceUser, r.DataDir)
		if err != nil {
			return nil, fmt.Errorf("installer: service account %q: %w", r.ServiceUser, err)
		}
		res.UserCreated = acct.Created
		own = ownership{uid: acct.UID, gid: acct.GID}
	}
	if err := r.makeFiles(own, res); err != nil {
		return nil, err
	}
	if err := svc.Install(); err != nil {
		return nil, fmt.Errorf("installer: install the %s service: %w", res.Platform, err)
	}
	if res.ConfigCreated {
		res.Notes = append(res.Notes, fmt.Sprintf("edit %s (holdover needs at least one account) before starting the service", r.ConfigPath))
	}
	res.Notes = append(res.Notes, r.notes()...)
	return res, nil
}

// notes lists follow-up steps for the person running Install.
func (r *resolved) notes() []string {
	var n []string
	for _, c := range r.Credentials {
		f := path.Join(r.CredentialsDir, c)
		if r.goos == "windows" {
			f = r.CredentialsDir + `\` + c
		}
		if _, err := os.Stat(f); err != nil {
			n = append(n, fmt.Sprintf("credential %s: put the secret in %s before starting the service", c, f))
		}
	}
	if r.goos == "linux" && r.Scope == User {
		n = append(n, "to keep holdover running while you are logged out: loginctl enable-linger $USER")
	}
	return n
}

// Uninstall stops the service and removes its registration (unit, plist or
// SCM entry). The configuration, credentials and data are kept. A Stop
// failure is tolerated when the service is not running anyway (already
// stopped, failed); it is returned when the service still runs, and
// ErrNotInstalled when there is nothing to remove.
func Uninstall(opts Options) error {
	p, err := prepare(opts)
	if err != nil {
		return err
	}
	svc, err := p.service()
	if err != nil {
		return err
	}
	if stopErr := svc.Stop(); stopErr != nil {
		switch st, _ := mapStatus(svc.Status()); st {
		case StateNotInstalled:
			return ErrNotInstalled
		case StateRunning:
			return fmt.Errorf("installer: stop the service before removing it: %w", stopErr)
		}
	}
	if err := svc.Uninstall(); err != nil {
		return fmt.Errorf("installer: uninstall the %s service: %w", p.r.platform(), err)
	}
	return nil
}

// Start starts the installed service.
func Start(opts Options) error { return control(opts, "start", Service.Start) }

// Stop stops the running service.
func Stop(opts Options) error { return control(opts, "stop", Service.Stop) }

// Restart stops and starts the service.
func Restart(opts Options) error { return control(opts, "restart", Service.Restart) }

// control runs one action; when it fails because nothing is installed, the
// error is ErrNotInstalled.
func control(opts Options, name string, action func(Service) error) error {
	p, err := prepare(opts)
	if err != nil {
		return err
	}
	svc, err := p.service()
	if err != nil {
		return err
	}
	if err := action(svc); err != nil {
		if st, _ := mapStatus(svc.Status()); st == StateNotInstalled {
			return ErrNotInstalled
		}
		return fmt.Errorf("installer: %s the %s service: %w", name, p.r.platform(), err)
	}
	return nil
}

// Status reports the state of the service. StateNotInstalled comes with a
// nil error; StateUnknown always with an error saying why.
func Status(opts Options) (State, error) {
	p, err := prepare(opts)
	if err != nil {
		return StateUnknown, err
	}
	svc, err := p.service()
	if err != nil {
		return StateUnknown, err
	}
	return mapStatus(svc.Status())
}

// mapStatus turns kardianos' (Status, error) into a State.
func mapStatus(st service.Status, err error) (State, error) {
	if err != nil {
		if errors.Is(err, service.ErrNotInstalled) {
			return StateNotInstalled, nil
		}
		return StateUnknown, fmt.Errorf("installer: service status: %w", err)
	}
	switch st {
	case service.StatusRunning:
		return StateRunning, nil
	case service.StatusStopped:
		return StateStopped, nil
	}
	return StateUnknown, fmt.Errorf("installer: the service manager reported no status")
}
