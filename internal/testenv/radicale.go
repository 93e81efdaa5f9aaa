package testenv

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Radicale is a running throwaway Radicale CalDAV/CardDAV server.
//
// It serves plain HTTP on URL with Basic auth (one user, random password)
// and owner_only rights: a user may only touch collections under
// URL+User+"/". Collections live on disk under StorageDir, Radicale's
// "collection-root": the calendar at URL+"alice/work/" is the directory
// StorageDir/alice/work, holding one .ics file per item and a .Radicale.props
// JSON file ({"tag": "VCALENDAR"} for a calendar). Tests may seed large
// calendars by writing .ics files there directly (see [Radicale.CalendarDir]);
// Radicale picks them up on the next request (its item cache is keyed by
// file content).
type Radicale struct {
	URL      string // http://127.0.0.1:<port>/
	User     string
	Password string

	StorageDir string // collection root on disk (…/collections/collection-root)
	Dir        string // instance directory: config, users file, log
	LogFile    string // Radicale's log (its stderr)

	usersFile string
}

// radicaleConf is the self-contained configuration; /etc/radicale is never
// read (--config replaces the default search path).
const radicaleConf = `# holdover testenv: throwaway Radicale, generated; do not edit.
[server]
hosts = 127.0.0.1:{{port}}
max_connections = 20
timeout = 30

[auth]
type = htpasswd
htpasswd_filename = {{dir}}/users
# plain: bcrypt needs python3-bcrypt, which Debian's radicale does not pull
# in; md5 (apr1) would work through passlib but needs htpasswd to write.
htpasswd_encryption = plain
# No delay after a failed login, so auth-failure tests stay fast.
delay = 0

[rights]
type = owner_only

[storage]
type = multifilesystem
filesystem_folder = {{dir}}/collections

[web]
type = none

[logging]
level = info
mask_passwords = True
`

// StartRadicale starts a Radicale server on 127.0.0.1 with one user whose
// password is random, and stops it (by PID) when the test ends. It runs
// /usr/bin/radicale (Debian's, bound to the system python3 and its passlib),
// not "python3 -m radicale", which may pick another interpreter.
func StartRadicale(t testing.TB) *Radicale {
	t.Helper()
	bin := mustBinary(t, "radicale")
	dir := instanceDir(t, "radicale")
	r := &Radicale{
		User:       "holdover",
		Password:   randomSecret(t),
		Dir:        dir,
		StorageDir: filepath.Join(dir, "collections", "collection-root"),
		LogFile:    filepath.Join(dir, "radicale.log"),
		usersFile:  filepath.Join(dir, "users"),
	}
	mkdirs(t, r.StorageDir)
	writeFile(t, r.usersFile, r.User+":"+r.Password+"\n", 0o600)

	conf := filepath.Join(dir, "radicale.conf")
	launch := func(port int) *process {
		c := strings.NewReplacer("{{dir}}", dir, "{{port}}", strconv.Itoa(port)).Replace(radicaleConf)
		writeFile(t, conf, c, 0o644)
		return startProcess(t, "radicale", dir, r.LogFile, nil,
			[]string{"PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"},
			bin, "--config", conf)
	}
	_, port := startServer(t, launch, httpProbe("/"))
	r.URL = fmt.Sprintf("http://127.0.0.1:%d/", port)
	return r
}

// CalendarDir returns the on-disk directory of User's calendar name
// (served at URL+User+"/"+name+"/"), creating it as an empty calendar if it
// does not exist. Tests seed it by writing one VCALENDAR .ics file per item.
func (r *Radicale) CalendarDir(t testing.TB, name string) string {
	t.Helper()
	if name == "" || strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
		t.Fatalf("testenv: radicale: bad calendar name %q", name)
	}
	dir := filepath.Join(r.StorageDir, r.User, name)
	props := filepath.Join(dir, ".Radicale.props")
	if _, err := os.Stat(props); err == nil {
		return dir
	}
	mkdirs(t, dir)
	writeFile(t, props, `{"tag": "VCALENDAR"}`, 0o644)
	return dir
}

// httpProbe returns a probe that succeeds once an HTTP server answers a GET
// of path with any status.
func httpProbe(path string) func(port int) error {
	return func(port int) error {
		client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
}
