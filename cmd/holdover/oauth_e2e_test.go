package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/endpoints/httpapi/apiv1"
	"github.com/holdover/holdover/internal/testenv"
)

// The whole chain: a token the identity provider did not issue gets
// nothing from Dovecot; `account login` (the test is the browser) signs
// in; the daemon mirrors the mailbox and sends through the sink, both
// with OAuth2 only.
func TestOAuth2LoginThenTheDaemonSyncsAndSendsWithTokensOnly(t *testing.T) {
	s := newOAuthSetup(t)
	s.seed(t, "one@example.com", "two@example.com", "three@example.com")

	// A sign-in from another identity provider: Dovecot asks ours about
	// the token and refuses it; ours refuses the refresh token too.
	foreign := testenv.StartOIDC(t).Mint(t, s.d.User)
	os.MkdirAll(filepath.Join(s.dataDir, "tokens"), 0o700)
	tf, _ := json.Marshal(map[string]any{"access_token": foreign.AccessToken, "token_type": "Bearer", "refresh_token": foreign.RefreshToken,
		"expiry": time.Now().Add(time.Hour), "saved_at": time.Now()})
	if err := os.WriteFile(filepath.Join(s.dataDir, "tokens", "work.json"), tf, 0o600); err != nil {
		t.Fatal(err)
	}
	validations := s.o.Validations()
	code, out, stderr := s.run(t, "sync", "--once")
	if code == 0 {
		t.Fatalf("sync --once with a foreign token succeeded:\n%s%s", out, stderr)
	}
	if s.o.Validations() == validations {
		t.Fatalf("Dovecot never asked the identity provider about the foreign token")
	}
	if n := s.mailCount(t); n > 0 {
		t.Fatalf("%d messages mirrored with a foreign token", n)
	}
	if log, _ := os.ReadFile(s.d.LogFile); !strings.Contains(string(log), "auth failed") {
		t.Fatalf("Dovecot's log shows no refused login:\n%s", log)
	}

	s.login(t)
	p := startDaemon(t, s.env, "--config", s.cfg)
	waitLong(t, "the mailbox mirrored", 30*time.Second, func() bool { return s.mailCount(t) == 3 })

	s.send(t, "over oauth2")
	waitLong(t, "the message at the sink", 30*time.Second, func() bool { return len(s.sink.Messages()) == 1 })
	if m := s.sink.Messages()[0]; m.Mechanism != "XOAUTH2" && m.Mechanism != "OAUTHBEARER" {
		t.Fatalf("sent with %q, want an OAuth2 mechanism", m.Mechanism)
	}
	if svc := s.service(t, "imap"); svc.State != "up" {
		t.Fatalf("imap is %s: %s\n%s", svc.State, svc.Words, p.log())
	}
	stop(t, p)
}

// An access token expires while the daemon runs: the server drops the
// sessions (as Microsoft 365 does), the next connections are refused
// the old token, holdover refreshes it once and carries on; nothing is
// surfaced in status and no body is downloaded twice.
func TestOAuth2TokenExpiryDuringSyncRefreshesSilently(t *testing.T) {
	s := newOAuthSetup(t)
	s.seed(t, "one@example.com", "two@example.com", "three@example.com")
	s.login(t)
	p := startDaemon(t, s.env, "--config", s.cfg)
	waitLong(t, "the mailbox mirrored", 30*time.Second, func() bool { return s.mailCount(t) == 3 })

	// The first pass's verification done, the next pass is a sync
	// interval away: the kick ends idle sessions, not one mid-pass (that
	// pass would fail, rightly, and say so).
	waitLong(t, "the first verification", 30*time.Second, func() bool { return strings.Contains(p.log(), `msg="mail verified"`) })
	refreshes := s.o.RefreshRequests()
	s.o.FastForward(11 * time.Minute) // the cached token is expired in the provider's eyes
	s.kick(t)
	s.seed(t, "four@example.com")
	waitLong(t, "the new message mirrored", 30*time.Second, func() bool { return s.mailCount(t) == 4 })
	s.send(t, "after expiry")
	waitLong(t, "the message at the sink", 30*time.Second, func() bool { return len(s.sink.Messages()) == 1 })
	if n := s.o.RefreshRequests() - refreshes; n < 1 || n > 2 {
		t.Errorf("%d refresh requests, want 1 (or 2 if IMAP and SMTP raced past the 10 s reuse)", n)
	}
	s.healthy(t, p)
	stop(t, p)
	if n := s.bodiesFetched(t); n != 4 {
		t.Fatalf("Dovecot sent %d message bodies for 4 messages", n)
	}
}

