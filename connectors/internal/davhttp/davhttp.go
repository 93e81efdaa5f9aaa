// Package davhttp is the HTTP plumbing the DAV connectors (caldav, webdav)
// share, and nothing else: how an answer with an unexpected status, or no
// answer at all, becomes an error of a sync kind, and how a multistatus
// body is read one response at a time. Which request to send and what an
// answer means for the caller stays in each connector.
//
// Invariants:
//   - Classification is one table (KindOfStatus, TransportError), so both
//     connectors treat the same failure the same way: 401 and a bare 403
//     are Auth, 412 and 409 Conflict, 408, 429 and 5xx but 501 Transient,
//     other 4xx and 3xx Permanent; no answer is Transient, an untrusted
//     TLS certificate is Auth, and the caller's ended context wins.
//   - Server text quoted in an error is one short line, scrubbed by the
//     caller's scrub function (the password never appears in an error).
//   - Multistatus answers are decoded one DAV:response at a time: memory
//     stays flat however many resources an answer describes.
//
// It lives under connectors/ rather than internal/ because it classifies
// into the kinds of package sync, which internal/... may not import.
package davhttp

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
	"sync"
	"unicode"

	hsync "github.com/holdover/holdover/sync"
)

// ParseURL checks the endpoint URL of a connector (name prefixes its
// errors): http or https, a host, and no password in it (the password
// comes from its own source; a URL gets logged). Its errors never quote
// the URL. The user part is dropped.
func ParseURL(name, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse quotes the whole URL in its error; a URL may hold a
		// password, so only the reason is kept.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s: bad URL: %w", name, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%s: URL scheme %q: want http or https", name, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%s: URL has no host", name)
	}
	if _, hasPW := u.User.Password(); hasPW {
		return nil, fmt.Errorf("%s: URL carries a password; give it through the password source instead", name)
	}
	u.User = nil
	return u, nil
}

// Password is a connector's password, fetched from its source when a
// request first needs it and again when the server refuses the cached
// one (a rotated secret is picked up without a restart). It is never
// logged nor put in an error: Scrub removes it from server text.
type Password struct {
	Source func(context.Context) (string, error) // nil: no credentials are sent

	mu   sync.Mutex
	pw   string
	have bool
}

// Get returns the cached password, or fetches it when there is none or
// refetch is set; fresh reports whether it was just fetched.
func (p *Password) Get(ctx context.Context, refetch bool) (pw string, fresh bool, err error) {
	if p.Source == nil {
		return "", true, nil
	}
	p.mu.Lock()
	if p.have && !refetch {
		pw := p.pw
		p.mu.Unlock()
		return pw, false, nil
	}
	p.mu.Unlock()
	pw, err = p.Source(ctx)
	if err != nil {
		return "", true, err
	}
	p.mu.Lock()
	p.pw, p.have = pw, true
	p.mu.Unlock()
	return pw, true, nil
}

// Scrub removes the password in use from server text quoted in an error.
func (p *Password) Scrub(s string) string {
	p.mu.Lock()
	pw := p.pw
	p.mu.Unlock()
	return Scrub(s, pw)
}

// StatusError is an answer with a status the request did not expect.
type StatusError struct {
	Code      int
	Status    string   // "412 Precondition Failed"
	Condition xml.Name // the failed precondition of a DAV:error body, if any
	Text      string   // a short, one-line, scrubbed excerpt of a plain body
	Location  string   // of a redirect
}

func (e *StatusError) Error() string {
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

// ReadStatusError reads what is useful of an unexpected answer and closes
// it. scrub removes secrets from server text kept in the error.
func ReadStatusError(resp *http.Response, scrub func(string) string) *StatusError {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &StatusError{Code: resp.StatusCode, Status: resp.Status}
	if e.Status == "" {
		e.Status = fmt.Sprint(resp.StatusCode)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		e.Location = resp.Header.Get("Location")
	}
	ctype := resp.Header.Get("Content-Type")
	if strings.Contains(ctype, "xml") {
		e.Condition = Precondition(body)
	}
	if e.Condition.Local == "" && !strings.Contains(ctype, "html") {
		// Some servers (go-webdav) start their text with the status line.
		text := strings.TrimPrefix(OneLine(string(body), 200), e.Status)
		e.Text = scrub(strings.TrimLeft(text, ": "))
	}
	return e
}

// Scrub returns s with every occurrence of secret replaced (nothing is
// replaced when secret is "").
func Scrub(s, secret string) string {
	if secret != "" {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}

// OneLine collapses s to one line of at most n bytes (cut at a rune).
func OneLine(s string, n int) string {
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

// KindOfStatus classifies an HTTP status (see the package doc).
func KindOfStatus(e *StatusError) hsync.Kind {
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

// TransportError classifies a failure to get (or finish reading) an
// answer. The caller's context wins when it has ended. An error that is
// context.DeadlineExceeded is the request's own time limit, which
// timeout describes ("no answer within 1m0s").
func TransportError(ctx context.Context, op string, err error, timeout string) error {
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
		return hsync.Errorf(hsync.Transient, op, fmt.Errorf("%s: %w", timeout, err))
	}
	return hsync.Errorf(hsync.Transient, op, err)
}

// ReadErr classifies an error of ReadMultistatus: the callback's error
// passes unchanged, the rest is transport trouble or a surprise (both
// Transient, through TransportError).
func ReadErr(ctx context.Context, op string, err error, timeout string) error {
	if cb := CallbackErr(err); cb != nil {
		return cb
	}
	return TransportError(ctx, op, err, timeout)
}

// Drain reads a little of an unwanted answer, so the connection can be
// reused, and closes it.
func Drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// QuoteETag quotes a bare ETag the way HTTP headers carry it: some
// servers send the getetag property without quotes, and the header and
// the property of one version must compare equal.
func QuoteETag(e string) string {
	if e == "" || strings.HasPrefix(e, `"`) || strings.HasPrefix(e, `W/"`) {
		return e
	}
	return `"` + e + `"`
}

// MarkReplayable lets net/http send a read-only DAV request (PROPFIND,
// REPORT) again on a new connection when the kept-alive one it picked
// turns out dead before any answer: typically the first request after an
// outage, on a connection the network or a proxy closed meanwhile.
// net/http retries so by itself for GET only; a nil Idempotency-Key
// header is its documented way to say "idempotent" without sending it.
// Writes are never marked: a conditional PUT that reached the server
// must not be sent twice behind the caller's back.
func MarkReplayable(req *http.Request) {
	switch req.Method {
	case "PROPFIND", "REPORT":
		req.Header["Idempotency-Key"] = nil
	}
}
