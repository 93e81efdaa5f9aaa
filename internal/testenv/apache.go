package testenv

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Apache is a running throwaway Apache httpd serving WebDAV (mod_dav with
// mod_dav_fs) at URL, behind Basic auth for one user with a random
// password. The collection at URL is the directory Root on disk; tests may
// seed files there directly (owned by the server's user when run as root,
// see [TestUser], else Apache cannot modify them).
//
// mod_dav_fs honours If-Match on PUT (412 Precondition Failed on a
// mismatch) and supports LOCK (lock database in the instance directory).
// Quirk worth knowing: Apache makes an ETag weak (W/"…") while the file's
// mtime is less than a second old, and If-Match compares strongly, so an
// ETag read right after a write never matches; a second later the same
// resource has the strong ETag (same value without W/).
type Apache struct {
	URL      string // http://127.0.0.1:<port>/dav/
	User     string
	Password string

	Root    string // DAV root on disk, served at URL
	Dir     string // instance directory: ServerRoot, config, pid file, logs
	LogFile string // ErrorLog
	// AccessLog has a line per request, written when it ends:
	//   127.0.0.1 holdover "PUT /dav/a.txt HTTP/1.1" 201 - "<If-Match>" <µs taken> "<Depth>" "<If-None-Match>"
	AccessLog string
}

// apacheModules are loaded explicitly; Debian builds unixd, log_config and
// the core into the binary, everything else is a module.
var apacheModules = []struct{ name, file string }{
	{"mpm_event_module", "mod_mpm_event.so"},
	{"authz_core_module", "mod_authz_core.so"},
	{"authn_core_module", "mod_authn_core.so"},
	{"authn_file_module", "mod_authn_file.so"},
	{"auth_basic_module", "mod_auth_basic.so"},
	{"authz_user_module", "mod_authz_user.so"},
	{"dav_module", "mod_dav.so"},
	{"dav_fs_module", "mod_dav_fs.so"},
}

// apacheModuleDir is where Debian's apache2-bin installs its modules.
const apacheModuleDir = "/usr/lib/apache2/modules"

// apacheConf is the self-contained configuration; /etc/apache2 is never
// read (-f and -d point at the instance directory).
const apacheConf = `# holdover testenv: throwaway Apache httpd, generated; do not edit.
ServerRoot "{{dir}}"
ServerName 127.0.0.1
Listen 127.0.0.1:{{port}}
PidFile "{{dir}}/run/httpd.pid"
DefaultRuntimeDir "{{dir}}/run"
Mutex file:{{dir}}/run default
ErrorLog "{{dir}}/error.log"
LogLevel info
{{modules}}
{{user}}
StartServers 1
ServerLimit 2
ThreadsPerChild 16
MinSpareThreads 4
MaxSpareThreads 32
MaxRequestWorkers 32
MaxConnectionsPerChild 0
Timeout 30
KeepAlive On
{{bodylimit}}
LogFormat "%h %u \"%r\" %>s %b \"%{If-Match}i\" %D \"%{Depth}i\" \"%{If-None-Match}i\"" testenv
CustomLog "{{dir}}/access.log" testenv

DocumentRoot "{{dir}}/www"
DavLockDB "{{dir}}/lock/DAVLock"

<Directory />
  Options None
  AllowOverride None
  Require all denied
</Directory>

<Directory "{{dir}}/www/dav">
  Dav On
  DavDepthInfinity {{depthinf}}
  Options None
  AllowOverride None
  AuthType Basic
  AuthName "holdover testenv"
  AuthBasicProvider file
  AuthUserFile "{{dir}}/htpasswd"
  Require valid-user
</Directory>
`

// StartApache starts Apache httpd with WebDAV on 127.0.0.1 and stops it (by
// PID) when the test ends. When the tests run as root, the parent process
// stays root and its workers run as [TestUser] (created if missing), who
// owns Root and the lock directory.
func StartApache(t testing.TB) *Apache {
	t.Helper()
	return StartApacheWith(t, ApacheOptions{})
}

// ApacheOptions change StartApache's server from Apache's defaults.
type ApacheOptions struct {
	// DepthInfinity answers PROPFIND with Depth: infinity (the whole
	// tree at once), which Apache refuses by default (403).
	DepthInfinity bool
	// UnlimitedBody lifts the limit on a request's body (LimitRequestBody
	// 0): Apache refuses a PUT of more than 1 GiB by default (413).
	UnlimitedBody bool
}

// StartApacheWith is StartApache with opts.
func StartApacheWith(t testing.TB, opts ApacheOptions) *Apache {
	t.Helper()
	bin := mustBinary(t, "apache2")
	ru := unprivileged(t)

	var mods strings.Builder
	for _, m := range apacheModules {
		fmt.Fprintf(&mods, "LoadModule %s %s\n", m.name, filepath.Join(apacheModuleDir, m.file))
	}
	userConf := "# not root: workers run as the current user"
	if ru.Root {
		group, err := ru.groupName()
		if err != nil {
			t.Fatalf("testenv: apache: group of %s: %v", ru.Name, err)
		}
		userConf = fmt.Sprintf("User %s\nGroup %s", ru.Name, group)
	}

	dir := instanceDir(t, "apache")
	a := &Apache{
		User:      "holdover",
		Password:  randomSecret(t),
		Root:      filepath.Join(dir, "www", "dav"),
		Dir:       dir,
		LogFile:   filepath.Join(dir, "error.log"),
		AccessLog: filepath.Join(dir, "access.log"),
	}
	lockDir := filepath.Join(dir, "lock")
	mkdirs(t, a.Root, lockDir, filepath.Join(dir, "run"))
	htpasswd := filepath.Join(dir, "htpasswd")
	writeFile(t, htpasswd, a.User+":"+shaPassword(a.Password)+"\n", 0o640)
	ru.chown(t, a.Root, lockDir, htpasswd)

	conf := filepath.Join(dir, "httpd.conf")
	launch := func(port int) *process {
		c := strings.NewReplacer(
			"{{dir}}", dir,
			"{{port}}", strconv.Itoa(port),
			"{{modules}}", mods.String(),
			"{{user}}", userConf,
			"{{depthinf}}", map[bool]string{false: "Off", true: "On"}[opts.DepthInfinity],
			"{{bodylimit}}", map[bool]string{false: "# LimitRequestBody: Apache's default (1 GiB)", true: "LimitRequestBody 0"}[opts.UnlimitedBody],
		).Replace(apacheConf)
		writeFile(t, conf, c, 0o644)
		return startProcess(t, "apache2", dir, filepath.Join(dir, "stdout.log"),
			[]string{a.LogFile}, nil, bin, "-d", dir, "-f", conf, "-DFOREGROUND")
	}
	// /dav/ answers 401 without noise in the error log ("/" would log a 403).
	_, port := startServer(t, launch, httpProbe("/dav/"))
	a.URL = fmt.Sprintf("http://127.0.0.1:%d/dav/", port)
	return a
}

// shaPassword returns password in htpasswd's {SHA} form, which
// mod_authn_file accepts on every platform (plain text it accepts only on
// Windows). Generated here so htpasswd (apache2-utils) is not needed.
func shaPassword(password string) string {
	sum := sha1.Sum([]byte(password))
	return "{SHA}" + base64.StdEncoding.EncodeToString(sum[:])
}
