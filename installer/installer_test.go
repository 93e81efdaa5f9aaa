package installer

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/kardianos/service"
)

// fakeService records every call; nothing touches the real host.
type fakeService struct {
	mu        sync.Mutex
	calls     []string
	status    service.Status
	statusErr error
	errs      map[string]error // per call name
}

func (f *fakeService) call(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	return f.errs[name]
}

func (f *fakeService) Install() error   { return f.call("install") }
func (f *fakeService) Uninstall() error { return f.call("uninstall") }
func (f *fakeService) Start() error     { return f.call("start") }
func (f *fakeService) Stop() error      { return f.call("stop") }
func (f *fakeService) Restart() error   { return f.call("restart") }
func (f *fakeService) Status() (service.Status, error) {
	f.call("status")
	return f.status, f.statusErr
}

func (f *fakeService) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// fakeHost is a Host whose every hook records into it.
type fakeHost struct {
	svc        *fakeService
	systemd    bool
	cfgs       []*service.Config
	userCalls  []string
	newSvcErr  error
	ensureErr  error
	systemdAsk int
}

func newFakeHost() *fakeHost {
	return &fakeHost{
		svc:     &fakeService{statusErr: service.ErrNotInstalled, errs: map[string]error{}},
		systemd: true,
	}
}

func (h *fakeHost) host(goos string) *Host {
	return &Host{
		GOOS:           goos,
		SystemdRunning: func() bool { h.systemdAsk++; return h.systemd },
		EnsureUser: func(name, home string) (Account, error) {
			h.userCalls = append(h.userCalls, name+" "+home)
			// The current uid/gid, so the chown works without root.
			return Account{Name: name, UID: os.Getuid(), GID: os.Getgid(), Created: true}, h.ensureErr
		},
		NewService: func(cfg *service.Config) (Service, error) {
			h.cfgs = append(h.cfgs, cfg)
			if h.newSvcErr != nil {
				return nil, h.newSvcErr
			}
			return h.svc, nil
		},
		skipSandboxPathCheck: true,
	}
}

