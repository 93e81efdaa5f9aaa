package daemon

import (
	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/endpoints/imapd"
	"github.com/holdover/holdover/internal/locallogin"
	"github.com/holdover/holdover/sync/outbox"
)

// newIMAPEndpoint is the local IMAP endpoint (listen.imap), through which
// mail apps read and change the mirror of an account configured with
// mail.local and mail.imap. A retired server closes at once: a write it
// cuts short is rolled back, and its client never got the OK.
func newIMAPEndpoint() *localEndpoint {
	return &localEndpoint{key: "listen.imap", what: "IMAP endpoint",
		retire: func(srv localServer) { srv.(*imapd.Server).Close() }}
}

// imapLogin is the local login that reads an account's mail mirror:
// mail.local, for an account that mirrors mail over IMAP.
func imapLogin(a config.Account) *config.LocalAuth {
	if a.Mail == nil || a.Mail.IMAP == nil {
		return nil
	}
	return a.Mail.Local
}

// prepareIMAP binds the IMAP endpoint for cfg when it differs from the
// running one (nil when nothing changes). The endpoint gets d.db, the
// store every engine and worker of this process writes through: its
// commits are what wake idling IMAP sessions at once
// (store.DB.NextCommit); another DB would leave them to the periodic
// check.
func (d *Daemon) prepareIMAP(cfg *config.Config) (*endpointSwitch, error) {
	keys, logins := localLogins(cfg, imapLogin)
	return d.imap.prepare(d.log, cfg.Listen.IMAP, keys, cfg.Listen.TLS, func() localServer {
		return imapd.New(imapd.Options{DB: d.db, Auth: locallogin.Static(logins), Log: d.log.With("endpoint", "imap"),
			Flagger: d.local(cfg), NoChange: outbox.ErrNoChange, TLSConfig: d.localTLSConfig(cfg)})
	})
}
