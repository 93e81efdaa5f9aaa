package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	gosync "sync"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/internal/locallogin"
)

// localServer is what a local endpoint (SMTP submission, IMAP) serves
// on its listener until it is retired.
type localServer interface {
	Serve(ln net.Listener) error
}

// localEndpoint is one local endpoint of the daemon (listen.smtp,
// listen.imap), for the accounts whose mail.local login it accepts. A
// reload that changes the address or the logins binds the new address
// first (a busy port rejects the reload with nothing changed) and then
// retires the old server.
type localEndpoint struct {
	key    string                // the config key, "listen.smtp"
	what   string                // for the log, "SMTP submission endpoint"
	retire func(srv localServer) // closes a server: at once, or letting work finish
	mu     gosync.Mutex
	srv    localServer
	addr   string
	logins map[string]config.LocalAuth // username → login, to tell a change
	tls    *config.ListenTLS           // the certificate files, to tell a change
	wg     gosync.WaitGroup
}

// endpointSwitch is a prepared change of a local endpoint: commit serves
// the new address (and retires the old server), abort releases it.
type endpointSwitch struct {
	commit, abort func()
}

// prepare binds addr for a server start builds, when addr, the logins
// (keys) or the certificate files (tlsFiles, listen.tls) differ from what
// runs (nil when nothing changes; a renewed certificate in the same files
// needs no new server, see localCert). With no login nobody could use the
// endpoint: it does not listen at all.
func (e *localEndpoint) prepare(log *slog.Logger, addr string, keys map[string]config.LocalAuth, tlsFiles *config.ListenTLS, start func() localServer) (*endpointSwitch, error) {
	if len(keys) == 0 {
		addr = ""
	}
	e.mu.Lock()
	same := addr == e.addr && reflect.DeepEqual(keys, e.logins) && reflect.DeepEqual(tlsFiles, e.tls)
	e.mu.Unlock()
	if same {
		return nil, nil
	}
	var ln net.Listener
	if addr != "" {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("%s %s: %w", e.key, addr, err)
		}
	}
	abort := func() {
		if ln != nil {
			ln.Close()
		}
	}
	return &endpointSwitch{abort: abort, commit: func() {
		var srv localServer
		if ln != nil {
			srv = start()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
					log.Error(e.what+" stopped", "addr", addr, "err", err)
				}
			}()
			log.Info(e.what+" listening", "addr", addr, "logins", len(keys))
		}
		e.mu.Lock()
		old := e.srv
		e.srv, e.addr, e.logins, e.tls = srv, addr, keys, tlsFiles
		e.mu.Unlock()
		if old != nil {
			e.retire(old)
		}
	}}, nil
}

// address is the address the endpoint serves ("" when off).
func (e *localEndpoint) address() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.addr
}

// stop retires the endpoint and waits for its server to end.
func (e *localEndpoint) stop() {
	e.mu.Lock()
	srv := e.srv
	e.srv, e.addr = nil, ""
	e.mu.Unlock()
	if srv != nil {
		e.retire(srv)
	}
	e.wg.Wait()
}

// localLogins are the local logins of cfg's accounts that pick returns
// (nil: the account has none for that endpoint), keyed by username: the
// config entries (the endpoint switch compares them to know whether a
// server must change) and the table its server checks logins against.
func localLogins(cfg *config.Config, pick func(config.Account) *config.LocalAuth) (map[string]config.LocalAuth, map[string]locallogin.Login) {
	keys := map[string]config.LocalAuth{}
	logins := map[string]locallogin.Login{}
	for _, a := range cfg.Accounts {
		la := pick(a)
		if la == nil {
			continue
		}
		keys[la.Username] = *la
		secret := la.Secret
		logins[la.Username] = locallogin.Login{Account: a.Name, Password: secret.Resolve}
	}
	return keys, logins
}
