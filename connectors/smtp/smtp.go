// Package smtp is holdover's SMTP connector: it relays messages to an
// account's submission server (through github.com/emersion/go-smtp) and
// implements sync.Sender, and nothing else. When to send, how often to
// retry and what to do with a refused message is the outbox's business
// (package sync).
//
// Invariants:
//   - TLS is verified. "starttls" never falls back to plaintext: a server
//     that does not offer STARTTLS is refused before any credential or
//     message crosses the wire. "none" is only ever used for loopback
//     hosts (the configuration refuses anything else).
//   - A message is streamed from the caller's reader to the socket; it is
//     never held in memory whole.
//   - The server sees a whole message or none: if reading the message
//     fails midway, the connection is dropped before the final dot, so a
//     truncated message can never be accepted.
//   - Recipients are all or nothing: if the server refuses any RCPT, the
//     transaction is reset (RSET) and no one gets the message.
//   - Every error leaving this package carries a sync kind (see
//     classification below) and the server's reply text, as in
//     "550 5.1.1 <x@y>: user unknown"; the password or OAuth2 token never
//     appears in one.
//   - With OAuth2, a refused token is refreshed once and tried again (on
//     the same connection, or a new one if the server hung up). A
//     session says when its token runs out (SignInEnding), so the outbox
//     never keeps it past that and the provider never ends it mid-message.
//   - A cancelled context closes the connection, which unblocks any
//     command in progress; the Client is then unusable (Send fails
//     Transient, Close still works). After a failed transaction that
//     left the connection healthy, the session is reset and reusable.
//
// Classification (the first matching row wins):
//
//	what                                                  kind
//	context cancelled or deadline exceeded                Transient (wraps ctx.Err())
//	TLS certificate not trusted / wrong name              Auth      (the user must act)
//	STARTTLS or AUTH required but not offered             Auth
//	unknown tls mode (the configuration must be fixed)    Auth
//	the password source failed                            Auth
//	the OAuth2 token source failed                        its own kind, error unchanged
//	OAuth2 token refused, and again after one refresh     Auth
//	reply 530, 534, 535, 538, or enhanced code 5.7.8      Auth
//	any 4xx reply (421, 450, 451, 452, 454, ...)          Transient
//	5xx reply while setting up (greeting, EHLO, AUTH)     Auth      (never dead-letters a message)
//	5xx reply to MAIL, RCPT, DATA or the final dot        Permanent
//	invalid envelope (no recipient, CR/LF in an address)  Permanent
//	non-ASCII address, server without SMTPUTF8            Permanent
//	network error, timeout, EOF, anything else            Transient
//
// When several recipients are refused, the error lists each with its
// reply, and the worst kind wins (Auth, then Permanent, then Transient).
// A failure after the final dot was written but before its reply arrived
// is Transient although the server may have delivered: the outbox looks
// for the Message-ID in the Sent folder before sending again.
package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	hsync "github.com/holdover/holdover/sync"
)

// Config says how to reach and log in to a submission server.
type Config struct {
	Host string
	Port int
	TLS  string // tls (also when empty) | starttls | none (loopback only, checked by config)
	// Username, when set, logs in with AUTH PLAIN (or LOGIN when the
	// server offers no PLAIN), or with OAuth2. Empty: no login.
	Username string
	// Password is called at each login, so a rotated secret is picked up
	// without a restart. Its result is never logged nor put in an error.
	Password func(ctx context.Context) (string, error)
	// OAuth2, when set, signs in with XOAUTH2 or OAUTHBEARER (whichever
	// the server advertises; OAUTHBEARER preferred) instead of Password.
	// Username is then required.
	OAuth2 TokenSource
	// TLSConfig overrides the default (system roots, ServerName = Host).
	TLSConfig *tls.Config
	// HeloName is the name given in EHLO; empty means "localhost".
	HeloName string
	// Timeout bounds connecting through logging in, each command's reply
	// and each write of message data; 0 means 60 s. The reply to the
	// final dot may take ten times as long (RFC 5321 §4.5.3.2 gives it
	// 10 minutes against 5 for other commands: servers scan messages).
	Timeout time.Duration
	// DialTimeout bounds connecting, TLS, the greeting, EHLO and the
	// login together (mail.timeout); 0 means Timeout. A server that
	// accepts the connection and says nothing fails the attempt then.
	DialTimeout time.Duration
}

func (c Config) addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 60 * time.Second
	}
	return c.Timeout
}

func (c Config) dialTimeout() time.Duration {
	if c.DialTimeout <= 0 {
		return c.timeout()
	}
	return c.DialTimeout
}

func (c Config) tlsConfig() *tls.Config {
	if c.TLSConfig == nil {
		return &tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12}
	}
	t := c.TLSConfig.Clone()
	if t.ServerName == "" {
		t.ServerName = c.Host
	}
	return t
}

