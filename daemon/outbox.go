package daemon

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/holdover/holdover/config"
	imapconn "github.com/holdover/holdover/connectors/imap"
	"github.com/holdover/holdover/connectors/oauth"
	"github.com/holdover/holdover/internal/backoff"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/outbox"
)

// imapConfig is the connector configuration of an account's IMAP server:
// mail.timeout bounds connecting through the login. src is the account's
// OAuth2 token source, nil when it uses a password.
func imapConfig(m *config.Mail, src *oauth.Source) imapconn.Config {
	srv := m.IMAP
	secret := srv.Secret
	c := imapconn.Config{Host: srv.Host, Port: srv.Port, TLS: srv.TLS, Username: srv.Username, Password: secret.Resolve, DialTimeout: m.Timeout}
	if src != nil {
		c.OAuth2, c.Password = src, nil
	}
	return c
}

// imapWriter dials sessions that replay mail actions of an account.
func imapWriter(a config.Account, src *oauth.Source, w *connectWatch) hsync.MailWriterDialer {
	cfg := imapConfig(a.Mail, src)
	return watchDial(w, a.Name, "imap", func(ctx context.Context) (hsync.MailWriter, error) { return imapconn.Dial(ctx, cfg) })
}

// imapWorker replays an account's mail actions.
func imapWorker(db *store.DB, a config.Account, src *oauth.Source, log *slog.Logger, retry backoff.Policy, w *connectWatch) *outbox.Worker {
	return outbox.New(outbox.Worker{
		DB: db, Account: a.Name, Service: "imap", Kinds: outbox.ServiceKinds["imap"],
		Exec:   &outbox.IMAPExecutor{DB: db, Account: a.Name, Dial: imapWriter(a, src, w)},
		Health: &hsync.Health{DB: db}, Log: log, Policy: retry,
	})
}

// savesSentItself lists providers that file a copy of what their SMTP
// server relays into Sent on their own: appending one would double it.
var savesSentItself = []string{"gmail.com", "googlemail.com", "office365.com", "outlook.com", "hotmail.com", "live.com"}

// saveSent decides whether holdover appends the Sent copy.
func saveSent(m *config.Mail) bool {
	switch m.SaveSent {
	case "always":
		return m.IMAP != nil
	case "never":
		return false
	}
	if m.IMAP == nil || m.SMTP == nil {
		return false
	}
	host := strings.ToLower(m.SMTP.Host)
	for _, d := range savesSentItself {
		if host == d || strings.HasSuffix(host, "."+d) {
			return false
		}
	}
	return true
}

// local is the daemon's local-change API, which wakes the account's
// workers on commit.
func (d *Daemon) local(cfg *config.Config) *outbox.Local {
	return &outbox.Local{DB: d.db, SpoolDir: filepath.Join(cfg.DataDir, "spool"), Notify: d.Nudge}
}

// Nudge implements control.Daemon: it wakes an account's workers (all
// accounts when account is "", every service when service is "").
func (d *Daemon) Nudge(account, service string) {
	d.runners.mu.Lock()
	defer d.runners.mu.Unlock()
	for name, r := range d.runners.all {
		if account != "" && account != name {
			continue
		}
		for svc, w := range r.workers {
			if service == "" || service == svc {
				w.Wake()
			}
		}
		if service == "" || service == "webdav" {
			wakeAll(r.fileWorkers)
		}
	}
}
