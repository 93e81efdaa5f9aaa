package daemon

import (
	"context"
	"log/slog"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/connectors/oauth"
	smtpconn "github.com/holdover/holdover/connectors/smtp"
	"github.com/holdover/holdover/internal/backoff"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/outbox"
)

// smtpWorker relays an account's queued messages.
func smtpWorker(db *store.DB, a config.Account, src *oauth.Source, log *slog.Logger, retry backoff.Policy, nudge func(account, service string), w *connectWatch) *outbox.Worker {
	srv := a.Mail.SMTP
	secret := srv.Secret
	cfg := smtpconn.Config{Host: srv.Host, Port: srv.Port, TLS: srv.TLS, Username: srv.Username, Password: secret.Resolve, DialTimeout: a.Mail.Timeout}
	if src != nil && srv.OAuth2 != nil {
		cfg.OAuth2, cfg.Password = src, nil
	}
	exec := &outbox.SendExecutor{
		DB: db, Account: a.Name, SaveSent: saveSent(a.Mail),
		Dial: watchDial(w, a.Name, "smtp", func(ctx context.Context) (hsync.Sender, error) { return smtpconn.Dial(ctx, cfg) }),
	}
	if a.Mail.IMAP != nil {
		exec.IMAP = imapWriter(a, imapSource(a, src), w)
	}
	return outbox.New(outbox.Worker{
		DB: db, Account: a.Name, Service: "smtp", Kinds: outbox.ServiceKinds["smtp"],
		Exec: exec, Health: &hsync.Health{DB: db}, Log: log, Policy: retry,
		// A sent message may have queued its Sent copy.
		Done: func(store.OutboxRow) { nudge(a.Name, "imap") },
	})
}

// imapSource is src when the account's IMAP signs in with OAuth2.
func imapSource(a config.Account, src *oauth.Source) *oauth.Source {
	if a.Mail.IMAP == nil || a.Mail.IMAP.OAuth2 == nil {
		return nil
	}
	return src
}
