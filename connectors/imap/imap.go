// Package imap is holdover's IMAP connector: it speaks IMAP (through
// github.com/emersion/go-imap/v2) and implements sync.MailRemote, and
// nothing else. When to fetch and what a changed flag means is the
// engine's business (package sync/mailsync).
//
// Invariants:
//   - TLS is verified; "none" is only ever used for loopback hosts (the
//     configuration refuses anything else).
//   - Bodies are streamed from the IMAP literal to the caller; no message
//     is held in memory whole.
//   - Every error leaving this package is classified with a sync kind
//     (transient, auth, permanent); the password or OAuth2 token never
//     appears in one.
//   - With OAuth2, a refused token is refreshed once and tried again; a
//     second refusal is Auth. Errors of the TokenSource pass unchanged.
//   - A cancelled context closes the connection, which unblocks any
//     command in progress; the session is then unusable.
//   - A folder state (STATUS, LIST-STATUS) is current even for the folder
//     the session has selected (see refreshSelected).
//   - The NOTIFY session (Notifier) is the one place that reads IMAP
//     itself (go-imap cannot send NOTIFY nor deliver its unsolicited
//     STATUS); it never selects a folder and only turns responses into
//     "folder X changed", so a parser mistake costs a sync, never data.
package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/charset"

	hsync "github.com/holdover/holdover/sync"
)

// Config says how to reach and log in to a server.
type Config struct {
	Host     string
	Port     int
	TLS      string // tls | starttls | none
	Username string
	// Password is called at each login, so a rotated secret is picked up
	// without a restart. Its result is never logged.
	Password func(ctx context.Context) (string, error)
	// OAuth2, when set, signs in with XOAUTH2 or OAUTHBEARER (whichever
	// the server advertises; OAUTHBEARER preferred) instead of Password.
	OAuth2 TokenSource
	// TLSConfig overrides the default (system roots, ServerName = Host).
	TLSConfig *tls.Config
	// DialTimeout bounds connecting, TLS, the greeting and the login
	// (mail.timeout); 0 means 30 s.
	DialTimeout time.Duration
	// ReadTimeout is how long the server may stay silent while holdover
	// waits for it (outside IDLE) before the connection is given up as
	// half-open; 0 means 2 minutes.
	ReadTimeout time.Duration
}

func (c Config) addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// Session is a logged-in IMAP connection. It implements sync.MailRemote.
type Session struct {
	cfg         Config
	c           *imapclient.Client
	caps        hsync.MailCaps
	conn        *watchedConn
	readTimeout time.Duration
	// notify receives a token when the server reports changes unasked
	// (during IDLE).
	notify chan struct{}
	// spoolDir holds bodies whose UID arrives after the literal (rare;
	// servers normally send UID first).
	spoolDir string
	// renewAt: a session signed in with an OAuth2 token is replaced
	// from then on (see oauthsasl.RenewBefore); zero with passwords.
	renewAt time.Time
}

var _ hsync.MailRemote = (*Session)(nil)

// Dial connects, secures and logs in. Connecting, TLS (or STARTTLS),
// the greeting and the login share one deadline, DialTimeout: a server
// that accepts the connection and then says nothing (half-open, an
// overloaded front end) costs that long, not ReadTimeout per read. Only
// the established session's reads get ReadTimeout.
func Dial(ctx context.Context, cfg Config) (*Session, error) {
	timeout := cfg.DialTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, closeAtDeadline, err := connect(ctx, dctx, cfg, timeout)
	if err != nil {
		return nil, err
	}
	err = s.login(dctx)
	var re reconnectError
	if errors.As(err, &re) {
		// The server hung up after refusing a token: the fresh one is
		// tried on a new connection (see loginOAuth2).
		closeAtDeadline()
		s.c.Close()
		if s, closeAtDeadline, err = connect(ctx, dctx, cfg, timeout); err != nil {
			return nil, err
		}
		var mech string
		if mech, err = s.oauthMechanism(); err == nil {
			err = s.lastTry(mech, re.token)
		}
	}
	if err != nil {
		closeAtDeadline()
		s.c.Close()
		if dctx.Err() != nil {
			return nil, setupError(ctx, dctx, timeout, "imap login "+cfg.addr(), hsync.Transient, err)
		}
		return nil, err
	}
	if !closeAtDeadline() {
		// The deadline passed as the login finished: the connection is
		// closed or about to be.
		s.c.Close()
		return nil, setupError(ctx, dctx, timeout, "imap login "+cfg.addr(), hsync.Transient, dctx.Err())
	}
	// The session is established: from now on each read may wait
	// readTimeout. The client's reader is already blocked in a read
	// under the setup deadline; moving that deadline (rather than
	// clearing it) keeps this first wait bounded too.
	s.conn.timeout.Store(int64(s.readTimeout))
	s.conn.SetWriteDeadline(time.Time{})
	s.conn.SetReadDeadline(time.Now().Add(s.readTimeout))
	caps := s.c.Caps()
	s.caps = hsync.MailCaps{
		CondStore: caps.Has(imap.CapCondStore) || caps.Has(imap.CapIMAP4rev2),
		Idle:      caps.Has(imap.CapIdle) || caps.Has(imap.CapIMAP4rev2),
		Move:      caps.Has(imap.CapMove) || caps.Has(imap.CapIMAP4rev2),
		UIDPlus:   caps.Has(imap.CapUIDPlus) || caps.Has(imap.CapIMAP4rev2),
	}
	// CONDSTORE needs no ENABLE: SELECT (CONDSTORE) turns it on (RFC 7162 §3.1).
	return s, nil
}

