package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	hsync "github.com/holdover/holdover/sync"
)

// notifySet asks for the changes the mirror follows in every folder of
// the personal namespace (RFC 5465): new and expunged messages and flag
// changes, reported for a folder that is not selected (this session
// selects none) as an untagged STATUS; MailboxName reports a folder
// created, renamed or deleted as an untagged LIST. Which of these folders
// are mirrored (mail.folders) is the engine's filter, applied on our side.
const notifySet = "NOTIFY SET (personal (MessageNew MessageExpunge FlagChange MailboxName))"

// notifyKeepAlive is how often the silent NOTIFY session sends NOOP: NAT
// boxes and servers drop quiet connections, and an answer that does not
// come shows a half-open one.
const notifyKeepAlive = 10 * time.Minute

// Notifier is a session of its own that hears about changes in every
// folder (IMAP NOTIFY). It implements sync.MailNotifier. go-imap's client
// can neither send NOTIFY nor deliver the untagged STATUS it causes, so
// the session speaks the few commands it needs itself (notifyparse.go),
// with the same TLS, login and error classification as Dial.
type Notifier struct {
	cfg  Config
	conn net.Conn // the TLS connection, or the watched TCP one
	raw  *watchedConn
	r    *bufio.Reader
	caps map[string]bool

	mu  gosync.Mutex // serialises writes and tags
	tag int

	readTimeout time.Duration
	// renewAt is when an OAuth2 sign-in runs out (see oauthsasl.RenewBefore):
	// Notify then ends, returning nil, and the caller dials anew.
	renewAt time.Time
}

var _ hsync.MailNotifier = (*Notifier)(nil)

