package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/holdover/holdover/endpoints/httpapi/apiv1"
	"github.com/holdover/holdover/internal/faultproxy"
	"github.com/holdover/holdover/internal/testenv"
)

type sendSetup struct {
	d     *testenv.Dovecot
	sink  *testenv.SMTPSink
	proxy *faultproxy.Proxy // holdover reaches the sink through it
	cfg   string
	smtp  string // holdover's own submission endpoint
	env   []string
}

func newSendSetup(t *testing.T) *sendSetup {
	t.Helper()
	s := &sendSetup{d: testenv.StartDovecot(t), sink: testenv.StartSMTPSink(t)}
	var err error
	if s.proxy, err = faultproxy.New(s.sink.Addr()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.proxy.Close() })
	dir := t.TempDir()
	s.cfg = filepath.Join(dir, "config.yaml")
	s.smtp = freeAddr(t)
	os.WriteFile(s.cfg, []byte(fmt.Sprintf(`data_dir: %s/data
listen: {http: "", smtp: "%s", imap: ""}
accounts:
  - name: work
    mail:
      imap: {host: 127.0.0.1, port: %d, tls: none, username: %s, password_env: IMAP_PW}
      smtp: {host: 127.0.0.1, port: %d, tls: none, username: %s, password_env: SMTP_PW}
      local: {username: me, password_env: LOCAL_PW}
`, dir, s.smtp, s.d.Port, s.d.User, s.proxy.Port(), s.sink.User)), 0o600)
	s.env = []string{"IMAP_PW=" + s.d.Password, "SMTP_PW=" + s.sink.Password, "LOCAL_PW=local-secret"}
	return s
}

func (s *sendSetup) run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	return runBinInput(t, s.env, stdin, append([]string{"--config", s.cfg}, args...)...)
}

