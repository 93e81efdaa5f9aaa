package daemon

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	gosync "sync"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/endpoints/imapd"
	"github.com/holdover/holdover/sync/outbox"
)

// imapEndpoint is the local IMAP endpoint (listen.imap), through which
// mail apps read the mirror of an account configured with mail.local and
// mail.imap. A reload that changes the address or the logins binds the
// new address first (a busy port rejects the reload with nothing
// changed) and then closes the old server.
type imapEndpoint struct {
	mu     gosync.Mutex
	srv    *imapd.Server
	addr   string
	logins map[string]config.LocalAuth // username → login, to tell a change
	wg     gosync.WaitGroup
}

func imapLogins(cfg *config.Config) (map[string]config.LocalAuth, map[string]imapd.Login) {
	keys := map[string]config.LocalAuth{}
	logins := map[string]imapd.Login{}
	for _, a := range cfg.Accounts {
		if a.Mail == nil || a.Mail.Local == nil || a.Mail.IMAP == nil {
			continue
		}
		la := *a.Mail.Local
		keys[la.Username] = la
		secret := la.Secret
		logins[la.Username] = imapd.Login{Account: a.Name, Password: secret.Resolve}
	}
	return keys, logins
}

// prepareIMAP binds the endpoint for cfg when it differs from the running
// one (nil when nothing changes); the switch has the SMTP endpoint's shape.
func (d *Daemon) prepareIMAP(cfg *config.Config) (*smtpSwitch, error) {
	keys, logins := imapLogins(cfg)
	addr := cfg.Listen.IMAP
	if len(logins) == 0 {
		addr = "" // nobody could log in: do not listen at all
	}
	d.imap.mu.Lock()
	same := addr == d.imap.addr && reflect.DeepEqual(keys, d.imap.logins)
	d.imap.mu.Unlock()
	if same {
		return nil, nil
	}
	var ln net.Listener
	if addr != "" {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("listen.imap %s: %w", addr, err)
		}
	}
	abort := func() {
		if ln != nil {
			ln.Close()
		}
	}
	return &smtpSwitch{abort: abort, commit: func() {
		var srv *imapd.Server
		if ln != nil {
			srv = imapd.New(imapd.Options{DB: d.db, Auth: imapd.StaticAuth(logins), Log: d.log.With("endpoint", "imap"),
				Flagger: d.local(cfg), NoChange: outbox.ErrNoChange})
			d.imap.wg.Add(1)
			go func() {
				defer d.imap.wg.Done()
				if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
					d.log.Error("IMAP endpoint stopped", "addr", addr, "err", err)
				}
			}()
			d.log.Info("IMAP endpoint listening", "addr", addr, "logins", len(logins))
		}
		d.imap.mu.Lock()
		old := d.imap.srv
		d.imap.srv, d.imap.addr, d.imap.logins = srv, addr, keys
		d.imap.mu.Unlock()
		if old != nil {
			old.Close()
		}
	}}, nil
}

// imapAddr is the address the IMAP endpoint serves ("" when off).
func (d *Daemon) imapAddr() string {
	d.imap.mu.Lock()
	defer d.imap.mu.Unlock()
	return d.imap.addr
}

// stopIMAP closes the endpoint and its sessions (they only read).
func (d *Daemon) stopIMAP() {
	d.imap.mu.Lock()
	srv := d.imap.srv
	d.imap.srv, d.imap.addr = nil, ""
	d.imap.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	d.imap.wg.Wait()
}