// DialNotifier connects, secures and logs in a NOTIFY session. It fails
// with a Permanent error when the server does not offer NOTIFY.
func DialNotifier(ctx context.Context, cfg Config) (*Notifier, error) {
	op := "imap notify connect " + cfg.addr()
	timeout := cfg.DialTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tcp, err := (&net.Dialer{}).DialContext(dctx, "tcp", cfg.addr())
	if err != nil {
		return nil, hsync.Errorf(hsync.Transient, op, err)
	}
	n := &Notifier{cfg: cfg, raw: &watchedConn{Conn: tcp}, readTimeout: cfg.ReadTimeout}
	if n.readTimeout == 0 {
		n.readTimeout = 2 * time.Minute
	}
	n.conn = n.raw
	// Until login completes, the dial context bounds every read and write.
	if dl, ok := dctx.Deadline(); ok {
		tcp.SetDeadline(dl)
	}
	stop := context.AfterFunc(dctx, func() { tcp.Close() })
	err = n.open(dctx)
	stop()
	if err != nil {
		tcp.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	tcp.SetDeadline(time.Time{})
	if !n.caps["NOTIFY"] {
		n.Close()
		return nil, hsync.Errorf(hsync.Permanent, op, errors.New("the server does not offer NOTIFY"))
	}
	return n, nil
}

// open secures the connection and logs in.
func (n *Notifier) open(ctx context.Context) error {
	op := "imap notify connect " + n.cfg.addr()
	tlsCfg := n.cfg.TLSConfig
	if tlsCfg == nil {
		tlsCfg = &tls.Config{ServerName: n.cfg.Host, MinVersion: tls.VersionTLS12}
	}
	handshake := func() error {
		tc := tls.Client(n.raw, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return hsync.Errorf(classifyTLS(err), op, err)
		}
		n.conn = tc
		n.r = bufio.NewReader(tc)
		return nil
	}
	n.r = bufio.NewReader(n.raw)
	switch n.cfg.TLS {
	case "tls", "":
		if err := handshake(); err != nil {
			return err
		}
		if err := n.greeting(); err != nil {
			return err
		}
	case "starttls":
		if err := n.greeting(); err != nil {
			return err
		}
		if _, err := n.command("STARTTLS"); err != nil {
			return hsync.Errorf(classifyNotify(err), op+" (STARTTLS)", err)
		}
		if err := handshake(); err != nil {
			return err
		}
	case "none":
		if err := n.greeting(); err != nil {
			return err
		}
	default:
		return hsync.Errorf(hsync.Permanent, op, fmt.Errorf("unknown tls mode %q", n.cfg.TLS))
	}
	return n.login(ctx)
}

func (n *Notifier) greeting() error {
	resp, err := readResponse(n.r)
	if err != nil {
		return hsync.Errorf(hsync.Transient, "imap notify greeting "+n.cfg.addr(), err)
	}
	if !strings.HasPrefix(strings.ToUpper(string(resp)), "* OK") {
		return hsync.Errorf(hsync.Transient, "imap notify greeting "+n.cfg.addr(), fmt.Errorf("server said %q", clip(resp)))
	}
	return nil
}

func (n *Notifier) login(ctx context.Context) error {
	op := "imap notify login " + n.cfg.addr()
	if n.cfg.OAuth2 != nil {
		if err := n.loginOAuth2(ctx); err != nil {
			return err
		}
	} else if err := n.loginPassword(ctx); err != nil {
		return err
	}
	untagged, err := n.command("CAPABILITY")
	if err != nil {
		return hsync.Errorf(classifyNotify(err), op, err)
	}
	n.caps = map[string]bool{}
	for _, c := range capabilities(untagged) {
		n.caps[c] = true
	}
	return nil
}

func (n *Notifier) loginPassword(ctx context.Context) error {
	op := "imap notify login " + n.cfg.addr()
	if n.cfg.Password == nil {
		return hsync.Errorf(hsync.Auth, op, errors.New("no password source"))
	}
	pw, err := n.cfg.Password(ctx)
	if err != nil {
		return hsync.Errorf(hsync.Auth, op, err)
	}
	if _, err := n.command("LOGIN", n.cfg.Username, pw); err != nil {
		var ne *notifyError
		if errors.As(err, &ne) && ne.status == "NO" && !strings.HasPrefix(strings.ToUpper(ne.text), "[UNAVAILABLE]") {
			return hsync.Errorf(hsync.Auth, op, fmt.Errorf("the server refused the credentials for %s: %s", n.cfg.Username, ne.text))
		}
		return hsync.Errorf(classifyNotify(err), op, err)
	}
	return nil
}

// notifyError is a NO or BAD answer to one of the session's commands.
type notifyError struct{ status, text string }

func (e *notifyError) Error() string { return "imap: " + e.status + " " + e.text }

// classifyNotify is classify for the session's own errors: a BAD is
// permanent (the server will not take the command), the rest transient.
func classifyNotify(err error) hsync.Kind {
	var ne *notifyError
	if errors.As(err, &ne) && ne.status == "BAD" {
		return hsync.Permanent
	}
	return hsync.Transient
}

// command sends a command whose arguments are strings (quoted, or
// literals where quoting cannot carry them) and reads up to its
// completion, returning the untagged responses before it. Used only
// before the notification loop starts.
func (n *Notifier) command(name string, args ...string) ([][]byte, error) {
	tag, err := n.send(name, args...)
	if err != nil {
		return nil, err
	}
	var untagged [][]byte
	for {
		resp, err := readResponse(n.r)
		if err != nil {
			return nil, err
		}
		ev, err := parseResponse(resp)
		if err != nil {
			return nil, err
		}
		if ev.kind == evBye {
			return nil, fmt.Errorf("imap: server closed the connection: %s", ev.text)
		}
		if ev.kind != evTagged {
			untagged = append(untagged, resp)
			continue
		}
		if ev.tag != tag {
			continue
		}
		if ev.status != "OK" {
			return nil, &notifyError{status: ev.status, text: ev.text}
		}
		return untagged, nil
	}
}

// send writes a command and returns its tag. A string that is not plain
// printable ASCII goes as a synchronising literal: the server's "+" is
// awaited before its bytes (only during login, before the loop reads).
func (n *Notifier) send(name string, args ...string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.tag++
	tag := fmt.Sprintf("N%d", n.tag)
	var b strings.Builder
	b.WriteString(tag + " " + name)
	for _, a := range args {
		b.WriteByte(' ')
		if quotable(a) {
			b.WriteString(`"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a) + `"`)
			continue
		}
		fmt.Fprintf(&b, "{%d}\r\n", len(a))
		if _, err := io.WriteString(n.conn, b.String()); err != nil {
			return "", err
		}
		b.Reset()
		resp, err := readResponse(n.r)
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(string(resp), "+") {
			return "", fmt.Errorf("imap: literal refused: %q", clip(resp))
		}
		b.WriteString(a)
	}
	b.WriteString("\r\n")
	_, err := io.WriteString(n.conn, b.String())
	return tag, err
}

func quotable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Notify implements sync.MailNotifier: it turns on NOTIFY, reports ""
// (anything may have changed while it was off), then reads the server's
// reports until ctx ends or the connection fails (an error; a
// NOTIFICATIONOVERFLOW is one too: the server stopped reporting, so the
// caller reconnects, which reports "" again), or until its OAuth2 sign-in
// runs out (nil: see oauthsasl.RenewBefore).
func (n *Notifier) Notify(ctx context.Context, changed func(folder string)) error {
	op := "imap notify " + n.cfg.addr()
	if err := ctx.Err(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { n.conn.Close() })
	defer stop()
	// The session is silent by design: allow it a keep-alive period and
	// the answer to the NOOP that ends it.
	n.raw.timeout.Store(int64(notifyKeepAlive + n.readTimeout))
	// Without CONDSTORE enabled, a flag change in a folder that is not
	// selected changes nothing STATUS shows, and Dovecot reports none.
	setup := []string{notifySet}
	if n.caps["CONDSTORE"] {
		setup = []string{"ENABLE CONDSTORE", notifySet}
	}
	for _, cmd := range setup {
		if _, err := n.command(cmd); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return hsync.Errorf(classifyNotify(err), op, err)
		}
	}
	// What changed before NOTIFY was on went unreported.
	changed("")
	done := make(chan struct{})
	defer close(done)
	go n.keepAlive(done)
	var renewing atomic.Bool
	if !n.renewAt.IsZero() {
		// The sign-in runs out: end the session before the server does
		// (mid-report, for all it cares); the caller signs in anew.
		t := time.AfterFunc(time.Until(n.renewAt), func() {
			renewing.Store(true)
			n.conn.Close()
		})
		defer t.Stop()
	}
	for {
		resp, err := readResponse(n.r)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if renewing.Load() {
				return nil
			}
			return hsync.Errorf(hsync.Transient, op, err)
		}
		ev, err := parseResponse(resp)
		if err != nil {
			return hsync.Errorf(hsync.Transient, op, err)
		}
		switch ev.kind {
		case evFolder:
			changed(ev.folder)
		case evFolderList:
			changed("")
		case evBye:
			return hsync.Errorf(hsync.Transient, op, fmt.Errorf("server closed the connection: %s", ev.text))
		case evOverflow:
			return hsync.Errorf(hsync.Transient, op, errors.New("the server stopped notifying (NOTIFICATIONOVERFLOW)"))
		case evTagged:
			if ev.status != "OK" {
				return hsync.Errorf(classifyNotify(&notifyError{ev.status, ev.text}), op, &notifyError{ev.status, ev.text})
			}
		}
	}
}

// keepAlive sends NOOP every notifyKeepAlive until done; the loop reads
// the answers (a write error shows there too, as a closed connection).
func (n *Notifier) keepAlive(done <-chan struct{}) {
	t := time.NewTicker(notifyKeepAlive)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if _, err := n.send("NOOP"); err != nil {
				n.conn.Close()
				return
			}
		}
	}
}

// Close logs out (briefly) and closes the connection.
func (n *Notifier) Close() error {
	n.raw.SetWriteDeadline(time.Now().Add(time.Second))
	n.send("LOGOUT")
	return n.conn.Close()
}
