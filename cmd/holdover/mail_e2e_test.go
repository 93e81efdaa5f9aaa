package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/internal/testenv"
)

// mailSetup starts Dovecot with a few messages and writes a config that
// mirrors it; the password comes from the environment.
func mailSetup(t *testing.T) (d *testenv.Dovecot, cfgPath string, raw []byte) {
	t.Helper()
	d = testenv.StartDovecot(t)
	c := d.Client(t)
	appendRaw := func(folder string, b []byte) {
		testenv.Append(t, c, folder, b, time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
	}
	raw = []byte("From: Alice <alice@example.com>\r\nTo: me@example.com\r\nSubject: Quarterly budget review\r\nMessage-ID: <budget@example.com>\r\nDate: Fri, 20 Nov 2026 09:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe numbers for Köln look fine.\r\n")
	appendRaw("INBOX", raw)
	for i := 0; i < 3; i++ {
		appendRaw("Archive", []byte(fmt.Sprintf("From: bob@example.com\r\nSubject: old %d\r\nMessage-ID: <old-%d@example.com>\r\n\r\nold news %d\r\n", i, i, i)))
	}
	dir := t.TempDir()
	cfgPath = filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf(`data_dir: %s/data
listen: {http: "", smtp: ""}
accounts:
  - name: work
    mail:
      imap: {host: 127.0.0.1, port: %d, tls: none, username: %s, password_env: HOLDOVER_E2E_PW}
`, dir, d.Port, d.User)
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	t.Setenv("HOLDOVER_E2E_PW", d.Password)
	return d, cfgPath, raw
}

func TestMailCommandsWorkWithTheServerStopped(t *testing.T) {
	d, cfg, raw := mailSetup(t)
	code, out, stderr := cli(t, "--config", cfg, "sync", "--once")
	if code != 0 || !strings.Contains(out, "work: mail 4 new (4 downloaded") {
		t.Fatalf("sync --once: exit %d\n%s%s", code, out, stderr)
	}
	d.Stop() // the provider is gone; everything below is local

	code, out, _ = cli(t, "--config", cfg, "mail", "folders", "--json")
	var folders []struct {
		Name             string
		SpecialUse       string `json:"special_use"`
		Messages, Unread int
	}
	if code != 0 || json.Unmarshal([]byte(out), &folders) != nil {
		t.Fatalf("mail folders: exit %d\n%s", code, out)
	}
	counts := map[string]int{}
	for _, f := range folders {
		counts[f.Name] = f.Messages
	}
	if counts["INBOX"] != 1 || counts["Archive"] != 3 {
		t.Fatalf("folders = %+v", folders)
	}

	code, out, _ = cli(t, "--config", cfg, "mail", "ls", "--folder", "Archive", "--json")
	var msgs []messageJSON
	if code != 0 || json.Unmarshal([]byte(out), &msgs) != nil || len(msgs) != 3 {
		t.Fatalf("mail ls: exit %d\n%s", code, out)
	}
	if code, out, _ = cli(t, "--config", cfg, "mail", "ls", "--unread"); code != 0 || strings.Count(out, "\n") != 5 {
		t.Fatalf("mail ls --unread: exit %d\n%s", code, out)
	}

	for _, q := range []string{"koln budget", `subject:"budget review"`, "from:alice"} {
		code, out, stderr = cli(t, "--config", cfg, "mail", "search", "--json", q)
		if code != 0 || json.Unmarshal([]byte(out), &msgs) != nil || len(msgs) != 1 || msgs[0].MessageID != "budget@example.com" {
			t.Fatalf("search %q: exit %d\n%s%s", q, code, out, stderr)
		}
	}
	id := fmt.Sprint(msgs[0].ID)
	if code, out, _ = cli(t, "--config", cfg, "mail", "search", "from:bob", "budget"); code != 0 || strings.Count(out, "\n") != 1 {
		t.Fatalf("search with no hit: exit %d\n%s", code, out)
	}

	code, out, _ = cli(t, "--config", cfg, "mail", "show", "--raw", id)
	if code != 0 || out != string(raw) {
		t.Fatalf("show --raw: exit %d, %d bytes; want the exact %d bytes", code, len(out), len(raw))
	}
	code, out, _ = cli(t, "--config", cfg, "mail", "show", id)
	if code != 0 || !strings.Contains(out, "Subject: Quarterly budget review") || !strings.Contains(out, "Köln look fine") {
		t.Fatalf("show: exit %d\n%s", code, out)
	}

	// A pass with the server down fails clearly and keeps everything.
	code, _, stderr = cli(t, "--config", cfg, "sync", "--once")
	if code == 0 || !strings.Contains(stderr, "connect") {
		t.Fatalf("sync with the server down: exit %d, %s", code, stderr)
	}
	if code, out, _ = cli(t, "--config", cfg, "mail", "ls", "--json"); code != 0 || json.Unmarshal([]byte(out), &msgs) != nil || len(msgs) != 4 {
		t.Fatalf("messages after a failed pass: exit %d\n%s", code, out)
	}
}

func TestSyncOnceIsDelegatedToTheRunningDaemon(t *testing.T) {
	_, cfg, _ := mailSetup(t)
	env := []string{"HOLDOVER_E2E_PW=" + os.Getenv("HOLDOVER_E2E_PW")}
	p := startDaemon(t, env, "--config", cfg)
	code, out, stderr := runBin(t, env, "--config", cfg, "sync", "--once")
	if code != 0 || !strings.Contains(out, "the running daemon did the pass") {
		t.Fatalf("sync --once with a daemon: exit %d\n%s%s\n%s", code, out, stderr, p.log())
	}
	code, out, _ = runBin(t, env, "--config", cfg, "status")
	if code != 0 || !strings.Contains(out, "imap") || !strings.Contains(out, "up") {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
}
