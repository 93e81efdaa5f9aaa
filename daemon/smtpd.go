package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	gosync "sync"
	"time"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/endpoints/smtpd"
)

// submission is the local SMTP endpoint (listen.smtp), through which mail
// apps send as an account configured with mail.local. A reload that
// changes the address or the logins binds the new address first (a busy
// port rejects the reload with nothing changed) and then retires the old
// server gracefully.
type submission struct {
	mu     gosync.Mutex
	srv    *smtpd.Server
	addr   string
	logins map[string]config.LocalAuth // username → login, to tell a change
	wg     gosync.WaitGroup
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

// smtpSwitch is a prepared change of the SMTP endpoint: commit serves
// the new address (and retires the old server), abort releases it.
type smtpSwitch struct {
	commit, abort func()
}

// prepareSMTP binds the endpoint for cfg when it differs from the running
// one (nil when nothing changes).
func (d *Daemon) prepareSMTP(cfg *config.Config) (*smtpSwitch, error) {
	keys, logins := smtpLogins(cfg)
	addr := cfg.Listen.SMTP
	if len(logins) == 0 {
		addr = "" // nobody could log in: do not listen at all
	}
	d.smtp.mu.Lock()
	same := addr == d.smtp.addr && reflect.DeepEqual(keys, d.smtp.logins)
	d.smtp.mu.Unlock()
	if same {
		return nil, nil
	}
	var ln net.Listener
	if addr != "" {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("listen.smtp %s: %w", addr, err)
		}
	}
	abort := func() {
		if ln != nil {
			ln.Close()
		}
	}
	return &smtpSwitch{abort: abort, commit: func() {
		var srv *smtpd.Server
		if ln != nil {
			srv = smtpd.New(smtpd.Options{Submitter: d.local(cfg), Auth: smtpd.StaticAuth(logins), Log: d.log.With("endpoint", "smtp")})
			d.smtp.wg.Add(1)
			go func() {
				defer d.smtp.wg.Done()
				if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
					d.log.Error("SMTP endpoint stopped", "addr", addr, "err", err)
				}
			}()
			d.log.Info("SMTP submission endpoint listening", "addr", addr, "logins", len(logins))
		}
		d.smtp.mu.Lock()
		old := d.smtp.srv
		d.smtp.srv, d.smtp.addr, d.smtp.logins = srv, addr, keys
		d.smtp.mu.Unlock()
		if old != nil {
			shutdownSMTP(old)
		}
	}}, nil
}

func shutdownSMTP(srv *smtpd.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}

// stopSMTP retires the endpoint: transactions in progress may finish.
func (d *Daemon) stopSMTP() {
	d.smtp.mu.Lock()
	srv := d.smtp.srv
	d.smtp.srv, d.smtp.addr = nil, ""
	d.smtp.mu.Unlock()
	if srv != nil {
		shutdownSMTP(srv)
	}
	d.smtp.wg.Wait()
}
