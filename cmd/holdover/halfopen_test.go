package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// `holdover sync --once` against a provider that accepts the connection
// and never answers ends within mail.timeout with a transient error (it
// used to wait for the 2-minute read limit, or for good).
func TestSyncOnceAgainstASilentServerEndsWithinMailTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	t.Setenv("HOLDOVER_TEST_PW", "pw")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	yaml := fmt.Sprintf("data_dir: %s\nlisten: {http: \"\", smtp: \"\"}\naccounts:\n  - name: work\n    mail:\n      timeout: 1s\n      imap: {host: 127.0.0.1, port: %d, tls: none, username: me, password_env: HOLDOVER_TEST_PW}\n",
		filepath.Join(dir, "data"), ln.Addr().(*net.TCPAddr).Port)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, out, stderr := cli(t, "--config", cfg, "sync", "--once")
	took := time.Since(start)
	if code == 0 || !strings.Contains(out+stderr, "no answer within 1s (mail.timeout)") {
		t.Fatalf("sync --once: exit %d\n%s%s", code, out, stderr)
	}
	if took > 4*time.Second {
		t.Errorf("sync --once took %s; mail.timeout is 1s", took.Round(time.Millisecond))
	}
	code, out, _ = cli(t, "--config", cfg, "status")
	if code != 0 || !strings.Contains(out, "transient: imap login") || !strings.Contains(out, "no answer within 1s") {
		t.Errorf("status after the attempt: exit %d\n%s", code, out)
	}
}
