package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/holdover/holdover/endpoints/httpapi/apiv1"
	"github.com/holdover/holdover/internal/testenv"
)

// oauthSetup is the whole OAuth2 chain on loopback: the identity
// provider (testenv.OIDC), Dovecot signing in only with tokens it
// validates there (passdb oauth2), the SMTP sink accepting only such
// tokens, and an account with `provider: custom` pointing at them.
type oauthSetup struct {
	o       *testenv.OIDC
	d       *testenv.Dovecot
	sink    *testenv.SMTPSink
	cfg     string
	dataDir string
	env     []string
}

func newOAuthSetup(t *testing.T) *oauthSetup {
	t.Helper()
	s := &oauthSetup{o: testenv.StartOIDC(t)}
	s.d = testenv.StartDovecot(t, testenv.WithOAuth2(s.o))
	// One sign-in serves IMAP and SMTP: the token's subject is the login
	// name at both.
	s.o.SetDefaultUser(s.d.User)
	s.sink = testenv.StartSMTPSink(t)
	s.sink.User = s.d.User
	s.sink.AcceptOAuth2Only(s.o)
	dir := t.TempDir()
	s.dataDir = filepath.Join(dir, "data")
	s.cfg = filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf(`data_dir: %s
log: {level: debug}
listen: {http: "", smtp: ""}
sync: {interval: 10s}
accounts:
  - name: work
    mail:
      idle: [INBOX]
      address: me@example.com
      imap:
        host: 127.0.0.1
        port: %d
        tls: none
        username: %s
        oauth2: &signin
          provider: custom
          client_id: %s
          client_secret: {password_env: OAUTH_CLIENT_SECRET}
          auth_url: %s
          token_url: %s
          device_url: %s
          scopes: [openid, email, offline_access]
      smtp: {host: 127.0.0.1, port: %d, tls: none, username: %s, oauth2: *signin}
`, s.dataDir, s.d.Port, s.d.User, s.o.ClientID, s.o.AuthURL(), s.o.TokenURL(), s.o.DeviceAuthURL(), s.sink.Port, s.d.User)
	if err := os.WriteFile(s.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.env = []string{"OAUTH_CLIENT_SECRET=" + s.o.ClientSecret}
	return s
}

func (s *oauthSetup) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runBin(t, s.env, append([]string{"--config", s.cfg}, args...)...)
}

// login runs `holdover account login work` and plays the person's
// browser: it follows the printed authorization URL to the identity
// provider (which signs the default user in and consents) and lands on
// holdover's loopback redirect.
func (s *oauthSetup) login(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(holdoverBin(t), "--config", s.cfg, "account", "login", "--no-browser", "work")
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
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	authURL := ""
	for authURL == "" && sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if u, ok := strings.CutPrefix(strings.TrimSpace(line), s.o.AuthURL()); ok {
			authURL = s.o.AuthURL() + u
		}
	}
	if authURL == "" {
		t.Fatalf("account login printed no authorization URL:\n%s%s", out.String(), stderr.String())
	}
	browser := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	resp.Body.Close()
	redirect := resp.Header.Get("Location")
	if !strings.HasPrefix(redirect, "http://127.0.0.1:") {
		t.Fatalf("authorize answered %d, Location %q", resp.StatusCode, redirect)
	}
	if resp, err = browser.Get(redirect); err != nil {
		t.Fatalf("loopback redirect: %v", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("loopback redirect answered %d: %s", resp.StatusCode, page)
	}
	rest, _ := io.ReadAll(stdout)
	out.Write(rest)
	if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), "Signed in: account work") {
		t.Fatalf("account login: %v\n%s%s", err, out.String(), stderr.String())
	}
	return out.String()
}

// status returns the account's status as `status --json` prints it.
func (s *oauthSetup) status(t *testing.T) apiv1.AccountStatus {
	t.Helper()
	code, out, stderr := s.run(t, "status", "--json")
	var st apiv1.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st.Accounts) != 1 {
		t.Fatalf("status --json: exit %d\n%s%s", code, out, stderr)
	}
	return st.Accounts[0]
}

func (s *oauthSetup) service(t *testing.T, name string) apiv1.ServiceStatus {
	t.Helper()
	for _, svc := range s.status(t).Services {
		if svc.Service == name {
			return svc
		}
	}
	return apiv1.ServiceStatus{}
}

// tokens reads the stored sign-in.
func (s *oauthSetup) tokens(t *testing.T) (access, refresh string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dataDir, "tokens", "work.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tf struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(b, &tf); err != nil {
		t.Fatal(err)
	}
	return tf.AccessToken, tf.RefreshToken
}

// send queues a message with the CLI.
func (s *oauthSetup) send(t *testing.T, subject string) {
	t.Helper()
	code, out, stderr := runBinInput(t, s.env, "hello\n", "--config", s.cfg, "mail", "send", "--account", "work", "--to", "bob@example.com", "--subject", subject, "--body-file", "-")
	if code != 0 || !strings.Contains(out, "queued <") {
		t.Fatalf("mail send: exit %d %s %s", code, out, stderr)
	}
}