// opts returns Options whose paths all live under a fresh temp dir.
func (h *fakeHost) opts(t *testing.T, goos string, scope Scope) Options {
	root := t.TempDir()
	return Options{
		Scope:          scope,
		Executable:     "/usr/local/bin/holdover",
		ConfigPath:     filepath.Join(root, "etc/holdover/config.yaml"),
		CredentialsDir: filepath.Join(root, "etc/holdover/credentials"),
		LogDir:         filepath.Join(root, "log/holdover"),
		StarterConfig:  []byte("# starter\nlog:\n  level: info\n"),
		Host:           h.host(goos),
	}
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestInstallWritesStarterConfig(t *testing.T) {
	for _, tc := range []struct {
		scope            Scope
		fileMode         os.FileMode
		wantUserCreation bool
	}{{System, 0o640, true}, {User, 0o600, false}} {
		t.Run(tc.scope.String(), func(t *testing.T) {
			h := newFakeHost()
			o := h.opts(t, "linux", tc.scope)
			res, err := Install(o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(o.ConfigPath)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, o.StarterConfig) {
				t.Errorf("config = %q, want the starter %q", got, o.StarterConfig)
			}
			if m := mode(t, o.ConfigPath); m != tc.fileMode {
				t.Errorf("config mode = %o, want %o", m, tc.fileMode)
			}
			if m := mode(t, filepath.Dir(o.ConfigPath)); m != 0o750 {
				t.Errorf("config dir mode = %o, want 750", m)
			}
			if !res.ConfigCreated || res.ConfigPath != o.ConfigPath || res.Platform != "linux-systemd" {
				t.Errorf("result = %+v", res)
			}
			if got := h.svc.recorded(); !reflect.DeepEqual(got, []string{"status", "install"}) {
				t.Errorf("service calls = %v, want [status install]", got)
			}
			if tc.wantUserCreation {
				if want := []string{"holdover /var/lib/holdover"}; !reflect.DeepEqual(h.userCalls, want) || !res.UserCreated {
					t.Errorf("user creation calls = %v (UserCreated %v), want %v", h.userCalls, res.UserCreated, want)
				}
			} else if len(h.userCalls) != 0 || res.UserCreated {
				t.Errorf("user scope created an account: %v", h.userCalls)
			}
			// What kardianos installs is exactly the rendered unit.
			cfg := h.cfgs[0]
			unit, err := RenderSystemdUnit(Options{Scope: tc.scope, Executable: o.Executable, ConfigPath: o.ConfigPath, CredentialsDir: o.CredentialsDir})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Option["SystemdScript"] != string(unit) {
				t.Errorf("SystemdScript option differs from RenderSystemdUnit:\n%v", cfg.Option["SystemdScript"])
			}
			if cfg.Option["UserService"] != (tc.scope == User) || cfg.Name != ServiceName {
				t.Errorf("kardianos config = %+v", cfg)
			}
		})
	}
}

func TestInstallNeverOverwritesConfig(t *testing.T) {
	h := newFakeHost()
	o := h.opts(t, "linux", System)
	if err := os.MkdirAll(filepath.Dir(o.ConfigPath), 0o755); err != nil {
		t.Fatal(err)
	}
	mine := []byte("accounts: [mine]\n")
	if err := os.WriteFile(o.ConfigPath, mine, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(o.ConfigPath, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Install(o)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(o.ConfigPath); !bytes.Equal(got, mine) {
		t.Errorf("existing config overwritten: %q", got)
	}
	if m := mode(t, o.ConfigPath); m != 0o644 {
		t.Errorf("existing config mode changed to %o", m)
	}
	if m := mode(t, filepath.Dir(o.ConfigPath)); m != 0o755 {
		t.Errorf("existing dir mode changed to %o", m)
	}
	if res.ConfigCreated {
		t.Error("ConfigCreated for an existing file")
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(o.ConfigPath), ".*tmp*")); len(left) != 0 {
		t.Errorf("temp files left behind: %v", left)
	}

	// A dangling symlink counts as existing too.
	h2 := newFakeHost()
	o2 := h2.opts(t, "linux", User)
	if err := os.MkdirAll(filepath.Dir(o2.ConfigPath), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent/holdover.yaml", o2.ConfigPath); err != nil {
		t.Fatal(err)
	}
	if res, err := Install(o2); err != nil || res.ConfigCreated {
		t.Fatalf("Install over a dangling symlink: %+v, %v", res, err)
	}
	if target, err := os.Readlink(o2.ConfigPath); err != nil || target != "/nonexistent/holdover.yaml" {
		t.Errorf("symlink replaced: %q, %v", target, err)
	}
}

func TestInstallDefaultStarter(t *testing.T) {
	h := newFakeHost()
	o := h.opts(t, "linux", User)
	o.StarterConfig = nil
	if _, err := Install(o); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(o.ConfigPath); !bytes.Equal(got, DefaultStarterConfig) {
		t.Errorf("config = %q, want DefaultStarterConfig", got)
	}
}

func TestInstallCredentials(t *testing.T) {
	h := newFakeHost()
	o := h.opts(t, "linux", System)
	o.Credentials = []string{"imap", "smtp"}
	if err := os.MkdirAll(o.CredentialsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(o.CredentialsDir, "imap"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Install(o)
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(res.Notes, "\n")
	if !strings.Contains(notes, "credential smtp") || strings.Contains(notes, "credential imap") {
		t.Errorf("notes should name the missing credential smtp only: %q", notes)
	}

	h = newFakeHost()
	o = h.opts(t, "linux", System)
	o.Credentials = []string{"imap"}
	if _, err := Install(o); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, o.CredentialsDir); m != 0o700 {
		t.Errorf("credentials dir mode = %o, want 700", m)
	}
}

func TestInstallDarwin(t *testing.T) {
	h := newFakeHost()
	o := h.opts(t, "darwin", System)
	o.DataDir = filepath.Join(filepath.Dir(o.LogDir), "lib/holdover")
	res, err := Install(o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Platform != "darwin-launchd" || res.ServiceFile != "/Library/LaunchDaemons/holdover.plist" {
		t.Errorf("result = %+v", res)
	}
	for _, d := range []string{o.DataDir, o.LogDir} {
		if m := mode(t, d); m != 0o750 {
			t.Errorf("%s mode = %o, want 750", d, m)
		}
	}
	if len(h.userCalls) != 1 {
		t.Errorf("EnsureUser calls = %v, want one", h.userCalls)
	}
	plist, err := RenderLaunchdPlist(Options{Scope: System, Executable: o.Executable, ConfigPath: o.ConfigPath, LogDir: o.LogDir, DataDir: o.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	if h.cfgs[0].Option["LaunchdConfig"] != string(plist) {
		t.Errorf("LaunchdConfig option differs from RenderLaunchdPlist")
	}
}

func TestInstallRefusals(t *testing.T) {
	t.Run("already installed", func(t *testing.T) {
		h := newFakeHost()
		h.svc.status, h.svc.statusErr = service.StatusStopped, nil
		o := h.opts(t, "linux", System)
		if _, err := Install(o); !errors.Is(err, ErrAlreadyInstalled) {
			t.Fatalf("err = %v, want ErrAlreadyInstalled", err)
		}
		if got := h.svc.recorded(); !reflect.DeepEqual(got, []string{"status"}) {
			t.Errorf("calls = %v", got)
		}
		if _, err := os.Stat(o.ConfigPath); err == nil || len(h.userCalls) != 0 {
			t.Error("side effects before the already-installed check")
		}
	})
	t.Run("account error", func(t *testing.T) {
		h := newFakeHost()
		h.ensureErr = errors.New("useradd: boom")
		o := h.opts(t, "linux", System)
		if _, err := Install(o); err == nil || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("err = %v", err)
		}
		if got := h.svc.recorded(); !reflect.DeepEqual(got, []string{"status"}) {
			t.Errorf("calls = %v, want no install", got)
		}
	})
	t.Run("service install error", func(t *testing.T) {
		h := newFakeHost()
		h.svc.errs["install"] = errors.New("Init already exists")
		if _, err := Install(h.opts(t, "linux", User)); err == nil || !strings.Contains(err.Error(), "Init already exists") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("sandbox paths", func(t *testing.T) {
		h := newFakeHost()
		o := Options{Scope: System, Executable: "/home/alice/go/bin/holdover", Host: h.host("linux")}
		o.Host.skipSandboxPathCheck = false
		if _, err := Install(o); err == nil || !strings.Contains(err.Error(), "ProtectHome") {
			t.Fatalf("err = %v, want the sandbox error", err)
		}
		if len(h.cfgs) != 0 {
			t.Error("service manager consulted despite the path error")
		}
	})
}

func TestUninstall(t *testing.T) {
	for _, tc := range []struct {
		name      string
		stopErr   error
		status    service.Status
		statusErr error
		wantCalls []string
		wantErr   error
	}{
		{"running", nil, service.StatusRunning, nil, []string{"stop", "uninstall"}, nil},
		{"stop fails, stopped", errors.New("not started"), service.StatusStopped, nil, []string{"stop", "status", "uninstall"}, nil},
		{"stop fails, failed unit", errors.New("x"), service.StatusUnknown, errors.New("service in failed state"), []string{"stop", "status", "uninstall"}, nil},
		{"stop fails, still running", errors.New("timeout"), service.StatusRunning, nil, []string{"stop", "status"}, errors.New("stop the service")},
		{"not installed", errors.New("unit not loaded"), service.StatusUnknown, service.ErrNotInstalled, []string{"stop", "status"}, ErrNotInstalled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost()
			h.svc.errs["stop"] = tc.stopErr
			h.svc.status, h.svc.statusErr = tc.status, tc.statusErr
			o := h.opts(t, "linux", System)
			if err := os.MkdirAll(filepath.Dir(o.ConfigPath), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(o.ConfigPath, []byte("keep"), 0o640); err != nil {
				t.Fatal(err)
			}
			err := Uninstall(o)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("err = %v", err)
			case tc.wantErr == ErrNotInstalled && !errors.Is(err, ErrNotInstalled):
				t.Fatalf("err = %v, want ErrNotInstalled", err)
			case tc.wantErr != nil && (err == nil || !strings.Contains(err.Error(), tc.wantErr.Error())):
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got := h.svc.recorded(); !reflect.DeepEqual(got, tc.wantCalls) {
				t.Errorf("calls = %v, want %v", got, tc.wantCalls)
			}
			if b, _ := os.ReadFile(o.ConfigPath); string(b) != "keep" {
				t.Error("uninstall touched the configuration")
			}
		})
	}
}

func TestStatusMapping(t *testing.T) {
	for _, tc := range []struct {
		st      service.Status
		err     error
		want    State
		wantErr bool
	}{
		{service.StatusRunning, nil, StateRunning, false},
		{service.StatusStopped, nil, StateStopped, false},
		{service.StatusUnknown, service.ErrNotInstalled, StateNotInstalled, false},
		{service.StatusUnknown, errors.New("service in failed state"), StateUnknown, true},
		{service.StatusUnknown, nil, StateUnknown, true},
	} {
		h := newFakeHost()
		h.svc.status, h.svc.statusErr = tc.st, tc.err
		got, err := Status(h.opts(t, "linux", User))
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("kardianos (%v, %v) -> (%v, %v), want %v (error %v)", tc.st, tc.err, got, err, tc.want, tc.wantErr)
		}
	}
	for s, want := range map[State]string{StateRunning: "running", StateStopped: "stopped", StateNotInstalled: "not-installed", StateUnknown: "unknown"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), want)
		}
	}
}

func TestControl(t *testing.T) {
	ops := map[string]func(Options) error{"start": Start, "stop": Stop, "restart": Restart}
	for name, op := range ops {
		h := newFakeHost()
		if err := op(h.opts(t, "linux", System)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if got := h.svc.recorded(); !reflect.DeepEqual(got, []string{name}) {
			t.Errorf("%s: calls = %v", name, got)
		}
		h = newFakeHost()
		h.svc.errs[name] = errors.New("unit not found")
		if err := op(h.opts(t, "linux", System)); !errors.Is(err, ErrNotInstalled) {
			t.Errorf("%s on a missing service: err = %v, want ErrNotInstalled", name, err)
		}
	}
}

func TestNoSystemd(t *testing.T) {
	h := newFakeHost()
	h.systemd = false
	o := h.opts(t, "linux", System)
	check := func(name string, err error) {
		if !errors.Is(err, ErrNoSystemd) || err.Error() != ErrNoSystemd.Error() {
			t.Errorf("%s: err = %v, want ErrNoSystemd", name, err)
		}
	}
	_, err := Install(o)
	check("install", err)
	check("uninstall", Uninstall(o))
	check("start", Start(o))
	check("stop", Stop(o))
	check("restart", Restart(o))
	st, err := Status(o)
	check("status", err)
	_, err = ServiceConfig(o)
	check("config", err)
	if st != StateUnknown || len(h.cfgs) != 0 || len(h.userCalls) != 0 || len(h.svc.recorded()) != 0 {
		t.Errorf("something was called: state %v, configs %d, users %v, calls %v", st, len(h.cfgs), h.userCalls, h.svc.recorded())
	}
	if h.systemdAsk == 0 {
		t.Error("the systemd check was never consulted")
	}
	if _, err := os.Stat(filepath.Dir(o.ConfigPath)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("configuration directory created: %v", err)
	}
	const want = "systemd is not running as PID 1 on this machine; holdover install supports systemd only on Linux — run `holdover run` under your init system instead"
	if ErrNoSystemd.Error() != want {
		t.Errorf("message = %q", ErrNoSystemd)
	}
}

func TestUnsupportedPlatforms(t *testing.T) {
	h := newFakeHost()
	o := h.opts(t, "windows", User)
	if _, err := Install(o); !errors.Is(err, ErrUnsupported) {
		t.Errorf("windows user scope: %v", err)
	}
	o = h.opts(t, "freebsd", System)
	if err := Start(o); !errors.Is(err, ErrUnsupported) {
		t.Errorf("freebsd: %v", err)
	}
	if len(h.cfgs) != 0 {
		t.Error("service manager consulted on an unsupported platform")
	}
}

func TestWindowsServiceConfig(t *testing.T) {
	h := newFakeHost()
	cfg, err := ServiceConfig(Options{
		Scope: System, Executable: `C:\Program Files\holdover\holdover.exe`,
		Credentials: []string{"imap"}, SetConfigEnv: true, Host: h.host("windows"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Option["DelayedAutoStart"] != true || cfg.Option["OnFailure"] != "restart" || cfg.DisplayName == "" || cfg.Description == "" {
		t.Errorf("options = %+v", cfg)
	}
	if len(cfg.Arguments) != 3 || cfg.Arguments[0] != "run" || cfg.Arguments[1] != "--config" || !strings.HasSuffix(cfg.Arguments[2], `\holdover\config.yaml`) {
		t.Errorf("arguments = %q", cfg.Arguments)
	}
	if cfg.EnvVars["HOLDOVER_CONFIG"] != cfg.Arguments[2] || cfg.EnvVars["CREDENTIALS_DIRECTORY"] == "" {
		t.Errorf("env = %v", cfg.EnvVars)
	}
	if cfg.UserName != "" {
		t.Errorf("UserName = %q, want LocalSystem", cfg.UserName)
	}
}

// TestDefaultHostWithoutSystemd runs the real default hooks, read-only: on
// a Linux machine without systemd as PID 1 (containers, this CI) Status
// must stop at the systemd check. On a systemd host it only checks that
// the detection agrees, and touches nothing.
func TestDefaultHostWithoutSystemd(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("the systemd check only applies on Linux, this is %s", runtime.GOOS)
	}
	_, statErr := os.Stat("/run/systemd/system")
	if systemdRunning() != (statErr == nil) {
		t.Fatalf("systemdRunning() = %v but stat /run/systemd/system: %v", systemdRunning(), statErr)
	}
	if statErr == nil {
		t.Log("systemd is PID 1 here; not calling the real service manager from a test")
		return
	}
	st, err := Status(Options{Scope: System, Executable: testExe})
	if st != StateUnknown || !errors.Is(err, ErrNoSystemd) {
		t.Errorf("Status = %v, %v; want ErrNoSystemd", st, err)
	}
}
