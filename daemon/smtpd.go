package daemon

import (
	"context"
	"time"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/endpoints/smtpd"
)

// newSubmission is the local SMTP endpoint (listen.smtp), through which
// mail apps send as an account configured with mail.local. A retired
// server finishes the transactions in progress (10 s at most).
func newSubmission() *localEndpoint {
	return &localEndpoint{key: "listen.smtp", what: "SMTP submission endpoint",
		retire: func(srv localServer) { shutdownSMTP(srv.(*smtpd.Server)) }}
}

func smtpLogins(cfg *config.Config) (map[string]config.LocalAuth, map[string]smtpd.Login) {
	keys := map[string]config.LocalAuth{}
	logins := map[string]smtpd.Login{}
	for _, a := range cfg.Accounts {
		if a.Mail == nil || a.Mail.Local == nil || a.Mail.SMTP == nil {
			continue
		}
		la := *a.Mail.Local
		keys[la.Username] = la
		secret := la.Secret
		logins[la.Username] = smtpd.Login{Account: a.Name, Password: secret.Resolve}
	}
	return keys, logins
}

// prepareSMTP binds the SMTP endpoint for cfg when it differs from the
// running one (nil when nothing changes).
func (d *Daemon) prepareSMTP(cfg *config.Config) (*endpointSwitch, error) {
	keys, logins := smtpLogins(cfg)
	return d.smtp.prepare(d.log, cfg.Listen.SMTP, keys, cfg.Listen.TLS, func() localServer {
		return smtpd.New(smtpd.Options{Submitter: d.local(cfg), Auth: smtpd.StaticAuth(logins), Log: d.log.With("endpoint", "smtp"),
			TLSConfig: d.localTLSConfig(cfg)})
	})
}

func shutdownSMTP(srv *smtpd.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}
