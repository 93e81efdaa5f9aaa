// Package caldavd is holdover's local CalDAV endpoint (listen.caldav):
// calendar apps log in with an account's local login and read and write
// the calendar mirror from the store, whether the provider answers or
// not. Discovery (/.well-known/caldav, the principal), OPTIONS and
// calendar-query REPORTs are github.com/emersion/go-webdav's caldav
// server over a Backend on the store; the rest is served here, where
// go-webdav v0.6.0 falls short: sync-collection and sync-tokens, ETags
// that are holdover's own, If-Match/If-None-Match decided in the
// transaction that writes, objects served and stored byte for byte
// (go-webdav re-encodes them, and cannot serve one it cannot parse).
//
// Layout of the namespace (the login picks the account):
//
//	/<account>/                        principal
//	/<account>/calendars/              calendar-home-set
//	/<account>/calendars/<id>/         a mirrored calendar (store id)
//	/<account>/calendars/<id>/<name>   an object (the provider's name,
//	                                   or the one the client PUT to)
//
// Invariants:
//   - Every write is a local change through calsync.Local (PutAt,
//     DeleteAt): the object and its outbox row commit in one
//     transaction before the client's 2xx; nothing is written to the
//     provider from here.
//   - ETags and sync-tokens are local (store migration 0014): an ETag is
//     the object's local change count, a sync-token the calendar's. A
//     replay to the provider changes neither, so a client never sees an
//     outage or a recovery as a change. A stale If-Match is answered 412
//     here, in the writing transaction.
//   - Request bodies are limited (Options.MaxBody); data that is not one
//     readable iCalendar object with a UID is refused with 400 or 415 and
//     a sentence saying why; nothing a client sends can take the server
//     down (a handler's panic is recovered into a 500 and logged).
//   - The password may cross in plaintext only on a loopback listener;
//     on any other address the endpoint serves only over TLS
//     (Options.TLSConfig), and without TLS refuses every login (the mail
//     endpoints' rule). A wrong login waits Options.FailDelay.
//   - Logs name the account and username; never a password, never an
//     event's content.
package caldavd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/holdover/holdover/internal/locallogin"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/calsync"
)

// Options configure a Server.
type Options struct {
	DB   *store.DB
	Auth locallogin.Authenticator
	// Local takes the writes (PUT, DELETE); nil serves every calendar
	// read-only (403 to a write).
	Local *calsync.Local
	// TLSConfig, when set, serves HTTPS instead of HTTP on a listener
	// that is not loopback (a loopback one stays HTTP).
	TLSConfig *tls.Config
	// FailDelay is how long a wrong login waits before its 401 (0: 1s).
	FailDelay time.Duration
	// MaxBody bounds a request body: a PUT's event or a REPORT (0:
	// 10 MiB, as much as a large recurring event with its overrides and
	// attachments needs).
	MaxBody int64
	// Log receives a warning per refused login and errors; nil discards.
	// The caller scopes it (endpoint, ...).
	Log *slog.Logger
}

// Server is the CalDAV endpoint. It serves one listener.
type Server struct {
	opts   Options
	log    *slog.Logger
	base   context.Context // of every store read; cancelled by Close
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	srv    *http.Server
}

// New makes a Server; Serve starts it.
func New(opts Options) *Server {
	if opts.FailDelay <= 0 {
		opts.FailDelay = time.Second
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 10 << 20
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: log}
	s.base, s.cancel = context.WithCancel(context.Background())
	return s
}

// Serve accepts connections on ln until Close (then it returns nil). It
// may be called once: whether a plaintext login is allowed is decided
// from ln's address.
func (s *Server) Serve(ln net.Listener) error {
	// A loopback listener stays plain HTTP even with a certificate: the
	// apps of the machine are set up for http://127.0.0.1:5233/, and the
	// password never leaves it.
	loopback := locallogin.Loopback(ln.Addr())
	secure := loopback || s.opts.TLSConfig != nil
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	if s.srv != nil {
		s.mu.Unlock()
		return errors.New("caldavd: Serve called twice")
	}
	if !secure {
		s.log.Warn("the CalDAV listener is not loopback and has no TLS: every login will be refused", "addr", ln.Addr().String())
	}
	if s.opts.TLSConfig != nil && !loopback {
		ln = tls.NewListener(ln, s.opts.TLSConfig)
	}
	srv := &http.Server{
		Handler:           s.handler(secure),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return s.base },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.srv = srv
	s.mu.Unlock()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops accepting and ends every connection; a request being
// written finishes or rolls back whole (the store's transaction), never
// half. It may come before Serve.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	srv := s.srv
	s.mu.Unlock()
	s.cancel()
	if srv != nil {
		return srv.Close()
	}
	return nil
}

type accountKey struct{}

// accountOf is the account the request's login opened.
func accountOf(ctx context.Context) string {
	a, _ := ctx.Value(accountKey{}).(string)
	return a
}

// handler checks the login, then routes.
func (s *Server) handler(secure bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "holdover")
		user, pass, ok := r.BasicAuth()
		if !ok {
			s.challenge(w)
			return
		}
		if !secure {
			http.Error(w, "This listener is neither loopback nor TLS: logins are refused so the password never crosses the network in clear text.", http.StatusForbidden)
			return
		}
		account, err := s.opts.Auth(r.Context(), user, pass)
		if errors.Is(err, locallogin.ErrBadCredentials) {
			s.log.Warn("CalDAV login refused", "username", user, "remote", r.RemoteAddr)
			select {
			case <-time.After(s.opts.FailDelay):
			case <-r.Context().Done():
			}
			s.challenge(w)
			return
		}
		if err != nil {
			s.log.Error("CalDAV login", "username", user, "err", err)
			http.Error(w, "Local login unavailable, try again", http.StatusServiceUnavailable)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), accountKey{}, account))
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBody)
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("CalDAV endpoint: panic serving a request", "account", account, "method", r.Method, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				http.Error(w, "Internal error", http.StatusInternalServerError)
			}
		}()
		s.route(w, r)
	})
}

func (s *Server) challenge(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="holdover", charset="UTF-8"`)
	http.Error(w, "Log in with the account's local login", http.StatusUnauthorized)
}

// Shutdown stops accepting and waits, until ctx ends, for the requests
// in progress to be answered; then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	srv := s.srv
	s.mu.Unlock()
	var err error
	if srv != nil {
		err = srv.Shutdown(ctx)
	}
	s.cancel()
	if srv != nil && err != nil {
		srv.Close()
	}
	return err
}