// Client is a logged-in SMTP session. It implements sync.Sender. It is
// not safe for concurrent use: one Send at a time.
type Client struct {
	cfg     Config
	addr    string
	raw     net.Conn // the TCP connection, under any TLS layer
	c       *smtp.Client
	timeout time.Duration
	// broken is why the connection can no longer be used (nil: usable).
	broken error
	// freshToken is a refreshed OAuth2 token still to be tried, on a new
	// connection, after the server refused the first and hung up.
	freshToken string
	// renewAt: a session signed in with an OAuth2 token is replaced from
	// then on (oauthsasl.RenewAt); zero with passwords.
	renewAt time.Time
}

var (
	_ hsync.Sender          = (*Client)(nil)
	_ hsync.ExpiringSession = (*Client)(nil)
)

// SignInEnding implements sync.ExpiringSession: the access token the
// session signed in with runs out soon, so whoever keeps it open closes
// it and dials a new one. Always false with passwords.
func (cl *Client) SignInEnding() bool {
	return !cl.renewAt.IsZero() && !time.Now().Before(cl.renewAt)
}

// errNoStartTLS is what go-smtp returns when the server does not offer
// STARTTLS; a test pins the text so a library upgrade cannot silently
// turn this into a plain transient error.
const errNoStartTLS = "doesn't support STARTTLS"

// Dial connects, secures the connection, says EHLO and logs in.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.TLS == "" {
		cfg.TLS = "tls"
	}
	cl := &Client{cfg: cfg, addr: cfg.addr(), timeout: cfg.timeout()}
	op := "smtp connect " + cl.addr
	if cfg.TLS != "tls" && cfg.TLS != "starttls" && cfg.TLS != "none" {
		return nil, hsync.Errorf(hsync.Auth, op, fmt.Errorf("unknown tls mode %q (want tls, starttls or none)", cfg.TLS))
	}
	helo := cfg.HeloName
	if helo == "" {
		helo = "localhost"
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.dialTimeout())
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(dctx, "tcp", cl.addr)
	if err != nil {
		return nil, cl.dialError(ctx, dctx, op, err)
	}
	cl.raw = raw
	// Until Dial returns, the end of dctx closes the connection, which
	// unblocks whatever exchange is waiting.
	stop := context.AfterFunc(dctx, func() { raw.Close() })
	err = cl.open(dctx, helo)
	if !stop() && err == nil {
		err = dctx.Err()
	}
	if errors.Is(err, errReconnect) {
		// The server hung up after refusing the OAuth2 token: the fresh
		// one is tried on a new connection.
		raw.Close()
		if raw, err = (&net.Dialer{}).DialContext(dctx, "tcp", cl.addr); err != nil {
			return nil, cl.dialError(ctx, dctx, op, err)
		}
		cl.raw = raw
		stop = context.AfterFunc(dctx, func() { raw.Close() })
		err = cl.open(dctx, helo)
		if !stop() && err == nil {
			err = dctx.Err()
		}
	}
	if err != nil {
		raw.Close()
		return nil, cl.dialError(ctx, dctx, op, err)
	}
	return cl, nil
}

// open runs TLS, the greeting, EHLO and the login.
func (cl *Client) open(ctx context.Context, helo string) error {
	tlsCfg := cl.cfg.tlsConfig()
	switch cl.cfg.TLS {
	case "tls":
		tc := tls.Client(cl.raw, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return err
		}
		cl.c = smtp.NewClient(tc)
	case "starttls":
		// go-smtp says EHLO localhost before STARTTLS, then we say EHLO
		// again (with HeloName) over TLS; the handshake runs then.
		c, err := smtp.NewClientStartTLS(cl.raw, tlsCfg)
		if err != nil {
			if strings.Contains(err.Error(), errNoStartTLS) {
				return setupError{fmt.Errorf("the server does not offer STARTTLS; refusing to continue in plaintext")}
			}
			return err
		}
		cl.c = c
	case "none":
		cl.c = smtp.NewClient(cl.raw)
	}
	cl.c.CommandTimeout = cl.timeout
	cl.c.SubmissionTimeout = 10 * cl.timeout
	if err := cl.c.Hello(helo); err != nil {
		return err
	}
	return cl.login(ctx)
}

// setupError marks a refusal during session set-up that only the user can
// fix (missing STARTTLS or AUTH, a failing password source, refused
// credentials): classified Auth.
type setupError struct{ err error }

func (e setupError) Error() string { return e.err.Error() }
func (e setupError) Unwrap() error { return e.err }

