package daemon

import (
	"context"
	"time"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/endpoints/smtpd"
	"github.com/holdover/holdover/internal/locallogin"
)

// newSubmission is the local SMTP endpoint (listen.smtp), through which
// mail apps send as an account configured with mail.local. A retired
// server finishes the transactions in progress (10 s at most).
func newSubmission() *localEndpoint {
	return &localEndpoint{key: "listen.smtp", what: "SMTP submission endpoint",
		retire: func(srv localServer) { shutdownSMTP(srv.(*smtpd.Server)) }}
}

// smtpLogin is the local login that sends as an account: mail.local,
// for an account that has SMTP to send through.
func smtpLogin(a config.Account) *config.LocalAuth {
	if a.Mail == nil || a.Mail.SMTP == nil {
		return nil
	}
	return a.Mail.Local
}

// prepareSMTP binds the SMTP endpoint for cfg when it differs from the
// running one (nil when nothing changes).
func (d *Daemon) prepareSMTP(cfg *config.Config) (*endpointSwitch, error) {
	keys, logins := localLogins(cfg, smtpLogin)
	return d.smtp.prepare(d.log, cfg.Listen.SMTP, keys, cfg.Listen.TLS, func() localServer {
		return smtpd.New(smtpd.Options{Submitter: d.local(cfg), Auth: locallogin.Static(logins), Log: d.log.With("endpoint", "smtp"),
			TLSConfig: d.localTLSConfig(cfg)})
	})
}

func shutdownSMTP(srv *smtpd.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}
