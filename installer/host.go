package installer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"runtime"
	"strconv"
	"strings"

	"github.com/kardianos/service"
)

// systemdRunning is the default Host.SystemdRunning: systemd is PID 1 when
// /run/systemd/system is a directory (sd_booted(3)).
func systemdRunning() bool {
	fi, err := os.Stat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// noopProgram satisfies service.Interface for a handle used only to
// install and control the service, never to Run it.
type noopProgram struct{}

func (noopProgram) Start(service.Service) error { return nil }
func (noopProgram) Stop(service.Service) error  { return nil }

// newKardianosService is the default Host.NewService. On Linux it refuses
// any backend other than systemd, in case kardianos' own detection (which
// also accepts systemctl plus /proc/1/comm) disagrees with ours.
func newKardianosService(cfg *service.Config) (Service, error) {
	s, err := service.New(noopProgram{}, cfg)
	if err != nil {
		return nil, err
	}
	if runtime.GOOS == "linux" && s.Platform() != "linux-systemd" {
		return nil, fmt.Errorf("%w (kardianos/service chose %s)", ErrNoSystemd, s.Platform())
	}
	return s, nil
}

// ensureUser is the default Host.EnsureUser. On Linux it creates a missing
// account with useradd (system account, own group, no login shell, home =
// the data directory, which is not created here: systemd's StateDirectory=
// does that). Elsewhere it only looks the account up.
func ensureUser(name, home string) (Account, error) {
	acct, err := lookupAccount(name)
	if err == nil {
		return acct, nil
	}
	var unknown user.UnknownUserError
	if !errors.As(err, &unknown) {
		return Account{}, err
	}
	if runtime.GOOS != "linux" {
		return Account{}, fmt.Errorf("the account does not exist; create it first (on macOS with dscl or sysadminctl), or set ServiceUser to an existing account")
	}
	args := []string{"--system", "--home-dir", home, "--shell", nologin()}
	if _, gerr := user.LookupGroup(name); gerr == nil {
		args = append(args, "--gid", name) // the group exists already
	} else {
		args = append(args, "--user-group")
	}
	args = append(args, name)
	if out, err := exec.Command("useradd", args...).CombinedOutput(); err != nil {
		return Account{}, fmt.Errorf("useradd %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	acct, err = lookupAccount(name)
	if err != nil {
		return Account{}, fmt.Errorf("after useradd: %w", err)
	}
	acct.Created = true
	return acct, nil
}

func lookupAccount(name string) (Account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return Account{}, err
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return Account{}, fmt.Errorf("account %s has a non-numeric uid/gid %s/%s", name, u.Uid, u.Gid)
	}
	return Account{Name: name, UID: uid, GID: gid}, nil
}

func nologin() string {
	for _, p := range []string{"/usr/sbin/nologin", "/sbin/nologin", "/usr/bin/nologin"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/bin/false"
}
