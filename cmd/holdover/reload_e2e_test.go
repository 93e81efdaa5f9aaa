package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/holdover/holdover/internal/testenv"
)

func appendTo(t *testing.T, d *testenv.Dovecot, user, pass, msgID string) {
	t.Helper()
	c, err := imapclient.DialInsecure(d.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	testenv.Append(t, c, "INBOX", []byte("From: x@example.com\r\nSubject: "+msgID+"\r\nMessage-ID: <"+msgID+">\r\n\r\nhi\r\n"), time.Time{})
}

func countMail(t *testing.T, env []string, cfg, account string) int {
	t.Helper()
	code, out, _ := runBin(t, env, "--config", cfg, "mail", "ls", "--account", account, "--json")
	var msgs []messageJSON
	if code != 0 || json.Unmarshal([]byte(out), &msgs) != nil {
		return -1
	}
	return len(msgs)
}

// The admin's story: the daemon runs, a config change breaks the file, the
// daemon keeps syncing on the last good one and says why; the fix (a new
// account) is applied without a restart, through the file watcher alone.
func TestHotReloadKeepsSyncingOnBrokenConfigAndAppliesTheFix(t *testing.T) {
	d := testenv.StartDovecot(t)
	user2, pass2 := d.AddUser(t, "second")
	appendTo(t, d, d.User, d.Password, "one@example.com")
	appendTo(t, d, user2, pass2, "home-one@example.com")

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	account := func(name, user, env string) string {
		return fmt.Sprintf("  - name: %s\n    mail:\n      imap: {host: 127.0.0.1, port: %d, tls: none, username: %s, password_env: %s}\n", name, d.Port, user, env)
	}
	base := fmt.Sprintf("data_dir: %s/data\nlisten: {http: \"\", smtp: \"\"}\nsync: {interval: 1h}\naccounts:\n", dir) + account("work", d.User, "PW_WORK")
	os.WriteFile(cfg, []byte(base), 0o600)
	env := []string{"PW_WORK=" + d.Password, "PW_HOME=" + pass2}
	p := startDaemon(t, env, "--config", cfg)
	waitFor(t, "first pass", func() bool { return countMail(t, env, cfg, "work") == 1 })

	// Broken: an unknown key. No signal: the watcher must notice.
	os.WriteFile(cfg, []byte(base+"    colour: blue\n"), 0o600)
	waitFor(t, "rejection", func() bool { return strings.Contains(p.log(), "configuration rejected") })
	code, out, stderr := runBin(t, env, "--config", cfg, "status")
	if code != 0 || !strings.Contains(out, "REJECTED") || !strings.Contains(out, "colour") || !strings.Contains(stderr, "warning") {
		t.Fatalf("status with a broken config: exit %d\n%s%s", code, out, stderr)
	}
	appendTo(t, d, d.User, d.Password, "two@example.com")
	waitFor(t, "sync on the old config", func() bool { return countMail(t, env, cfg, "work") == 2 })

	// Fixed, with a second account: applied without a restart.
	os.WriteFile(cfg, []byte(base+account("home", user2, "PW_HOME")), 0o600)
	waitFor(t, "new account synced", func() bool { return countMail(t, env, cfg, "home") == 1 })
	code, out, _ = runBin(t, env, "--config", cfg, "status", "--json")
	var st struct {
		Daemon struct {
			PID  int
			Info struct {
				Reload struct {
					OK         bool
					Generation int
				}
			}
		}
		Accounts []struct{ Name string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || !st.Daemon.Info.Reload.OK || st.Daemon.Info.Reload.Generation != 2 || len(st.Accounts) != 2 {
		t.Fatalf("status after the fix: exit %d\n%s", code, out)
	}
	if st.Daemon.PID != p.cmd.Process.Pid {
		t.Fatal("the daemon restarted")
	}

	// An account removed from the file stops; its mail stays readable.
	os.WriteFile(cfg, []byte(fmt.Sprintf("data_dir: %s/data\nlisten: {http: \"\", smtp: \"\"}\naccounts:\n", dir)+account("home", user2, "PW_HOME")), 0o600)
	waitFor(t, "account stopped", func() bool { return strings.Contains(p.log(), "account stopped") })
	if n := countMail(t, env, cfg, "work"); n != 2 {
		t.Fatalf("removed account's mail: %d messages, want 2 kept", n)
	}
}
