package smtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	hsync "github.com/holdover/holdover/sync"
)

// chunkSize is how much of a message is read and written at a time; the
// only message memory a Send holds (plus go-smtp's 4 KiB write buffer).
const chunkSize = 32 << 10

// Send relays one message: MAIL FROM, RCPT TO for each recipient, DATA
// streamed from msg, and the server's final reply. It returns nil only
// when the server accepted the message (250 after the final dot).
func (cl *Client) Send(ctx context.Context, env hsync.Envelope, msg io.Reader, commit func() error) error {
	op := "smtp send via " + cl.addr
	if err := checkEnvelope(env); err != nil {
		return hsync.Errorf(hsync.Permanent, op, err)
	}
	if cl.broken != nil {
		return hsync.Errorf(hsync.Transient, op, fmt.Errorf("connection unusable after an earlier failure: %w", cl.broken))
	}
	if err := ctx.Err(); err != nil {
		return hsync.Errorf(hsync.Transient, op, err)
	}
	stop := context.AfterFunc(ctx, func() { cl.raw.Close() })
	err := cl.transaction(op, env, msg, commit)
	if !stop() {
		// ctx ended and closed the connection under the transaction. A
		// nil err means the 250 came first: the message was accepted; a
		// server's refusal that came first stands too.
		cl.broken = ctx.Err()
		if err != nil && hsync.KindOf(err) == hsync.Transient {
			return hsync.Errorf(hsync.Transient, op, ctx.Err())
		}
	}
	return err
}

func (cl *Client) transaction(op string, env hsync.Envelope, msg io.Reader, commit func() error) error {
	var opts *smtp.MailOptions
	if !isASCII(env.From) || !allASCII(env.To) {
		if ok, _ := cl.c.Extension("SMTPUTF8"); !ok {
			return hsync.Errorf(hsync.Permanent, op, errors.New("an address is not ASCII and the server does not offer SMTPUTF8"))
		}
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := cl.c.Mail(env.From, opts); err != nil {
		return cl.abort(op, "MAIL FROM:<"+env.From+">", err)
	}
	if err := cl.recipients(op, env.To); err != nil {
		return err
	}
	w, err := cl.c.Data()
	if err != nil {
		return cl.abort(op, "DATA", err)
	}
	if err := cl.stream(w, msg); err != nil {
		return hsync.Errorf(hsync.Transient, op, err)
	}
	if commit != nil {
		if err := commit(); err != nil {
			// No final dot: the server discards what it has.
			cl.drop(err)
			return hsync.Errorf(hsync.Transient, op, fmt.Errorf("before the end of DATA: %w", err))
		}
	}
	cl.raw.SetWriteDeadline(time.Now().Add(cl.timeout))
	if _, err := w.CloseWithResponse(); err != nil {
		// The transaction is over either way: no RSET needed after a
		// reply; without one the connection is gone.
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			cl.broken = err
		}
		return hsync.Errorf(classify(err, transaction), op, fmt.Errorf("end of DATA: %w", errorText(err)))
	}
	return nil
}

// recipients sends every RCPT TO, even after a refusal, so the error
// names every address the user must fix. Any refusal resets the
// transaction: the message goes to everyone or no one.
func (cl *Client) recipients(op string, to []string) error {
	var refused refusedError
	kind := hsync.Transient
	for _, addr := range to {
		err := cl.c.Rcpt(addr, nil)
		if err == nil {
			continue
		}
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			return cl.abort(op, "RCPT TO:<"+addr+">", err)
		}
		refused = append(refused, fmt.Errorf("RCPT TO:<%s>: %w", addr, replyError{se}))
		kind = worse(kind, classify(se, transaction))
	}
	if len(refused) == 0 {
		return nil
	}
	cl.reset()
	return hsync.Errorf(kind, op, refused)
}

// refusedError lists every refused recipient with the server's reply; it
// unwraps to each *smtp.SMTPError.
type refusedError []error

func (r refusedError) Error() string {
	parts := make([]string, len(r))
	for i, e := range r {
		parts[i] = e.Error()
	}
	return "recipient refused, nothing sent: " + strings.Join(parts, "; ")
}

func (r refusedError) Unwrap() []error { return r }

// worse orders kinds by what the user must do about them: a refused
// login before a refused address before a temporary refusal.
func worse(a, b hsync.Kind) hsync.Kind {
	rank := map[hsync.Kind]int{hsync.Transient: 0, hsync.Permanent: 1, hsync.Auth: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// stream copies msg into the DATA writer, bounding each write by the
// timeout. If msg fails, the connection is dropped before the final dot:
// ending DATA would make the server accept a truncated message.
func (cl *Client) stream(w io.Writer, msg io.Reader) error {
	buf := make([]byte, chunkSize)
	for {
		n, rerr := msg.Read(buf)
		if n > 0 {
			cl.raw.SetWriteDeadline(time.Now().Add(cl.timeout))
			if _, err := w.Write(buf[:n]); err != nil {
				cl.drop(err)
				return fmt.Errorf("sending the message: %w", err)
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			cl.drop(rerr)
			return fmt.Errorf("reading the message (connection dropped before the end of DATA, nothing delivered): %w", rerr)
		}
	}
}

// abort handles an error met before DATA: a reply ends the transaction
// with RSET so the Client stays usable; anything else means the
// connection is gone.
func (cl *Client) abort(op, cmd string, err error) error {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		cl.drop(err)
		return hsync.Errorf(classify(err, transaction), op, fmt.Errorf("%s: %w", cmd, err))
	}
	cl.reset()
	return hsync.Errorf(classify(se, transaction), op, fmt.Errorf("%s: %w", cmd, replyError{se}))
}

// reset sends RSET; if that fails the connection is not trusted again.
func (cl *Client) reset() {
	if err := cl.c.Reset(); err != nil {
		cl.drop(err)
	}
}

func (cl *Client) drop(why error) {
	if cl.broken == nil {
		cl.broken = why
	}
	cl.raw.Close()
}

var errClosed = errors.New("client closed")

// Close says QUIT (waiting at most a few seconds) and closes the
// connection. It never fails: a session that cannot say goodbye is
// closed all the same.
func (cl *Client) Close() error {
	if cl.broken == nil {
		cl.c.CommandTimeout = 2 * time.Second
		cl.c.Quit()
	}
	cl.broken = errClosed
	cl.c.Close()
	return nil
}

// checkEnvelope refuses what no server can take and what would break the
// command line.
func checkEnvelope(env hsync.Envelope) error {
	if len(env.To) == 0 {
		return errors.New("no recipient")
	}
	for _, a := range append([]string{env.From}, env.To...) {
		if strings.ContainsAny(a, "\r\n<>") {
			return fmt.Errorf("invalid address %q", a)
		}
	}
	for _, a := range env.To {
		if a == "" {
			return errors.New("empty recipient address")
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		if !isASCII(s) {
			return false
		}
	}
	return true
}
