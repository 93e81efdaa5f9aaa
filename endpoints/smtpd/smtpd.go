// Package smtpd is holdover's local SMTP submission endpoint (listen.smtp):
// mail apps log in and hand it the messages they send; it streams each
// one to a Submitter (the outbox), which stores it durably and queues it
// for the account's real SMTP server. It speaks SMTP through
// github.com/emersion/go-smtp and decides nothing about delivery.
//
// Invariants:
//   - 250 after the final dot only once Submit returned nil: an accepted
//     message is on disk (promise 1 of ARCHITECTURE.md).
//   - A local fault (Submit failed: disk full, database locked, shutting
//     down) is answered 451 4.3.0, never 250 and never a permanent 5xx:
//     the app keeps the message and tries again.
//   - No transaction without a login: MAIL before AUTH gets 530 5.7.0.
//     The password may cross in plaintext only on a loopback listener;
//     on any other listener AUTH needs STARTTLS (Options.TLSConfig), and
//     without TLS every login is refused.
//   - Messages are streamed to the Submitter, never held whole; one
//     larger than MaxMessageBytes is refused with 552 5.3.4.
//   - Logs name the account, username, Message-ID, size and recipient
//     count; never a body, never a password.
//   - Shutdown stops accepting, refuses new transactions (421), lets the
//     transactions under way finish until its context ends, and returns
//     only when no Submit is running any more.
//
// Known deviation: DATA with no accepted recipient is answered by
// go-smtp itself with 502 5.5.1 (RFC 5321 wants 503 or 554); either way
// the client sees a permanent refusal and nothing is submitted.
package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/holdover/holdover/internal/locallogin"
	hsync "github.com/holdover/holdover/sync"
)

// Submitter takes a message for an account. Submit must read msg to EOF,
// fail if reading fails, and return nil only once the message is stored
// durably (committed). It must return soon after ctx ends.
type Submitter interface {
	Submit(ctx context.Context, account string, env hsync.Envelope, msg io.Reader) (messageID string, err error)
}

// Options configure a Server.
type Options struct {
	Submitter Submitter
	Auth      locallogin.Authenticator
	// Domain is the name in the greeting; empty means "localhost".
	Domain string
	// MaxMessageBytes bounds a message; 0 means 50 MiB.
	MaxMessageBytes int64
	// TLSConfig, when set, offers STARTTLS.
	TLSConfig *tls.Config
	// Log receives one info line per accepted message and a warning per
	// refused login; nil discards. The caller scopes it (endpoint, ...).
	Log *slog.Logger
	// ReadTimeout bounds the wait for each command and for each piece of
	// message data (0: 5 min); WriteTimeout each reply (0: 1 min).
	ReadTimeout, WriteTimeout time.Duration
}

const (
	defaultMaxMessageBytes = 50 << 20
	authTimeout            = 30 * time.Second
)

// Server is the submission endpoint. It serves one listener.
type Server struct {
	opts Options
	log  *slog.Logger
	srv  *smtp.Server
	// base is the context of every Submit; cancelled when Shutdown's
	// context ends (or by Close).
	base       context.Context
	cancelBase context.CancelFunc

	mu       sync.Mutex
	ln       net.Listener
	closing  bool
	busy     int           // open transactions plus running Submits
	idle     chan struct{} // closed once closing and busy is 0
	idleDone bool          // idle is closed
}

// New makes a Server; Serve starts it.
func New(opts Options) *Server {
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = defaultMaxMessageBytes
	}
	if opts.Domain == "" {
		opts.Domain = "localhost"
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = 5 * time.Minute
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = time.Minute
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: log, idle: make(chan struct{})}
	s.base, s.cancelBase = context.WithCancel(context.Background())
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = opts.Domain
	srv.MaxMessageBytes = opts.MaxMessageBytes
	srv.TLSConfig = opts.TLSConfig
	srv.ReadTimeout = opts.ReadTimeout
	srv.WriteTimeout = opts.WriteTimeout
	srv.ErrorLog = slogPrinter{s.log}
	s.srv = srv
	return s
}

// Serve accepts connections on ln until Shutdown (then it returns nil) or
// a listener error. It may be called once: whether plaintext AUTH is
// allowed is decided from ln's address.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	if s.ln != nil {
		s.mu.Unlock()
		return errors.New("smtpd: Serve called twice")
	}
	s.ln = ln
	s.srv.AllowInsecureAuth = locallogin.Loopback(ln.Addr())
	s.mu.Unlock()
	if !s.srv.AllowInsecureAuth && s.opts.TLSConfig == nil {
		s.log.Warn("the SMTP listener is not loopback and has no TLS: every login will be refused", "addr", ln.Addr().String())
	}
	err := s.srv.Serve(ln)
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return nil
	}
	return err
}

// Shutdown stops accepting connections, answers new MAIL commands with
// 421, and waits for the transactions under way to end. When ctx ends
// first, it cancels the running Submits (their clients get 451, never
// 250) and returns ctx.Err(). Either way it closes every connection and
// returns only when no Submit is running.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.checkIdle()
	ln := s.ln
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	var err error
	select {
	case <-s.idle:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.cancelBase()
	s.srv.Close()
	<-s.idle // after the cancel and the close, every Submit returns soon
	return err
}

// begin counts a transaction or a Submit; false when shutting down.
func (s *Server) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.busy++
	return true
}

// beginSubmit counts a Submit even during shutdown. The caller holds its
// session's transaction open (counted), so busy is not 0 here.
func (s *Server) beginSubmit() {
	s.mu.Lock()
	s.busy++
	s.mu.Unlock()
}

func (s *Server) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busy--
	s.checkIdle()
}

// checkIdle closes idle once shutting down with nothing under way; call
// with s.mu held.
func (s *Server) checkIdle() {
	if s.closing && s.busy == 0 && !s.idleDone {
		s.idleDone = true
		close(s.idle)
	}
}

// slogPrinter takes go-smtp's internal error log (connection errors,
// recovered panics).
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(format string, v ...any) { p.log.Warn(fmt.Sprintf(format, v...)) }
func (p slogPrinter) Println(v ...any)               { p.log.Warn(fmt.Sprintln(v...)) }