func (cl *Client) login(ctx context.Context) error {
	user := cl.cfg.Username
	if user == "" {
		if cl.cfg.OAuth2 != nil {
			return setupError{errors.New("signing in with OAuth2 needs a username")}
		}
		return nil
	}
	if ok, _ := cl.c.Extension("AUTH"); !ok {
		return setupError{fmt.Errorf("the server offers no AUTH; cannot log in as %s", user)}
	}
	if cl.cfg.OAuth2 != nil {
		return cl.loginOAuth2(ctx)
	}
	if cl.cfg.Password == nil {
		return setupError{errors.New("no password source")}
	}
	pw, err := cl.cfg.Password(ctx)
	if err != nil {
		return setupError{fmt.Errorf("password for %s: %w", user, err)}
	}
	var mech sasl.Client
	switch {
	case cl.c.SupportsAuth(sasl.Plain):
		mech = sasl.NewPlainClient("", user, pw)
	case cl.c.SupportsAuth(sasl.Login):
		mech = &loginClient{user: user, password: pw}
	default:
		_, offered := cl.c.Extension("AUTH")
		return setupError{fmt.Errorf("the server offers AUTH %s; holdover speaks PLAIN and LOGIN", offered)}
	}
	if err := cl.c.Auth(mech); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			if se.Code/100 == 4 {
				return fmt.Errorf("login as %s: %w", user, replyError{se})
			}
			return setupError{fmt.Errorf("the server refused the credentials for %s: %w", user, replyError{se})}
		}
		return err
	}
	return nil
}

// loginClient is SASL LOGIN without an initial response: it answers the
// server's first challenge with the username and the second with the
// password, whatever their wording (some servers localise it).
type loginClient struct {
	user, password string
	step           int
}

func (l *loginClient) Start() (string, []byte, error) { return sasl.Login, nil, nil }

func (l *loginClient) Next([]byte) ([]byte, error) {
	l.step++
	switch l.step {
	case 1:
		return []byte(l.user), nil
	case 2:
		return []byte(l.password), nil
	}
	return nil, errors.New("unexpected third LOGIN challenge")
}

// dialError classifies an error met while connecting; the parent
// context's own end wins over what it caused.
func (cl *Client) dialError(parent, dctx context.Context, op string, err error) error {
	if perr := parent.Err(); perr != nil {
		return hsync.Errorf(hsync.Transient, op, perr)
	}
	var te tokenSourceError
	if errors.As(err, &te) {
		return te.err
	}
	var se setupError
	if errors.As(err, &se) {
		return hsync.Errorf(hsync.Auth, op, se.err)
	}
	if dctx.Err() != nil {
		return hsync.Errorf(hsync.Transient, op, fmt.Errorf("not connected and logged in within %v (mail.timeout): %w", cl.cfg.dialTimeout(), errorText(err)))
	}
	return hsync.Errorf(classify(err, setup), op, errorText(err))
}

// phase says which part of a session an error came from: a 5xx reply
// while setting up is about the account (Auth), during a transaction
// about the message (Permanent).
type phase int

const (
	setup phase = iota
	transaction
)

// classify maps an error to a sync kind (the table in the package doc).
func classify(err error, ph phase) hsync.Kind {
	if isCertError(err) {
		return hsync.Auth
	}
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return hsync.Transient
	}
	switch {
	case se.Code == 530 || se.Code == 534 || se.Code == 535 || se.Code == 538:
		return hsync.Auth
	case se.EnhancedCode == smtp.EnhancedCode{5, 7, 8}:
		return hsync.Auth
	case se.Code/100 == 4:
		return hsync.Transient
	case se.Code/100 == 5 && ph == setup:
		return hsync.Auth
	case se.Code/100 == 5:
		return hsync.Permanent
	}
	return hsync.Transient
}

// isCertError: a certificate the system does not trust, or one for
// another name, will not become right by retrying; the user must act.
// Go wraps every verification failure (unknown authority, wrong host,
// expired) in tls.CertificateVerificationError.
func isCertError(err error) bool {
	var certErr *tls.CertificateVerificationError
	return errors.As(err, &certErr)
}

// replyError renders a server reply as the server sent it:
// "550 5.1.1 <x@y>: user unknown". It unwraps to the *smtp.SMTPError.
type replyError struct{ e *smtp.SMTPError }

func (r replyError) Error() string {
	msg := strings.ReplaceAll(r.e.Message, "\n", " ")
	if r.e.EnhancedCode == smtp.EnhancedCodeNotSet || r.e.EnhancedCode == smtp.NoEnhancedCode {
		return fmt.Sprintf("%d %s", r.e.Code, msg)
	}
	ec := r.e.EnhancedCode
	return fmt.Sprintf("%d %d.%d.%d %s", r.e.Code, ec[0], ec[1], ec[2], msg)
}

func (r replyError) Unwrap() error { return r.e }

// errorText turns a bare *smtp.SMTPError into a replyError (its own text
// drops the enhanced code) and leaves other errors alone.
func errorText(err error) error {
	if se, ok := err.(*smtp.SMTPError); ok {
		return replyError{se}
	}
	return err
}