// A long IDLE session outlives no token: with 15-second tokens, the IDLE
// session signs in again before each one expires (Microsoft 365 and
// Gmail end a session whose token expired; Dovecot does not, so the
// logins are counted), and push keeps working, quietly.
func TestOAuth2IdleSessionSignsInAgainBeforeItsTokenExpires(t *testing.T) {
	s := newOAuthSetup(t)
	s.seed(t, "one@example.com")
	s.o.SetAccessTTL(15 * time.Second)
	s.login(t)
	p := startDaemon(t, s.env, "--config", s.cfg)
	waitLong(t, "the mailbox mirrored", 30*time.Second, func() bool { return s.mailCount(t) == 1 })
	logins := s.logins(t)
	time.Sleep(35 * time.Second) // over two token lifetimes
	if n := s.logins(t) - logins; n < 2 {
		t.Fatalf("%d OAuth2 logins in 35 s with 15-second tokens: the IDLE session kept an expired sign-in\n%s", n, p.log())
	}
	s.seed(t, "two@example.com")
	waitLong(t, "the new message pushed", 5*time.Second, func() bool { return s.mailCount(t) == 2 })
	s.healthy(t, p)
	stop(t, p)
	if n := s.bodiesFetched(t); n != 2 {
		t.Fatalf("Dovecot sent %d message bodies for 2 messages", n)
	}
}

