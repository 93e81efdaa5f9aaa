package smtpd

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/holdover/holdover/internal/locallogin"
	hsync "github.com/holdover/holdover/sync"
)

// Replies this package sends on its own account.
var (
	errAuthRequired  = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errBadLogin      = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
	errAuthTempFail  = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure, try again"}
	errNoSender      = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Give the sender address in MAIL FROM"}
	errNestedMail    = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Nested MAIL command"}
	errShuttingDown  = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Shutting down, try again later"}
	errLocal         = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Local error, message not accepted; try again"}
	errAuthzIdentity = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authorization identity must match the username"}
)

// session is one SMTP connection's state. go-smtp calls it from the
// connection's goroutine, except Logout (also from Shutdown) and Data
// (from a goroutine of its own under BDAT), hence the mutex.
type session struct {
	s      *Server
	conn   *smtp.Conn
	remote string

	mu      sync.Mutex
	account string // "" until AUTH succeeds
	user    string
	from    string
	to      []string
	inTx    bool // MAIL accepted, counted in Server.busy until Reset/Logout
	gone    bool // Logout was called
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, conn: c, remote: c.Conn().RemoteAddr().String()}, nil
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(ss.login), nil
}

func (ss *session) login(identity, username, password string) error {
	log := ss.s.log.With("username", username, "remote", ss.remote)
	if identity != "" && identity != username {
		log.Warn("smtp login refused: authorization identity differs", "identity", identity)
		return errAuthzIdentity
	}
	ctx, cancel := context.WithTimeout(ss.s.base, authTimeout)
	defer cancel()
	account, err := ss.s.opts.Auth(ctx, username, password)
	switch {
	case errors.Is(err, locallogin.ErrBadCredentials):
		log.Warn("smtp login refused")
		return errBadLogin
	case err != nil:
		log.Error("smtp login could not be checked", "err", err)
		return errAuthTempFail
	}
	ss.mu.Lock()
	ss.account, ss.user = account, username
	ss.mu.Unlock()
	log.Debug("smtp login", "account", account)
	return nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	switch {
	case ss.account == "":
		return errAuthRequired
	case ss.inTx:
		return errNestedMail
	case from == "":
		return errNoSender
	case ss.gone || !ss.s.begin():
		return errShuttingDown
	}
	ss.from, ss.to, ss.inTx = from, nil, true
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.to = append(ss.to, to)
	return nil
}

// Data streams the message to the Submitter. Its nil return is go-smtp's
// 250: only after Submit returned nil.
func (ss *session) Data(r io.Reader) error {
	ss.mu.Lock()
	if !ss.inTx { // go-smtp checks MAIL first; Logout may have come since
		ss.mu.Unlock()
		return errLocal
	}
	// Counted while the transaction still is, so a Shutdown cannot
	// find the server idle in between.
	ss.s.beginSubmit()
	account, user := ss.account, ss.user
	env := hsync.Envelope{From: ss.from, To: append([]string(nil), ss.to...)}
	ss.mu.Unlock()
	defer ss.s.end()

	body := &messageReader{r: r, conn: ss.conn.Conn(), timeout: ss.s.opts.ReadTimeout}
	id, err := ss.s.opts.Submitter.Submit(ss.s.base, account, env, body)
	log := ss.s.log.With("account", account, "username", user, "remote", ss.remote, "size", body.n, "rcpts", len(env.To))
	switch {
	case errors.Is(body.err, smtp.ErrDataTooLarge):
		if err == nil {
			log.Error("the submitter accepted a message it could not read whole; it may be stored truncated", "message_id", id)
		}
		log.Warn("message refused: too large", "max_bytes", ss.s.opts.MaxMessageBytes)
		return smtp.ErrDataTooLarge
	case body.err != nil:
		if err == nil {
			log.Error("the submitter accepted a message it could not read whole; it may be stored truncated", "message_id", id, "err", body.err)
		}
		log.Warn("message not accepted: reading it failed", "err", body.err)
		return errLocal
	case err != nil:
		log.Error("message not accepted: the submitter failed", "err", err)
		return errLocal
	case !body.eof:
		log.Error("the submitter returned before reading the whole message; answering 451", "message_id", id)
		return errLocal
	}
	log.Info("message accepted", "message_id", id)
	return nil
}

// Reset ends the transaction; go-smtp calls it after the reply to the
// final dot was written, so a graceful Shutdown never cuts that reply.
func (ss *session) Reset() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.endTx()
}

func (ss *session) Logout() error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.gone = true
	ss.endTx()
	return nil
}

// endTx must be called with ss.mu held.
func (ss *session) endTx() {
	if ss.inTx {
		ss.inTx = false
		ss.s.end()
	}
	ss.from, ss.to = "", nil
}

// messageReader is the message as the Submitter reads it: it renews the
// read deadline for each piece (ReadTimeout is then an idle timeout, not
// a bound on the whole upload), counts bytes and remembers how reading
// ended.
type messageReader struct {
	r       io.Reader
	conn    net.Conn
	timeout time.Duration
	n       int64
	eof     bool
	err     error // the first error other than EOF
}

func (m *messageReader) Read(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	m.conn.SetReadDeadline(time.Now().Add(m.timeout))
	n, err := m.r.Read(p)
	m.n += int64(n)
	switch {
	case err == io.EOF:
		m.eof = true
	case err != nil:
		m.err = err
	}
	return n, err
}