// connect opens the connection, secures it and reads the greeting. Until
// login completes, the fixed deadline of dctx bounds every read and write
// (the per-read limit is off: it would push it back at each read), and
// the end of dctx closes the connection, which unblocks any exchange in
// progress, STARTTLS's included. The returned stop function disarms that
// close; it reports false when the deadline has already fired.
func connect(ctx, dctx context.Context, cfg Config, timeout time.Duration) (*Session, func() bool, error) {
	op := "imap connect " + cfg.addr()
	raw, err := (&net.Dialer{}).DialContext(dctx, "tcp", cfg.addr())
	if err != nil {
		return nil, nil, setupError(ctx, dctx, timeout, op, hsync.Transient, err)
	}
	readTimeout := cfg.ReadTimeout
	if readTimeout == 0 {
		readTimeout = 2 * time.Minute
	}
	conn := &watchedConn{Conn: raw}
	if dl, ok := dctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	closeAtDeadline := context.AfterFunc(dctx, func() { raw.Close() })
	fail := func(kind hsync.Kind, op string, err error) (*Session, func() bool, error) {
		closeAtDeadline()
		conn.Close()
		return nil, nil, setupError(ctx, dctx, timeout, op, kind, err)
	}
	tlsCfg := cfg.TLSConfig
	if tlsCfg == nil {
		tlsCfg = &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	}
	notify := make(chan struct{}, 1)
	opts := &imapclient.Options{
		TLSConfig:             tlsCfg,
		WordDecoder:           &mime.WordDecoder{CharsetReader: charset.Reader},
		UnilateralDataHandler: unilateralHandler(notify),
	}
	var c *imapclient.Client
	switch cfg.TLS {
	case "tls", "":
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(dctx); err != nil {
			return fail(classifyTLS(err), op, err)
		}
		c = imapclient.New(tc, opts)
	case "starttls":
		c, err = imapclient.NewStartTLS(conn, opts)
		if err != nil {
			return fail(classifyTLS(err), op+" (STARTTLS)", err)
		}
	case "none":
		c = imapclient.New(conn, opts)
	default:
		closeAtDeadline()
		conn.Close()
		return nil, nil, hsync.Errorf(hsync.Permanent, op, fmt.Errorf("unknown tls mode %q", cfg.TLS))
	}
	s := &Session{cfg: cfg, c: c, notify: notify, conn: conn, readTimeout: readTimeout}
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return fail(classify(err), "imap login "+cfg.addr(), err)
	}
	return s, closeAtDeadline, nil
}

// setupError classifies a failure to connect or log in. When the setup
// deadline (not the caller) ended it, the error says so plainly, instead
// of whatever the closed connection made the library report ("unexpected
// EOF"), and is transient: the server may answer next time.
func setupError(ctx, dctx context.Context, timeout time.Duration, op string, kind hsync.Kind, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// The connection's own deadline may fire a moment before dctx's.
	if dl, _ := dctx.Deadline(); dctx.Err() != nil || !time.Now().Before(dl) {
		return hsync.Errorf(hsync.Transient, op, fmt.Errorf("no answer within %s (mail.timeout): %w", timeout, context.DeadlineExceeded))
	}
	return hsync.Errorf(kind, op, err)
}

