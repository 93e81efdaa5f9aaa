package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/holdover/holdover/internal/faultproxy"
	"github.com/holdover/holdover/internal/testenv"
	"github.com/holdover/holdover/store"
)

// kill -9 during the initial sync, then start again: the second run
// continues where the first stopped, and downloads nothing twice.
func TestKilledInitialSyncResumesWithoutDownloadingTwice(t *testing.T) {
	const total = 600
	d := testenv.StartDovecot(t)
	c := d.Client(t)
	body := strings.Repeat("a line of a realistic letter, more or less\r\n", 300)
	for i := 0; i < total; i++ {
		testenv.Append(t, c, "INBOX", []byte(fmt.Sprintf("From: a@example.com\r\nSubject: m%d\r\nMessage-ID: <kill-%d@example.com>\r\n\r\n%s", i, i, body)), time.Time{})
	}
	// Slow the server down so the kill lands mid-sync.
	proxy, err := faultproxy.New(d.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.Latency(2 * time.Millisecond)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("data_dir: %s/data\nlisten: {http: \"\", smtp: \"\"}\naccounts:\n  - name: work\n    mail:\n      imap: {host: 127.0.0.1, port: %d, tls: none, username: %s, password_env: PW}\n",
		dir, proxy.Port(), d.User)), 0o600)
	env := append(os.Environ(), "PW="+d.Password)

	cmd := exec.Command(holdoverBin(t), "--config", cfg, "sync", "--once")
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "data", "holdover.db")
	committed := 0
	deadline := time.Now().Add(60 * time.Second)
	for committed == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		committed = storedMessages(t, dbPath)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	committed = storedMessages(t, dbPath)
	if committed == 0 || committed == total {
		t.Fatalf("%d of %d messages committed at the kill; the test needs a partial sync", committed, total)
	}

	proxy.Latency(0)
	code, out, stderr := runBin(t, []string{"PW=" + d.Password}, "--config", cfg, "sync", "--once")
	m := regexp.MustCompile(`(\d+) new \((\d+) downloaded`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("second run: exit %d\n%s%s", code, out, stderr)
	}
	downloaded, _ := strconv.Atoi(m[2])
	if downloaded != total-committed {
		t.Fatalf("second run downloaded %d, want %d (%d committed before the kill)", downloaded, total-committed, committed)
	}
	if n := storedMessages(t, dbPath); n != total {
		t.Fatalf("%d messages stored, want %d", n, total)
	}
	code, out, _ = runBin(t, nil, "--config", cfg, "db", "check")
	if code != 0 || !strings.Contains(out, "integrity: ok") {
		t.Fatalf("db check: exit %d\n%s", code, out)
	}
	t.Logf("killed after %d of %d committed; the second run downloaded the other %d", committed, total, downloaded)
}

func storedMessages(t *testing.T, path string) int {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		return 0
	}
	db, err := store.Open(context.Background(), path)
	if err != nil {
		return 0
	}
	defer db.Close()
	msgs, err := db.ListMailMessages(context.Background(), store.MailFilter{})
	if err != nil {
		return 0
	}
	return len(msgs)
}
