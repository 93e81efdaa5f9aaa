package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/mattn/go-sqlite3"

	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/outbox"
)

// jdoeMail is an account whose login is not an address, as in many
// companies; mail.address names the address it sends as.
const jdoeMail = `
      smtp: {host: 127.0.0.1, port: 1025, tls: none, username: jdoe, password_env: SMTP_PW}
      address: jane@example.com
      aliases: [jd@example.com]`

// sendmailSetup is a configuration and a database as the daemon leaves
// them, with sendmail run in-process against them.
type sendmailSetup struct {
	cfg, data string
}

// newSendmailSetup writes a configuration whose accounts are given as
// name → the body of their mail: mapping.
func newSendmailSetup(t *testing.T, accounts ...[2]string) *sendmailSetup {
	t.Helper()
	dir := t.TempDir()
	s := &sendmailSetup{cfg: filepath.Join(dir, "config.yaml"), data: filepath.Join(dir, "data")}
	var b strings.Builder
	b.WriteString("data_dir: " + s.data + "\nlisten: {http: \"\", smtp: \"\"}\naccounts:\n")
	var names []string
	for _, a := range accounts {
		b.WriteString("  - name: " + a[0] + "\n    mail:" + a[1] + "\n")
		names = append(names, a[0])
	}
	if err := os.WriteFile(s.cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(s.data, 0o700)
	db, err := store.Open(context.Background(), filepath.Join(s.data, "holdover.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.EnsureAccounts(context.Background(), names); err != nil {
		t.Fatal(err)
	}
	return s
}

// sendmail runs "holdover --config CFG sendmail ARGS…" with stdin.
func (s *sendmailSetup) sendmail(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := executeWith(context.Background(), append([]string{"--config", s.cfg, "sendmail"}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// queuedSend is a mail.send row of the outbox with its stored message.
type queuedSend struct {
	account, from string
	to            []string
	message       string
}

func (s *sendmailSetup) queued(t *testing.T) []queuedSend {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(s.data, "holdover.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.ListOutbox(ctx, store.OutboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []queuedSend
	for _, r := range rows {
		if r.Kind != outbox.KindSend {
			continue
		}
		var p outbox.SendPayload
		if err := json.Unmarshal(r.Payload, &p); err != nil {
			t.Fatal(err)
		}
		body, err := db.OpenMailBody(ctx, r.BodyID)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, queuedSend{account: r.Account, from: p.Envelope.From, to: p.Envelope.To, message: string(msg)})
	}
	return out
}

// The command lines below are those the programs run (mutt's
// sendlib.c, git-send-email.perl, bsd-mailx, Debian's cron and cronie,
// PHP's sendmail_path default, logwatch's and smartd's mailer). Each
// message must be queued exactly once, with the envelope the program
// meant.
func TestSendmailAsRealProgramsCallIt(t *testing.T) {
	const jane = "From: Jane Doe <jane@example.com>\nTo: Bob <bob@example.com>\nSubject: hi\n\n"
	tests := []struct {
		name     string
		args     string // split at spaces, or at "|" when it has one
		stdin    string
		from     string
		to       []string
		contains []string // in the queued message
		lacks    []string // not in it
	}{
		{name: "mutt: -oem -oi -- rcpt", args: "-oem -oi -- bob@example.com",
			stdin: jane + "a line\n.\nafter a lone dot\n", from: "jane@example.com", to: []string{"bob@example.com"},
			contains: []string{"\n.\nafter a lone dot"}},
		{name: "mutt with use_envelope_from: -oem -oi -f alias -- rcpts", args: "-oem -oi -f jd@example.com -- bob@example.com carol@example.com",
			stdin: "From: JD <jd@example.com>\nTo: bob@example.com, carol@example.com\n\nhi\n", from: "jd@example.com", to: []string{"bob@example.com", "carol@example.com"}},
		{name: "neomutt with 8-bit body and DSN options", args: "-oem -oi -B8BITMIME -f jane@example.com -N success,failure -R hdrs -- bob@example.com",
			stdin: jane + "Grüße\n", from: "jane@example.com", to: []string{"bob@example.com"}, contains: []string{"Grüße"}},
		{name: "git send-email: -f sender -i rcpts", args: "-f jane@example.com -i bob@example.com carol@example.com",
			stdin: jane + "diff --git a/x b/x\n.\n-old\n+new\n", from: "jane@example.com", to: []string{"bob@example.com", "carol@example.com"},
			contains: []string{"\n.\n-old\n+new\n"}},
		{name: "git send-email without an envelope sender: -i rcpts", args: "-i bob@example.com",
			stdin: jane + "patch\n", from: "jane@example.com", to: []string{"bob@example.com"}},
		{name: "bsd-mailx: -i -t, no From header", args: "-i -t",
			stdin: "To: bob@example.com\nSubject: s\nCc: carol@example.com\n\nhello\n", from: "jane@example.com", to: []string{"bob@example.com", "carol@example.com"},
			contains: []string{"From: jane@example.com\r\n"}},
		{name: "mailx and cron: -oi -t, Bcc is sent to and removed", args: "-oi -t",
			stdin: "To: bob@example.com\nBcc: secret@example.com\nSubject: s\n\nhello\n", from: "jane@example.com", to: []string{"bob@example.com", "secret@example.com"},
			lacks: []string{"Bcc", "secret@example.com"}},
		{name: "cron: -i -- rcpt, From root (Cron Daemon) kept", args: "-i -- bob@example.com",
			stdin: "From: root (Cron Daemon)\nTo: bob@example.com\nSubject: Cron <root@host> run-parts\n\noutput\n", from: "jane@example.com", to: []string{"bob@example.com"},
			contains: []string{"From: root (Cron Daemon)"}},
		{name: "Debian cron: -FCronDaemon -i -B8BITMIME -oem rcpt", args: "-FCronDaemon -i -B8BITMIME -oem bob@example.com",
			stdin: "To: bob@example.com\nSubject: Cron <jdoe@host> backup\n\ndone\n", from: "jane@example.com", to: []string{"bob@example.com"},
			contains: []string{`From: "CronDaemon" <jane@example.com>`}},
		{name: "cronie: -FCronDaemon -i -odi -oem -oi -t -f root", args: "-FCronDaemon -i -odi -oem -oi -t -f root",
			stdin: "From: root\nTo: bob@example.com\nSubject: Cron\n\ndone\n", from: "jane@example.com", to: []string{"bob@example.com"}},
		{name: "PHP mail(): -t -i", args: "-t -i",
			stdin: "To: bob@example.com\nSubject: Order 42\nX-PHP-Originating-Script: 33:order.php\n\nThanks.\n.\n", from: "jane@example.com", to: []string{"bob@example.com"},
			contains: []string{"Thanks.\n.\n"}},
		{name: "PHP mail() with additional_params -f: -t -i -falias", args: "-t -i -fjd@example.com",
			stdin: "To: bob@example.com\nSubject: s\n\nx\n", from: "jd@example.com", to: []string{"bob@example.com"}, contains: []string{"From: jd@example.com"}},
		{name: "logwatch and smartd pipes: -t, a lone dot ends the message", args: "-t",
			stdin: "From: root@localhost\nTo: bob@example.com\nSubject: SMART error\n\nDevice: /dev/sda\n.\nnot part of the message\n", from: "jane@example.com", to: []string{"bob@example.com"},
			contains: []string{"Device: /dev/sda\n", "From: root@localhost"}, lacks: []string{"not part of the message"}},
		{name: "-t adds the command line's recipients, once each (Postfix)", args: "-t dave@example.com",
			stdin: "From: jane@example.com\nTo: bob@example.com\nCc: dave@EXAMPLE.com\n\nx\n", from: "jane@example.com", to: []string{"dave@example.com", "bob@example.com"}},
		{name: "-t takes the Resent- headers of a resent message", args: "-t",
			stdin: "From: jane@example.com\nTo: old@example.com\nResent-From: jane@example.com\nResent-To: new@example.com\nResent-Bcc: hidden@example.com\n\nx\n",
			from:  "jane@example.com", to: []string{"new@example.com", "hidden@example.com"}, lacks: []string{"hidden@example.com"}},
		{name: "a recipient argument may be a list", args: "-i|Bob <bob@example.com>, carol@example.com",
			stdin: jane + "x\n", from: "jane@example.com", to: []string{"bob@example.com", "carol@example.com"}},
		{name: "an envelope sender the account does not own becomes mail.address", args: "-f someone@example.org -i bob@example.com",
			stdin: jane + "x\n", from: "jane@example.com", to: []string{"bob@example.com"}},
		{name: "a leading mbox From line is dropped", args: "-i bob@example.com",
			stdin: "From jane@example.com Mon Nov 30 03:00:00 2026\n" + jane + "x\n", from: "jane@example.com", to: []string{"bob@example.com"}, lacks: []string{"From jane@example.com Mon"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSendmailSetup(t, [2]string{"work", jdoeMail})
			code, out, stderr := s.sendmail(t, tt.stdin, splitArgs(tt.args)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if out != "" {
				t.Errorf("sendmail printed %q: it must be silent once the message is queued", out)
			}
			q := s.queued(t)
			if len(q) != 1 {
				t.Fatalf("%d messages queued, want 1", len(q))
			}
			if q[0].from != tt.from || !slices.Equal(q[0].to, tt.to) || q[0].account != "work" {
				t.Errorf("queued as %s from %s to %v, want work from %s to %v", q[0].account, q[0].from, q[0].to, tt.from, tt.to)
			}
			for _, want := range tt.contains {
				if !strings.Contains(q[0].message, want) {
					t.Errorf("message lacks %q:\n%s", want, q[0].message)
				}
			}
			for _, bad := range tt.lacks {
				if strings.Contains(q[0].message, bad) {
					t.Errorf("message contains %q:\n%s", bad, q[0].message)
				}
			}
		})
	}
}

func TestSendmailExitCodes(t *testing.T) {
	const ok = "From: jane@example.com\nTo: bob@example.com\nSubject: s\n\nx\n"
	noAddress := [2]string{"work", `
      smtp: {host: 127.0.0.1, port: 1025, tls: none, username: jdoe, password_env: SMTP_PW}
      imap: {host: 127.0.0.1, port: 1143, tls: none, username: jdoe, password_env: IMAP_PW}`}
	tests := []struct {
		name    string
		account [2]string
		args    string
		stdin   string
		code    int
		stderr  string
	}{
		{"an unknown option is a usage error", [2]string{"work", jdoeMail}, "-k bob@example.com", ok, exUsage, "unknown sendmail option -k"},
		{"no recipients is a usage error", [2]string{"work", jdoeMail}, "-oi", ok, exUsage, "no recipients"},
		{"-bs is refused with where to go instead", [2]string{"work", jdoeMail}, "-bs", ok, exUsage, "listen.smtp"},
		{"a local name on the command line is a usage error", [2]string{"work", jdoeMail}, "-i root", ok, exUsage, `"root" is not a full address`},
		{"an unknown account is a usage error", [2]string{"work", jdoeMail}, "-a nope -t", ok, exUsage, `no account "nope"`},
		{"-t without recipient headers is bad data", [2]string{"work", jdoeMail}, "-t", "Subject: s\n\nx\n", exDataErr, "-t found no To, Cc or Bcc"},
		{"a local name in To is bad data", [2]string{"work", jdoeMail}, "-t", "To: root\n\nx\n", exDataErr, `"root" is not a full address`},
		{"a malformed header is bad data", [2]string{"work", jdoeMail}, "-i bob@example.com", "Subject hi\n\nx\n", exDataErr, "malformed"},
		{"no sender address names the key to set", noAddress, "-i bob@example.com", "Subject: s\n\nx\n", exConfig, "set mail.address"},
		{"cron's -f root is no sender address either", noAddress, "-t -f root", "To: bob@example.com\n\nx\n", exConfig, "set mail.address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSendmailSetup(t, tt.account)
			code, _, stderr := s.sendmail(t, tt.stdin, splitArgs(tt.args)...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.stderr)
			}
			if q := s.queued(t); len(q) != 0 {
				t.Fatalf("a refused message was queued: %+v", q)
			}
		})
	}
}

func TestSendmailConfigurationProblemsExit78(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("accounts: [{name: Work!}]\n"), 0o600)
	var out, errb bytes.Buffer
	code := executeWith(context.Background(), []string{"sendmail", "--config", bad, "-t"}, strings.NewReader("To: bob@example.com\n\nx\n"), &out, &errb)
	if code != exConfig || !strings.Contains(errb.String(), bad+":1") {
		t.Fatalf("invalid config: exit %d, %s", code, errb.String())
	}

	s := newSendmailSetup(t, [2]string{"work", jdoeMail})
	os.Remove(filepath.Join(s.data, "holdover.db"))
	code, _, stderr := s.sendmail(t, "To: bob@example.com\n\nx\n", "-t")
	if code != exConfig || !strings.Contains(stderr, "holdover run") {
		t.Fatalf("no database yet: exit %d, %s", code, stderr)
	}
}

// A database locked by another process beyond the busy timeout is the one
// local failure, with a full disk, that sendmail reports as temporary.
func TestSendmailBusyDatabaseIsTemporary(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 5 s busy timeout")
	}
	s := newSendmailSetup(t, [2]string{"work", jdoeMail})
	other, err := sql.Open("sqlite3", "file:"+filepath.Join(s.data, "holdover.db")+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.Begin() // BEGIN IMMEDIATE: the write lock, held
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := s.sendmail(t, "To: bob@example.com\n\nx\n", "-t")
	tx.Rollback()
	if code != exTempFail || !strings.Contains(stderr, "locked") {
		t.Fatalf("exit %d, %s; want %d (EX_TEMPFAIL)", code, stderr, exTempFail)
	}
	if q := s.queued(t); len(q) != 0 {
		t.Fatalf("queued %d messages while the database was locked", len(q))
	}
	if code, _, stderr := s.sendmail(t, "To: bob@example.com\n\nx\n", "-t"); code != 0 {
		t.Fatalf("once the lock is gone: exit %d, %s", code, stderr)
	}
}

func TestSendmailChoosesTheAccountBySenderAddress(t *testing.T) {
	s := newSendmailSetup(t, [2]string{"work", jdoeMail}, [2]string{"home", `
      smtp: {host: 127.0.0.1, port: 1026, tls: none, username: me@home.example, password_env: SMTP_PW}`})
	steps := []struct {
		name, args, stdin string
		code              int
		account, from     string
	}{
		{"the From header's owner sends", "-t", "From: me@home.example\nTo: bob@example.com\n\nx\n", 0, "home", "me@home.example"},
		{"an alias picks its account", "-t -f jd@example.com", "To: bob@example.com\n\nx\n", 0, "work", "jd@example.com"},
		{"-a chooses, and its address is the sender", "-t -a work", "From: robot@example.org\nTo: bob@example.com\n\nx\n", 0, "work", "jane@example.com"},
		{"no owner among several accounts is a configuration problem", "-t", "From: robot@example.org\nTo: bob@example.com\n\nx\n", exConfig, "", ""},
	}
	want := 0
	for _, st := range steps {
		code, _, stderr := s.sendmail(t, st.stdin, splitArgs(st.args)...)
		if code != st.code {
			t.Fatalf("%s: exit %d, %s; want %d", st.name, code, stderr, st.code)
		}
		if code != 0 {
			if !strings.Contains(stderr, "--account") {
				t.Errorf("%s: %s does not say how to choose", st.name, stderr)
			}
			continue
		}
		want++
		q := s.queued(t)
		if len(q) != want || q[want-1].account != st.account || q[want-1].from != st.from {
			t.Fatalf("%s: queued %+v, want #%d as %s from %s", st.name, q, want, st.account, st.from)
		}
	}
}

func TestMailSendUsesMailAddressWhenTheLoginIsNotOne(t *testing.T) {
	s := newSendmailSetup(t, [2]string{"work", jdoeMail})
	if code, _, stderr := cli(t, "--config", s.cfg, "mail", "send", "--to", "bob@example.com", "--subject", "s"); code != 0 {
		t.Fatalf("mail send: exit %d %s", code, stderr)
	}
	q := s.queued(t)
	if len(q) != 1 || q[0].from != "jane@example.com" || !strings.Contains(q[0].message, "From: jane@example.com\r\n") {
		t.Fatalf("queued %+v", q)
	}
}

func TestSendmailListsTheQueueLikeMailq(t *testing.T) {
	s := newSendmailSetup(t, [2]string{"work", jdoeMail})
	if code, out, _ := s.sendmail(t, "", "-bp"); code != 0 || out != "Mail queue is empty\n" {
		t.Fatalf("empty queue: exit %d, %q", code, out)
	}
	s.sendmail(t, "From: jane@example.com\nTo: bob@example.com, carol@example.com\n\nx\n", "-t")
	s.sendmail(t, "From: jd@example.com\nTo: dave@example.com\n\nx\n", "-t")
	// The daemon claims the first one: it is being sent.
	db, err := store.Open(context.Background(), filepath.Join(s.data, "holdover.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.ClaimOutbox(context.Background(), "work", []string{outbox.KindSend}); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	db.Close()
	code, out, stderr := s.sendmail(t, "", "-bp")
	if code != 0 {
		t.Fatalf("-bp: exit %d %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[0], "-Queue ID-") || lines[6] != "-- 1 Kbytes in 2 Requests." {
		t.Fatalf("-bp printed:\n%s", out)
	}
	for i, want := range [][]string{{"1*", "jane@example.com"}, {"bob@example.com"}, {"carol@example.com"}, {"2 ", "jd@example.com"}, {"dave@example.com"}} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("line %d %q lacks %q", i+1, lines[i+1], w)
			}
		}
	}
}

func TestConfigCheckWarnsAboutAMissingSenderAddress(t *testing.T) {
	s := newSendmailSetup(t, [2]string{"work", `
      smtp: {host: 127.0.0.1, port: 1025, tls: none, username: jdoe, password_env: SMTP_PW}`})
	code, out, stderr := cli(t, "--config", s.cfg, "config", "check")
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("config check: exit %d %s %s", code, out, stderr)
	}
	if !strings.Contains(stderr, "warning: "+s.cfg+":5: accounts[0].mail: no sender address: set accounts[0].mail.address") {
		t.Fatalf("no warning naming the key and line:\n%s", stderr)
	}
}

func TestSendmailHelpDocumentsTheExitCodes(t *testing.T) {
	for _, args := range [][]string{{"sendmail", "--help"}, {"sendmail", "-h"}} {
		code, out, _ := cli(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, want := range []string{"Exit codes", "\n  0 ", "\n  64 ", "\n  65 ", "\n  69 ", "\n  75 ", "\n  78 ", "mail.address", "-oem", "-bp", "-bs"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v lacks %q", args, want)
			}
		}
	}
}

func TestSendmailExitCodeOfEachFailure(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"spool file on a full disk", fmt.Errorf("queue message: spool message: %w", &fs.PathError{Op: "write", Path: "/d/spool/x", Err: syscall.ENOSPC}), exTempFail},
		{"database full", fmt.Errorf("queue message: commit: %w", sqlite3.Error{Code: sqlite3.ErrFull}), exTempFail},
		{"database busy beyond the timeout", fmt.Errorf("queue message: begin write: %w", sqlite3.Error{Code: sqlite3.ErrBusy}), exTempFail},
		{"corrupt database", fmt.Errorf("open database: %w", sqlite3.Error{Code: sqlite3.ErrCorrupt}), exUnavailable},
		{"unwritable data directory", fmt.Errorf("spool dir: %w", &fs.PathError{Op: "mkdir", Path: "/d/spool", Err: syscall.EACCES}), exUnavailable},
		{"stdin failing while spooling", fmt.Errorf("queue message: spool message: %w", &inputError{syscall.EIO}), exDataErr},
		{"no database yet", &noDatabaseError{"/d/holdover.db"}, exConfig},
		{"no sender address", configError{errors.New("no sender address")}, exConfig},
	}
	for _, tt := range tests {
		if got := sendmailExitCode(tt.err); got != tt.want {
			t.Errorf("%s: exit %d, want %d", tt.name, got, tt.want)
		}
	}
}