func (s *Session) login(ctx context.Context) error {
	op := "imap login " + s.cfg.addr()
	if s.cfg.OAuth2 != nil {
		return s.loginOAuth2(ctx)
	}
	if s.cfg.Password == nil {
		return hsync.Errorf(hsync.Auth, op, errors.New("no password source"))
	}
	pw, err := s.cfg.Password(ctx)
	if err != nil {
		// The secret source failed: the user must fix it, retrying will not.
		return hsync.Errorf(hsync.Auth, op, err)
	}
	if err := s.c.Login(s.cfg.Username, pw).Wait(); err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo && ie.Code != imap.ResponseCodeUnavailable {
			return hsync.Errorf(hsync.Auth, op, fmt.Errorf("the server refused the credentials for %s: %s", s.cfg.Username, ie.Text))
		}
		return hsync.Errorf(classify(err), op, err)
	}
	return nil
}

// Caps implements sync.MailRemote.
func (s *Session) Caps() hsync.MailCaps { return s.caps }

// Close logs out (briefly) and closes the connection.
func (s *Session) Close() error {
	done := make(chan struct{})
	go func() {
		s.c.Logout().Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	return s.c.Close()
}

// guard closes the connection if ctx ends while a command runs, and
// classifies the command's error; ctx's own error wins when it ended.
func (s *Session) guard(ctx context.Context, op string, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { s.c.Close() })
	err := fn()
	stop()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return hsync.Errorf(classify(err), op, err)
}

// classify maps an IMAP or network error to a sync kind. Unknown errors
// are transient: a surprise is retried, never turned into data loss.
func classify(err error) hsync.Kind {
	var ie *imap.Error
	if errors.As(err, &ie) {
		switch ie.Code {
		case imap.ResponseCodeAuthenticationFailed, imap.ResponseCodeAuthorizationFailed,
			imap.ResponseCodeExpired, imap.ResponseCodePrivacyRequired, imap.ResponseCodeContactAdmin:
			return hsync.Auth
		case imap.ResponseCodeNonExistent, imap.ResponseCodeTryCreate, imap.ResponseCodeNoPerm,
			imap.ResponseCodeCannot, imap.ResponseCodeOverQuota, imap.ResponseCodeAlreadyExists, imap.ResponseCodeTooBig:
			return hsync.Permanent
		}
		if ie.Type == imap.StatusResponseTypeBad {
			return hsync.Permanent
		}
		return hsync.Transient
	}
	return hsync.Transient
}

// classifyTLS: a certificate the system does not trust is not going to
// become trusted by retrying; the user must act (like a bad password).
func classifyTLS(err error) hsync.Kind {
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return hsync.Auth
	}
	return hsync.Transient
}

// formatAddrs renders an address list as "Name <a@b>, c@d".
func formatAddrs(as []imap.Address) string {
	var parts []string
	for _, a := range as {
		addr := a.Addr()
		if addr == "" {
			continue
		}
		if a.Name != "" {
			parts = append(parts, a.Name+" <"+addr+">")
		} else {
			parts = append(parts, addr)
		}
	}
	return strings.Join(parts, ", ")
}

func tempSpool(dir string) (*os.File, error) { return os.CreateTemp(dir, "holdover-imap-spool-*") }

// watchedConn gives every read a deadline, so a server that stops
// answering (a half-open connection) is noticed instead of hanging the
// engine forever. IDLE raises the limit while it waits. While timeout is
// 0 (during Dial) reads keep the fixed deadline set on the connection.
//
// A read that timed out ends the connection: every later read fails at
// once with the same error. go-imap's reader reads on after a failed
// read (its decoder tries the next byte), so without this a silent
// server cost four read timeouts, eight minutes, instead of one.
type watchedConn struct {
	net.Conn
	timeout atomic.Int64 // time.Duration
	dead    atomic.Pointer[error]
}

func (c *watchedConn) Read(p []byte) (int, error) {
	if err := c.dead.Load(); err != nil {
		return 0, *err
	}
	if d := time.Duration(c.timeout.Load()); d > 0 {
		c.Conn.SetReadDeadline(time.Now().Add(d))
	}
	n, err := c.Conn.Read(p)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.dead.CompareAndSwap(nil, &err)
	}
	return n, err
}