// The identity provider goes down while the access token has expired:
// sign-in is the control plane, and its outage is an outage of the
// account's services ("identity provider unreachable"); local changes
// queue meanwhile. The provider back, tokens are refreshed by
// themselves, each queued action reaches the server once, and the
// outages close with their counts.
func TestOAuth2IdentityProviderDownWithAnExpiredTokenIsAnOutageThatHealsItself(t *testing.T) {
	s := newOAuthSetup(t)
	s.seed(t, "one@example.com", "two@example.com")
	s.login(t)
	p := startDaemon(t, s.env, "--config", s.cfg)
	waitLong(t, "the mailbox mirrored", 30*time.Second, func() bool { return s.mailCount(t) == 2 })

	s.o.Stop()
	s.o.FastForward(11 * time.Minute) // the cached token has expired at the mail servers
	s.kick(t)
	id := s.messageID(t, "one@example.com")
	if code, out, stderr := s.run(t, "mail", "flag", strconv.FormatInt(id, 10), "+flagged"); code != 0 {
		t.Fatalf("mail flag: exit %d %s %s", code, out, stderr)
	}
	s.send(t, "while the identity provider is down")
	waitLong(t, "imap and smtp down with the identity provider unreachable", 60*time.Second, func() bool {
		for _, name := range []string{"imap", "smtp"} {
			svc := s.service(t, name)
			if svc.Outage == nil || !strings.Contains(svc.Outage.Cause, "identity provider unreachable") || svc.NeedsLogin {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("%+v\n%+v\n%s", s.service(t, "imap"), s.service(t, "smtp"), p.log()) })
	if n := len(s.sink.Messages()); n != 0 {
		t.Fatalf("%d messages reached the sink during the outage", n)
	}

	refreshes := s.o.RefreshRequests()
	s.o.Restart(t)
	waitLong(t, "the queue drained", 90*time.Second, func() bool {
		for _, r := range outboxJSONRows(t, s.env, s.cfg) {
			if r.State != "done" {
				return false
			}
		}
		return len(s.sink.Messages()) == 1
	})
	if s.o.RefreshRequests() == refreshes {
		t.Fatalf("the queue drained without a token refresh")
	}
	time.Sleep(time.Second) // a duplicate would show up now
	if n := len(s.sink.Messages()); n != 1 {
		t.Fatalf("the sink got %d messages, want 1", n)
	}
	if flags := s.serverFlags(t, "one@example.com"); !strings.Contains(strings.Join(flags, " "), `\Flagged`) {
		t.Fatalf("Dovecot has flags %v, want \\Flagged", flags)
	}
	waitLong(t, "both outages closed with their counts", 30*time.Second, func() bool {
		closed := map[string]apiv1.Outage{}
		for _, o := range s.outages(t) {
			if o.EndedAt != nil {
				closed[o.Service] = o
			}
		}
		// imap's also counts the Sent copy when the send went out
		// while it was still open.
		imap, smtp := closed["imap"], closed["smtp"]
		return imap.Queued >= 1 && imap.Replayed == imap.Queued && smtp.Queued == 1 && smtp.Replayed == 1
	}, func() string { return fmt.Sprintf("%+v", s.outages(t)) })
	sent := s.sink.Messages()[0].MessageID
	waitLong(t, "one copy in Sent", 30*time.Second, func() bool {
		c := s.d.Client(t)
		defer c.Close()
		return len(serverMessages(t, c, "Sent")[sent]) == 1
	})
	for _, name := range []string{"imap", "smtp"} {
		if svc := s.service(t, name); svc.State != "up" || svc.Outage != nil || svc.NeedsLogin {
			t.Fatalf("%s after the outage: %+v\n%s", name, svc, p.log())
		}
	}
}

// The refresh token is revoked (an admin, a password change): the
// account needs a new sign-in. Status says so with the command to run,
// nothing asks the identity provider again and again, local changes
// wait; `account login` ends it and the queue drains.
func TestOAuth2RevokedSignInNeedsLoginWithoutARetryStormAndLoginResumes(t *testing.T) {
	s := newOAuthSetup(t)
	s.seed(t, "one@example.com")
	s.login(t)
	p := startDaemon(t, s.env, "--config", s.cfg)
	waitLong(t, "the mailbox mirrored", 30*time.Second, func() bool { return s.mailCount(t) == 1 })

	_, refresh := s.tokens(t)
	s.o.Revoke(t, refresh)
	s.o.FastForward(11 * time.Minute) // the access token has expired at the mail servers
	s.kick(t)
	id := s.messageID(t, "one@example.com")
	if code, out, stderr := s.run(t, "mail", "flag", strconv.FormatInt(id, 10), "+flagged"); code != 0 {
		t.Fatalf("mail flag: exit %d %s %s", code, out, stderr)
	}
	s.send(t, "while signed out")
	waitLong(t, "imap and smtp need a login", 60*time.Second, func() bool {
		for _, name := range []string{"imap", "smtp"} {
			svc := s.service(t, name)
			if !svc.NeedsLogin || svc.Action != "holdover account login work" || svc.Outage != nil {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("%+v\n%+v\n%s", s.service(t, "imap"), s.service(t, "smtp"), p.log()) })
	if _, out, _ := s.run(t, "status"); !strings.Contains(out, "run holdover account login work") {
		t.Fatalf("status does not name the command:\n%s", out)
	}

	// Over more than a sync interval and the outbox's retries, nothing
	// asks the identity provider: only a login can help.
	requests := s.o.TokenRequests()
	time.Sleep(15 * time.Second)
	if n := s.o.TokenRequests() - requests; n != 0 {
		t.Fatalf("%d token requests in 15 s while the sign-in is revoked\n%s", n, p.log())
	}
	if n := len(s.sink.Messages()); n != 0 {
		t.Fatalf("%d messages reached the sink while signed out", n)
	}
	for _, r := range outboxJSONRows(t, s.env, s.cfg) {
		if r.State == "done" || r.State == "dead" {
			t.Fatalf("outbox row %+v settled while signed out", r)
		}
	}

	if out := s.login(t); !strings.Contains(out, "The running daemon resumes the account now.") {
		t.Fatalf("account login did not reach the daemon:\n%s", out)
	}
	waitLong(t, "the queue drained", 30*time.Second, func() bool {
		for _, r := range outboxJSONRows(t, s.env, s.cfg) {
			if r.State != "done" {
				return false
			}
		}
		return len(s.sink.Messages()) == 1
	}, func() string { return p.log() })
	time.Sleep(time.Second) // a duplicate would show up now
	if n := len(s.sink.Messages()); n != 1 {
		t.Fatalf("the sink got %d messages, want 1", n)
	}
	if flags := s.serverFlags(t, "one@example.com"); !strings.Contains(strings.Join(flags, " "), `\Flagged`) {
		t.Fatalf("Dovecot has flags %v, want \\Flagged", flags)
	}
	waitLong(t, "imap and smtp up", 30*time.Second, func() bool {
		for _, name := range []string{"imap", "smtp"} {
			if svc := s.service(t, name); svc.State != "up" || svc.NeedsLogin || svc.Outage != nil {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("%+v\n%+v", s.service(t, "imap"), s.service(t, "smtp")) })
	if outages := s.outages(t); len(outages) != 0 {
		t.Fatalf("a revoked sign-in is not an outage: %+v", outages)
	}
}

// No token, refresh token or client secret appears anywhere a person or
// a backup sees: the daemon's debug log, the CLI's outputs (config show,
// status, outbox), the database file and its WAL.
func TestOAuth2SecretsAppearInNoLogOutputOrDatabase(t *testing.T) {
	s := newOAuthSetup(t)
	s.seed(t, "one@example.com")
	loginOut := s.login(t)
	access, refresh := s.tokens(t)
	secrets := secretsOf(s.o.ClientSecret, access, refresh)

	p := startDaemon(t, s.env, "--config", s.cfg)
	waitLong(t, "the mailbox mirrored", 30*time.Second, func() bool { return s.mailCount(t) == 1 })
	s.send(t, "first")
	waitLong(t, "the first message at the sink", 30*time.Second, func() bool { return len(s.sink.Messages()) == 1 })
	// A refresh on refusal, so that a second access token exists.
	s.o.FastForward(11 * time.Minute)
	s.kick(t)
	s.seed(t, "two@example.com")
	waitLong(t, "the new message mirrored", 30*time.Second, func() bool { return s.has(t, "two@example.com") }, p.log)
	s.send(t, "second")
	waitLong(t, "the second message at the sink", 30*time.Second, func() bool { return len(s.sink.Messages()) == 2 })
	access2, refresh2 := s.tokens(t)
	if access2 == access {
		t.Fatalf("no token was refreshed: the test needs a second one")
	}
	secrets = append(secrets, secretsOf(access2, refresh2)...)

	outputs := map[string]string{"account login": loginOut}
	for _, args := range [][]string{{"config", "show"}, {"config", "show", "--json"}, {"status"}, {"status", "--json"}, {"outbox", "ls", "--json"}, {"outages", "--json"}} {
		code, out, stderr := s.run(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
		outputs[strings.Join(args, " ")] = out + stderr
	}
	db := filepath.Join(s.dataDir, "holdover.db")
	files := func() {
		for _, f := range []string{db, db + "-wal"} {
			if b, err := os.ReadFile(f); err == nil {
				outputs[filepath.Base(f)+" at "+time.Now().Format("15:04:05.000")] = string(b)
			}
		}
	}
	files() // while the daemon runs: the WAL holds the latest writes
	stop(t, p)
	files()
	outputs["daemon log (debug)"] = p.log()
	if !strings.Contains(p.log(), "level=DEBUG") || !strings.Contains(p.log(), "access token refreshed") {
		t.Fatalf("the daemon did not log at debug level or did not refresh:\n%s", p.log())
	}
	for name, text := range outputs {
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows a token or the client secret", name)
				break
			}
		}
	}
}

// A service install signs in with --device: the daemon, started before
// any sign-in, waits in needs-login with the send it was given; the
// login polls through authorization_pending until the person approves
// the code elsewhere, and the daemon then mirrors and sends.
func TestOAuth2DeviceLoginOfARunningServiceResumesIt(t *testing.T) {
	s := newOAuthSetup(t)
	s.seed(t, "one@example.com")
	p := startDaemon(t, s.env, "--config", s.cfg)
	s.send(t, "queued before any sign-in")
	waitLong(t, "imap needs a login", 30*time.Second, func() bool { return s.service(t, "imap").NeedsLogin },
		func() string { return fmt.Sprintf("%+v\n%s", s.service(t, "imap"), p.log()) })

	cmd := exec.Command(holdoverBin(t), "--config", s.cfg, "account", "login", "--device", "work")
	cmd.Env = append(os.Environ(), s.env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for !strings.Contains(out.String(), "Waiting for the sign-in") && sc.Scan() {
		out.WriteString(sc.Text() + "\n")
	}
	codes := s.o.PendingDeviceCodes()
	if len(codes) != 1 || !strings.Contains(out.String(), "\n  "+codes[0]+"\n") || !strings.Contains(out.String(), s.o.DeviceVerificationURL()) {
		t.Fatalf("login --device printed no code and URL (pending %v):\n%s%s", codes, out.String(), stderr.String())
	}
	requests := s.o.TokenRequests()
	waitLong(t, "a poll answered authorization_pending", 10*time.Second, func() bool { return s.o.TokenRequests() > requests })
	if err := s.o.ApproveDevice(codes[0], s.d.User); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(stdout)
	out.Write(rest)
	if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), "Signed in: account work") || !strings.Contains(out.String(), "The running daemon resumes the account now.") {
		t.Fatalf("account login --device: %v\n%s%s", err, out.String(), stderr.String())
	}
	waitLong(t, "mirrored and sent", 30*time.Second, func() bool { return s.has(t, "one@example.com") && len(s.sink.Messages()) == 1 },
		func() string { return p.log() })
	waitLong(t, "imap up", 30*time.Second, func() bool { svc := s.service(t, "imap"); return svc.State == "up" && !svc.NeedsLogin })
}
