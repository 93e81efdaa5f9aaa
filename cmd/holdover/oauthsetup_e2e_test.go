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