func (s *oauthSetup) seed(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		appendTo(t, s.d, s.d.User, s.d.Password, id)
	}
}

func (s *oauthSetup) mailCount(t *testing.T) int {
	t.Helper()
	return countMail(t, s.env, s.cfg, "work")
}

// has reports whether the mirror has a message with subject.
func (s *oauthSetup) has(t *testing.T, subject string) bool {
	t.Helper()
	code, out, _ := s.run(t, "mail", "ls", "--account", "work", "--json")
	var msgs []messageJSON
	if code != 0 || json.Unmarshal([]byte(out), &msgs) != nil {
		t.Fatalf("mail ls: %d %s", code, out)
	}
	for _, m := range msgs {
		if m.Subject == subject {
			return true
		}
	}
	return false
}

// messageID finds the local ID of the message whose subject is subject.
func (s *oauthSetup) messageID(t *testing.T, subject string) int64 {
	t.Helper()
	code, out, _ := s.run(t, "mail", "ls", "--account", "work", "--json")
	var msgs []messageJSON
	if code != 0 || json.Unmarshal([]byte(out), &msgs) != nil {
		t.Fatalf("mail ls: %d %s", code, out)
	}
	for _, m := range msgs {
		if m.Subject == subject {
			return m.ID
		}
	}
	t.Fatalf("no message %q in %s", subject, out)
	return 0
}

var bodyCountRe = regexp.MustCompile(`body_count=(\d+)`)

// bodiesFetched sums what Dovecot says it sent of message bodies over the
// sessions that ended (its logout line: body_count=N).
func (s *oauthSetup) bodiesFetched(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(s.d.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range bodyCountRe.FindAllStringSubmatch(string(b), -1) {
		k, _ := strconv.Atoi(m[1])
		n += k
	}
	return n
}

// stop ends the daemon with SIGTERM, so that every IMAP session logs out
// (and Dovecot logs what it sent).
func stop(t *testing.T, p *proc) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.waitExit(t); err != nil {
		t.Fatalf("daemon exit: %v\n%s", err, p.log())
	}
}

func waitLong(t *testing.T, what string, d time.Duration, cond func() bool, show ...func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			var more []string
			for _, f := range show {
				more = append(more, f())
			}
			t.Fatalf("timed out after %s waiting for %s\n%s", d, what, strings.Join(more, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

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

// kick makes Dovecot drop every session of the user, as Microsoft 365
// and Gmail do when a session's access token expires.
func (s *oauthSetup) kick(t *testing.T) {
	t.Helper()
	out, err := exec.Command("doveadm", "-c", filepath.Join(s.d.Dir, "dovecot.conf"), "kick", s.d.User).CombinedOutput()
	if err != nil {
		t.Fatalf("doveadm kick: %v\n%s", err, out)
	}
}

// logins counts the OAuth2 logins Dovecot accepted.
func (s *oauthSetup) logins(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(s.d.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "Login: user=<"+s.d.User+">, method=XOAUTH2") + strings.Count(string(b), "Login: user=<"+s.d.User+">, method=OAUTHBEARER")
}

// healthy fails the test when status shows any trace of trouble on the
// account's mail.
func (s *oauthSetup) healthy(t *testing.T, p *proc) {
	t.Helper()
	for _, name := range []string{"imap", "smtp"} {
		svc := s.service(t, name)
		if svc.Service == "" || (name == "smtp" && svc.State == "unknown") {
			continue // smtp has no health before its first send
		}
		if svc.State != "up" || svc.LastError != "" || svc.Outage != nil || svc.NeedsLogin {
			t.Fatalf("%s: %+v\n%s", name, svc, p.log())
		}
	}
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

func (s *oauthSetup) outages(t *testing.T) []apiv1.Outage {
	t.Helper()
	code, out, stderr := s.run(t, "outages", "--json")
	var outages []apiv1.Outage
	if code != 0 || json.Unmarshal([]byte(out), &outages) != nil {
		t.Fatalf("outages --json: exit %d\n%s%s", code, out, stderr)
	}
	return outages
}

// serverFlags returns the flags Dovecot has on the INBOX message with
// msgID.
func (s *oauthSetup) serverFlags(t *testing.T, msgID string) []string {
	t.Helper()
	c := s.d.Client(t)
	defer c.Close()
	copies := serverMessages(t, c, "INBOX")[msgID]
	if len(copies) != 1 {
		t.Fatalf("%d copies of %s in INBOX", len(copies), msgID)
	}
	return copies[0]
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

// secretsOf returns what must never be shown: each token whole and its
// signature (the part a leak of any length would carry).
func secretsOf(tokens ...string) []string {
	var out []string
	for _, tok := range tokens {
		if tok == "" {
			continue
		}
		out = append(out, tok)
		if i := strings.LastIndexByte(tok, '.'); i >= 0 && len(tok)-i > 16 {
			out = append(out, tok[i+1:])
		}
	}
	return out
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
