package caldav

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	hsync "github.com/holdover/holdover/sync"
)

// statusError is an answer with a status the request did not expect.
type statusError struct {
	Code      int
	Status    string   // "412 Precondition Failed"
	Condition xml.Name // the failed precondition of a DAV:error body, if any
	Text      string   // a short, one-line, scrubbed excerpt of a plain body
	Location  string   // of a redirect
}

func (e *statusError) Error() string {
	msg := e.Status
	switch {
	case e.Condition.Local != "":
		msg += " (precondition " + e.Condition.Local + ")"
	case e.Location != "":
		msg += " (to " + e.Location + ")"
	case e.Text != "":
		msg += ": " + e.Text
	}
	return msg
}

// readStatusError reads what is useful of an unexpected answer and closes
// it.
func (c *Client) readStatusError(resp *http.Response) *statusError {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &statusError{Code: resp.StatusCode, Status: resp.Status}
	if e.Status == "" {
		e.Status = fmt.Sprint(resp.StatusCode)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		e.Location = resp.Header.Get("Location")
	}
	if strings.Contains(resp.Header.Get("Content-Type"), "xml") {
		e.Condition = precondition(body)
	}
	if e.Condition.Local == "" && !strings.Contains(resp.Header.Get("Content-Type"), "html") {
		// Some servers (go-webdav) start their text with the status line.
		text := strings.TrimPrefix(oneLine(string(body), 200), e.Status)
		e.Text = c.scrub(strings.TrimLeft(text, ": "))
	}
	return e
}

// scrub removes the password from server text quoted in an error: no
// server should echo it, but an error must never carry it.
func (c *Client) scrub(s string) string {
	if pw := c.secret(); pw != "" {
		s = strings.ReplaceAll(s, pw, "[redacted]")
	}
	return s
}

// oneLine collapses s to one line of at most n bytes (cut at a rune).
func oneLine(s string, n int) string {
	s = strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// kindOfStatus classifies an HTTP status (see the package doc's table).
func kindOfStatus(e *statusError) hsync.Kind {
	code := e.Code
	switch {
	case code == http.StatusUnauthorized:
		return hsync.Auth
	case code == http.StatusForbidden && e.Condition.Local == "":
		// A 403 with a precondition element refuses this request (a
		// component the calendar does not take, …); a bare one refuses
		// the account.
		return hsync.Auth
	case code == http.StatusPreconditionFailed, code == http.StatusConflict:
		return hsync.Conflict
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return hsync.Transient
	case code == http.StatusNotImplemented:
		return hsync.Permanent
	case code >= 500:
		return hsync.Transient
	case code >= 300:
		return hsync.Permanent
	}
	return hsync.Transient
}

// statusErr classifies an unexpected answer to op.
func (c *Client) statusErr(op string, resp *http.Response) error {
	e := c.readStatusError(resp)
	return hsync.Errorf(kindOfStatus(e), op, e)
}

// collectionErr is statusErr for a request on a collection: 404 and 410
// mean the calendar is gone.
func (c *Client) collectionErr(op string, resp *http.Response) error {
	e := c.readStatusError(resp)
	if e.Code == http.StatusNotFound || e.Code == http.StatusGone {
		return hsync.Errorf(hsync.Permanent, op, fmt.Errorf("%w: %w", hsync.ErrCalendarGone, e))
	}
	return hsync.Errorf(kindOfStatus(e), op, e)
}

// transportError classifies a failure to get an answer at all. The
// caller's context wins when it has ended; the request's own timeout is
// told apart from it.
func (c *Client) transportError(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return hsync.Errorf(hsync.Transient, op, ctxErr)
	}
	// net/http's *url.Error repeats the method and URL that op names.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var certErr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	if errors.As(err, &certErr) || errors.As(err, &hostErr) || errors.As(err, &authErr) {
		return hsync.Errorf(hsync.Auth, op, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return hsync.Errorf(hsync.Transient, op, fmt.Errorf("no answer within %v: %w", c.timeout, err))
	}
	return hsync.Errorf(hsync.Transient, op, err)
}

// readErr classifies a failure while reading an answer's body: the
// caller's callback error passes unchanged, the rest is transport
// trouble or a surprise (both Transient).
func (c *Client) readErr(ctx context.Context, op string, err error) error {
	var cb callbackError
	if errors.As(err, &cb) {
		return cb.err
	}
	return c.transportError(ctx, op, err)
}
