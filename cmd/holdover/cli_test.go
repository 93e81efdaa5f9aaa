package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdover/holdover/store"
)

// cli runs the CLI in-process and returns its exit code and outputs.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := execute(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

const testConfig = `data_dir: %DATA%
listen: {http: "", smtp: ""}
accounts:
  - name: work
    mail:
      imap: {host: 127.0.0.1, port: 1143, tls: none, username: me, password_env: HOLDOVER_TEST_PW}
      smtp: {host: 127.0.0.1, port: 1025, tls: none, username: me, password_command: "echo s3cr3t-in-command"}
`

func writeTestConfig(t *testing.T) (cfgPath, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	cfgPath = filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(testConfig, "%DATA%", dataDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, dataDir
}

// seedStore creates the database as the daemon would, with outbox rows.
func seedStore(t *testing.T, dataDir string, kinds ...string) {
	t.Helper()
	ctx := context.Background()
	os.MkdirAll(dataDir, 0o700)
	db, err := store.Open(ctx, filepath.Join(dataDir, "holdover.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.EnsureAccounts(ctx, []string{"work"}); err != nil {
		t.Fatal(err)
	}
	err = db.Write(ctx, func(tx *store.Tx) error {
		for i, k := range kinds {
			if _, err := tx.EnqueueOutbox(ctx, store.OutboxAction{Account: "work", Kind: k, TargetKey: "key" + string(rune('a'+i)), Payload: []byte("payload")}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestConfigCheckReportsFileAndLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("data_dir: /tmp/x\naccounts:\n  - name: work\n    mail:\n      imap: {host: imap.example.com, port: 99999, tls: none, username: u, password_env: P}\n    colour: blue\n"), 0o600)
	code, _, stderr := cli(t, "--config", bad, "config", "check")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{bad + ":5", "port", bad + ":6", "colour"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stderr, "tls") {
		t.Errorf("tls none to a remote host not reported:\n%s", stderr)
	}

	good, _ := writeTestConfig(t)
	if code, out, stderr := cli(t, "--config", good, "config", "check"); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("valid config: exit %d, %s %s", code, out, stderr)
	}
	if code, _, stderr := cli(t, "--config", filepath.Join(dir, "missing.yaml"), "config", "check"); code != 1 || !strings.Contains(stderr, "missing.yaml") {
		t.Fatalf("missing config: exit %d, %s", code, stderr)
	}
}

func TestConfigShowRedactsSecrets(t *testing.T) {
	cfg, _ := writeTestConfig(t)
	for _, args := range [][]string{{"config", "show"}, {"config", "show", "--json"}} {
		code, out, stderr := cli(t, append([]string{"--config", cfg}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		if strings.Contains(out, "s3cr3t") {
			t.Fatalf("%v printed the password command:\n%s", args, out)
		}
		if !strings.Contains(out, "HOLDOVER_TEST_PW") {
			t.Errorf("%v hides the env var name, which is not a secret:\n%s", args, out)
		}
	}
}

func TestOutboxCommands(t *testing.T) {
	cfg, data := writeTestConfig(t)
	if code, _, stderr := cli(t, "--config", cfg, "outbox", "ls"); code != 1 || !strings.Contains(stderr, "no database") {
		t.Fatalf("outbox ls without a database: exit %d, %s", code, stderr)
	}
	seedStore(t, data, "mail.send", "mail.flags", "mail.move")

	code, out, _ := cli(t, "--config", cfg, "outbox", "ls", "--json")
	var rows []outboxJSON
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 3 || rows[0].Kind != "mail.send" || rows[0].PayloadBytes != 7 {
		t.Fatalf("outbox ls --json: exit %d, %s", code, out)
	}
	if strings.Contains(out, "payload\"") {
		t.Error("--json printed the payload itself")
	}
	if code, _, stderr := cli(t, "--config", cfg, "outbox", "cancel", "1"); code != 0 {
		t.Fatalf("cancel: %d %s", code, stderr)
	}
	if code, _, stderr := cli(t, "--config", cfg, "outbox", "cancel", "1"); code != 1 || !strings.Contains(stderr, "cancelled") {
		t.Fatalf("second cancel: exit %d, %s", code, stderr)
	}
	if code, _, stderr := cli(t, "--config", cfg, "outbox", "retry", "2"); code != 1 || !strings.Contains(stderr, "pending") {
		t.Fatalf("retry of a pending action: exit %d, %s", code, stderr)
	}
	if code, _, stderr := cli(t, "--config", cfg, "outbox", "retry", "x"); code != 1 || !strings.Contains(stderr, "positive number") {
		t.Fatalf("retry x: exit %d, %s", code, stderr)
	}
	if code, _, _ := cli(t, "--config", cfg, "outbox", "retry"); code != 1 {
		t.Fatal("retry without ID or --all-dead succeeded")
	}
	if code, out, _ := cli(t, "--config", cfg, "outbox", "retry", "--all-dead"); code != 0 || !strings.Contains(out, "0 dead") {
		t.Fatalf("retry --all-dead: exit %d, %s", code, out)
	}
	code, out, _ = cli(t, "--config", cfg, "outbox", "ls", "--state", "cancelled")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, "mail.send") {
		t.Fatalf("ls --state cancelled: exit %d\n%s", code, out)
	}
	if code, _, stderr := cli(t, "--config", cfg, "outbox", "ls", "--state", "weird"); code != 1 || !strings.Contains(stderr, "weird") {
		t.Fatalf("bad --state: exit %d, %s", code, stderr)
	}
}

func TestStatusWithDaemonStopped(t *testing.T) {
	cfg, data := writeTestConfig(t)
	seedStore(t, data, "mail.send", "mail.send")
	code, out, stderr := cli(t, "--config", cfg, "status")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"daemon: not running", "account work", "imap", "not synced yet", "smtp", "2 waiting"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = cli(t, "--config", cfg, "status", "--json")
	var st struct {
		Daemon   struct{ Running bool }
		Accounts []struct {
			Name     string
			Services []struct{ Service, State string }
			Outbox   map[string]int
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("status --json: exit %d\n%s", code, out)
	}
	if st.Daemon.Running || len(st.Accounts) != 1 || len(st.Accounts[0].Services) != 2 || st.Accounts[0].Outbox["pending"] != 2 {
		t.Fatalf("status --json = %+v", st)
	}
}

func TestDBCheckAndBackup(t *testing.T) {
	cfg, data := writeTestConfig(t)
	seedStore(t, data, "mail.flags")
	code, out, stderr := cli(t, "--config", cfg, "db", "check")
	if code != 0 || !strings.Contains(out, "integrity: ok") || !strings.Contains(out, "outbox") || !strings.Contains(out, "prunable:  0 finished outbox actions, 0 bytes (older than outbox.keep_done 720h0m0s") {
		t.Fatalf("db check: exit %d\n%s%s", code, out, stderr)
	}
	dest := filepath.Join(t.TempDir(), "copy.db")
	if code, _, stderr := cli(t, "--config", cfg, "db", "backup", dest); code != 0 {
		t.Fatalf("db backup: exit %d %s", code, stderr)
	}
	if code, _, stderr := cli(t, "--config", cfg, "db", "backup", dest); code != 1 || !strings.Contains(stderr, "overwrite") {
		t.Fatalf("backup over an existing file: exit %d %s", code, stderr)
	}
}

func TestCompletionAndVersion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, out, _ := cli(t, "completion", sh)
		if code != 0 || !strings.Contains(out, "holdover") {
			t.Errorf("completion %s: exit %d", sh, code)
		}
	}
	if code, out, _ := cli(t, "version"); code != 0 || !strings.HasPrefix(out, "holdover ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestRunWithInvalidConfigExitsWithExConfig(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("accounts: [{name: Work!}]\n"), 0o600)
	code, _, stderr := cli(t, "--config", bad, "run")
	if code != 78 || !strings.Contains(stderr, bad+":1") {
		t.Fatalf("exit %d, %s; want 78 and file:line", code, stderr)
	}
}

func TestAccountPurgeRefusesConfiguredAccountsAndNeedsYes(t *testing.T) {
	cfg, data := writeTestConfig(t)
	seedStore(t, data, "mail.send")
	if code, _, stderr := cli(t, "--config", cfg, "account", "purge", "work", "--yes"); code != 1 || !strings.Contains(stderr, "still in the configuration") {
		t.Fatalf("purge of a configured account: exit %d, %s", code, stderr)
	}
	// Drop the account from the configuration: its data stays until purged.
	os.WriteFile(cfg, []byte(strings.ReplaceAll(strings.ReplaceAll(testConfig, "%DATA%", data), "name: work", "name: other")), 0o600)
	if code, out, _ := cli(t, "--config", cfg, "account", "ls"); code != 0 || !strings.Contains(out, "work") || !strings.Contains(out, "false") {
		t.Fatalf("account ls: exit %d\n%s", code, out)
	}
	if code, _, stderr := cli(t, "--config", cfg, "account", "purge", "work"); code != 1 || !strings.Contains(stderr, "1 unsent") || !strings.Contains(stderr, "--yes") {
		t.Fatalf("purge without --yes: exit %d, %s", code, stderr)
	}
	if code, out, stderr := cli(t, "--config", cfg, "account", "purge", "work", "--yes"); code != 0 || !strings.Contains(out, "purged") {
		t.Fatalf("purge: exit %d, %s%s", code, out, stderr)
	}
	if code, out, _ := cli(t, "--config", cfg, "outbox", "ls", "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("outbox after purge: exit %d, %s", code, out)
	}
}
