package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// An account that only reads (mail.imap, no mail.smtp) logs in to the
// IMAP endpoint with its mail.local login; the SMTP endpoint, which
// sends, refuses that login and keeps accepting the sending account's.
func TestIMAPOnlyAccountReadsThroughTheIMAPEndpointButCannotSend(t *testing.T) {
	t.Setenv("HOLDOVER_TEST_PW", "remote")
	t.Setenv("HOLDOVER_TEST_LOCAL", "local-secret")
	t.Setenv("HOLDOVER_TEST_READER", "reader-secret")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	imapAddr, smtpAddr := freeAddr(t), freeAddr(t)
	text := fmt.Sprintf(`data_dir: %s
listen: {http: "", smtp: "%s", imap: "%s"}
accounts:
  - name: work
    mail:
      imap: {host: 127.0.0.1, port: 1, tls: none, username: me, password_env: HOLDOVER_TEST_PW}
      smtp: {host: 127.0.0.1, port: 1, tls: none, username: me, password_env: HOLDOVER_TEST_PW}
      local: {username: me, password_env: HOLDOVER_TEST_LOCAL}
  - name: reader
    mail:
      imap: {host: 127.0.0.1, port: 1, tls: none, username: r, password_env: HOLDOVER_TEST_PW}
      local: {username: reader, password_env: HOLDOVER_TEST_READER}
`, filepath.Join(dir, "data"), smtpAddr, imapAddr)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, cfg)

	c, err := imapclient.DialInsecure(imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("reader", "reader-secret").Wait(); err != nil {
		t.Fatalf("IMAP login of the IMAP-only account: %v", err)
	}
	if _, err := c.List("", "*", nil).Collect(); err != nil {
		t.Fatalf("list: %v", err)
	}

	smtpAuth := func(user, pass string) error {
		sc, err := smtp.Dial(smtpAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		return sc.Auth(sasl.NewPlainClient("", user, pass))
	}
	if err := smtpAuth("reader", "reader-secret"); err == nil {
		t.Fatal("the SMTP endpoint accepted the login of an account without mail.smtp")
	}
	if err := smtpAuth("me", "local-secret"); err != nil {
		t.Fatalf("SMTP login of the sending account: %v", err)
	}
}
