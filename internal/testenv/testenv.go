// Package testenv starts throwaway, loopback-only real servers for
// integration tests: Dovecot (IMAP), Radicale (CalDAV) and Apache httpd with
// mod_dav (WebDAV); and, inside the test process, an SMTP sink and an
// OAuth2/OIDC identity provider ([StartOIDC]) that Dovecot
// ([WithOAuth2]) and the sink ([SMTPSink.AcceptOAuth2Only]) check tokens
// with.
//
// Invariants every helper in this package keeps:
//
//   - A server binds 127.0.0.1 only, on a port that was free when it started
//     (picked by listening on 127.0.0.1:0; a lost bind race is retried).
//   - A server lives in its own fresh temporary directory holding its
//     configuration, data, pid file and logs; nothing under /etc or /var is
//     read or written (except creating the unprivileged system user that
//     Dovecot and Apache need when run as root, see [TestUser]).
//   - A server is a direct child of the test process, leading its own
//     process group. Its PID is recorded at start, and it is stopped by that
//     PID in t.Cleanup — SIGTERM to the group whose id is that PID, then
//     SIGKILL after a grace period — and reaped, so no process or zombie is
//     left behind, whether the test passed or failed. Nothing is ever
//     stopped by name.
//   - If the test binary itself dies, the kernel kills each server too
//     (parent-death signal, armed from a dedicated OS thread that never exits).
//   - A Start function returns only once the server answers its protocol; if
//     it does not within [ReadyTimeout], the test fails with the tail of the
//     server's logs.
//   - A missing server binary skips the test with a loud message, or fails it
//     when CI=true (see [Require]).
package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ReadyTimeout is how long a Start function waits for its server to answer.
const ReadyTimeout = 10 * time.Second

// TestUser is the unprivileged system user that servers refusing to run as
// root (Dovecot's mail processes, Apache's workers) run as when the tests run
// as root. It is created with useradd --system when missing.
const TestUser = "holdovertest"

// installHint is the command a developer runs to get every server binary.
const installHint = "scripts/install-test-deps.sh"

// extraBinDirs are searched after $PATH: server binaries live in sbin, which
// is often not in a non-root user's $PATH.
var extraBinDirs = []string{"/usr/sbin", "/sbin", "/usr/local/sbin"}

// lookBinary finds a binary in $PATH or the sbin directories.
func lookBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if strings.ContainsRune(name, '/') {
		return "", fmt.Errorf("%s: not found", name)
	}
	for _, dir := range extraBinDirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in $PATH or %s", name, strings.Join(extraBinDirs, ", "))
}

// Require reports whether binary exists (in $PATH or an sbin directory).
// When it is missing, a test running in CI (CI=true) fails, since a missing
// server is then a broken CI machine; anywhere else the test is skipped with
// a loud message naming the install script. Either way Require does not
// return when the binary is missing, so callers may ignore the result.
func Require(t testing.TB, binary string) bool {
	t.Helper()
	if _, err := lookBinary(binary); err == nil {
		return true
	}
	msg := fmt.Sprintf("SKIPPED: %s not installed; run %s", binary, installHint)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not installed, and a missing server is a failure in CI (CI=true); run %s", binary, installHint)
		return false
	}
	t.Skipf("\n%s\n%s\n%s", strings.Repeat("!", len(msg)), msg, strings.Repeat("!", len(msg)))
	return false
}

// mustBinary is Require followed by the binary's path.
func mustBinary(t testing.TB, binary string) string {
	t.Helper()
	Require(t, binary)
	p, err := lookBinary(binary)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return p
}

// pickPort picks the port for each start attempt; tests replace it to
// simulate losing the race for a port.
var pickPort = freePort

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago. The
// caller's server may still lose it to another process; Start functions
// retry with a new port when that happens.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: pick free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("testenv: pick free port: %v", err)
	}
	return port
}

// instanceDir creates a fresh directory for one server instance and removes
// it at cleanup (after the server is stopped, since cleanups run last-in
// first-out and the server's stop is registered later). Unlike t.TempDir it
// is world-traversable (0755), so servers' unprivileged workers can reach
// their files below it.
func instanceDir(t testing.TB, kind string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", dirPrefix+kind+"-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("testenv: remove %s: %v", dir, err)
		}
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	markOwner(t, dir)
	return dir
}

func mkdirs(t testing.TB, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
}

func writeFile(t testing.TB, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

// runAs describes who a server's unprivileged parts run as.
type runAs struct {
	Name     string
	UID, GID int
	Root     bool // the test runs as root, so chown and privilege drop apply
}

var (
	testUserOnce sync.Once
	testUserVal  runAs
	testUserErr  error
)

// unprivileged returns the user servers' workers run as: [TestUser]
// (created when missing) when the tests run as root, else the current user.
func unprivileged(t testing.TB) runAs {
	t.Helper()
	testUserOnce.Do(func() { testUserVal, testUserErr = lookupOrCreateUser() })
	if testUserErr != nil {
		t.Fatalf("testenv: %v", testUserErr)
	}
	return testUserVal
}

func lookupOrCreateUser() (runAs, error) {
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			return runAs{}, err
		}
		return toRunAs(u, false)
	}
	var lastErr error
	// Several test binaries may race to create the user; useradd then fails
	// with "already exists" or a lock error, and a retry finds the user.
	for i := 0; i < 20; i++ {
		if u, err := user.Lookup(TestUser); err == nil {
			return toRunAs(u, true)
		}
		useradd, err := lookBinary("useradd")
		if err != nil {
			return runAs{}, fmt.Errorf("user %s missing and useradd not found (apt-get install passwd): %v", TestUser, err)
		}
		out, err := exec.Command(useradd, "--system", "--user-group", "--no-create-home",
			"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", TestUser).CombinedOutput()
		if err == nil {
			continue
		}
		lastErr = fmt.Errorf("useradd %s: %v: %s", TestUser, err, bytes.TrimSpace(out))
		time.Sleep(100 * time.Millisecond)
	}
	return runAs{}, lastErr
}

func toRunAs(u *user.User, root bool) (runAs, error) {
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return runAs{}, err
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return runAs{}, err
	}
	return runAs{Name: u.Username, UID: uid, GID: gid, Root: root}, nil
}

// groupName returns the name of the user's primary group.
func (r runAs) groupName() (string, error) {
	g, err := user.LookupGroupId(strconv.Itoa(r.GID))
	if err != nil {
		return "", err
	}
	return g.Name, nil
}

// chown hands paths (recursively) to the user when running as root.
func (r runAs) chown(t testing.TB, paths ...string) {
	t.Helper()
	if !r.Root {
		return
	}
	for _, p := range paths {
		err := filepath.Walk(p, func(path string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(path, r.UID, r.GID)
		})
		if err != nil {
			t.Fatalf("testenv: chown %s: %v", p, err)
		}
	}
}

// RunWithoutSystemConfig runs m with HOLDOVER_SYSTEM_DIR pointing at an
// empty directory, so tests never read a real /etc/holdover on the
// machine that runs them. Call it from TestMain.
func RunWithoutSystemConfig(m *testing.M) int {
	dir, err := os.MkdirTemp("", "holdover-sysdir-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	os.Setenv("HOLDOVER_SYSTEM_DIR", filepath.Join(dir, "none"))
	return m.Run()
}