func (s *sendSetup) sentCopies(t *testing.T, msgID string) int {
	t.Helper()
	c, err := imapclient.DialInsecure(s.d.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(s.d.User, s.d.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("Sent", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: msgID}}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return len(data.AllUIDs())
}

func outboxRows(t *testing.T, s *sendSetup) []outboxJSON {
	t.Helper()
	return outboxJSONRows(t, s.env, s.cfg)
}

// Sending with the provider unreachable: every way in (mail send,
// sendmail, SMTP submission) queues durably; status shows the outage;
// once the provider is back each message is delivered exactly once, with
// exactly one copy in Sent, and the outage closes with its counts.
func TestSendingDuringAnOutageDeliversEachMessageOnce(t *testing.T) {
	s := newSendSetup(t)
	// Mirror once so holdover knows the Sent folder.
	if code, out, stderr := s.run(t, "", "sync", "--once"); code != 0 {
		t.Fatalf("sync: %d %s %s", code, out, stderr)
	}
	s.proxy.Down()
	p := startDaemon(t, s.env, "--config", s.cfg)

	code, out, stderr := s.run(t, "Hello from the CLI\n", "mail", "send", "--to", "bob@example.com", "--subject", "cli", "--body-file", "-")
	if code != 0 || !strings.Contains(out, "queued <") {
		t.Fatalf("mail send: exit %d %s %s", code, out, stderr)
	}
	code, _, stderr = s.run(t, "From: me@example.com\r\nTo: carol@example.com\r\nBcc: secret@example.com\r\nSubject: via sendmail\r\nMessage-ID: <sendmail-1@example.com>\r\n\r\nbody\r\n", "sendmail", "-t", "-oi")
	if code != 0 {
		t.Fatalf("sendmail: exit %d %s", code, stderr)
	}
	c, err := smtp.Dial(s.smtp)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "me", "local-secret")); err != nil {
		t.Fatalf("local AUTH: %v", err)
	}
	msg := "From: me@example.com\r\nTo: dave@example.com\r\nSubject: via smtp\r\nMessage-ID: <smtp-1@example.com>\r\n\r\nhi\r\n"
	if err := c.SendMail("me@example.com", []string{"dave@example.com"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("submission: %v", err)
	}
	c.Quit()

	rows := outboxRows(t, s)
	if len(rows) != 3 {
		t.Fatalf("outbox has %d rows, want 3", len(rows))
	}
	waitFor(t, "smtp down", func() bool {
		_, out, _ := s.run(t, "", "status")
		return strings.Contains(out, "smtp") && strings.Contains(out, "down since")
	})
	if n := len(s.sink.Messages()); n != 0 {
		t.Fatalf("%d messages reached the provider during the outage", n)
	}

	s.proxy.Up()
	deadline := time.Now().Add(60 * time.Second)
	for len(s.sink.Messages()) < 3 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a duplicate would show up now
	msgs := s.sink.Messages()
	if len(msgs) != 3 {
		t.Fatalf("%d deliveries, want 3\n%s", len(msgs), p.log())
	}
	for _, m := range msgs {
		if s.sink.Count(m.MessageID) != 1 {
			t.Fatalf("message %s delivered %d times", m.MessageID, s.sink.Count(m.MessageID))
		}
		if strings.Contains(string(m.Data), "Bcc:") || strings.Contains(string(m.Data), "secret@example.com") {
			t.Fatalf("Bcc leaked into the message:\n%s", m.Data)
		}
		if m.MessageID == "sendmail-1@example.com" && strings.Join(m.To, ",") != "carol@example.com,secret@example.com" {
			t.Fatalf("sendmail -t envelope = %v", m.To)
		}
	}
	waitFor(t, "Sent copies", func() bool {
		for _, m := range msgs {
			if s.sentCopies(t, m.MessageID) != 1 {
				return false
			}
		}
		return true
	})
	waitFor(t, "outbox drained", func() bool {
		for _, r := range outboxRows(t, s) {
			if r.State != "done" {
				return false
			}
		}
		return true
	})
	code, out, _ = s.run(t, "", "outages", "--json")
	var outages []apiv1.Outage
	if code != 0 || json.Unmarshal([]byte(out), &outages) != nil {
		t.Fatalf("outages: %d %s", code, out)
	}
	found := false
	for _, o := range outages {
		if o.Service == "smtp" && o.EndedAt != nil && o.Queued == 3 && o.Replayed == 3 {
			found = true
		}
	}
	if !found {
		t.Fatalf("no closed smtp outage with 3 queued and 3 replayed: %+v", outages)
	}
}

func TestPermanentRejectionIsDeadWithTheServersReply(t *testing.T) {
	s := newSendSetup(t)
	s.sink.Reject("nobody@example.com")
	startDaemon(t, s.env, "--config", s.cfg)
	code, _, stderr := s.run(t, "x\n", "mail", "send", "--to", "nobody@example.com", "--subject", "bounce", "--body-file", "-")
	if code != 0 {
		t.Fatalf("mail send: %d %s", code, stderr)
	}
	waitFor(t, "dead", func() bool {
		rows := outboxRows(t, s)
		return len(rows) == 1 && rows[0].State == "dead"
	})
	rows := outboxRows(t, s)
	if !strings.Contains(rows[0].LastError, "550") || !strings.Contains(rows[0].LastError, "user unknown") {
		t.Fatalf("last error = %q, want the server's reply", rows[0].LastError)
	}
	if len(s.sink.Messages()) != 0 {
		t.Fatal("a refused message was delivered")
	}
}

func TestSubmissionRequiresTheLocalLogin(t *testing.T) {
	s := newSendSetup(t)
	startDaemon(t, s.env, "--config", s.cfg)
	c, err := smtp.Dial(s.smtp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("me@example.com", nil); err == nil {
		t.Fatal("MAIL without AUTH was accepted")
	}
	if err := c.Auth(sasl.NewPlainClient("", "me", "wrong")); err == nil {
		t.Fatal("a wrong password was accepted")
	}
}
