// Package caldav is holdover's CalDAV connector: a thin client of its own
// on net/http and encoding/xml that implements sync.CalendarRemote, and
// nothing else. When to sync, what a changed ETag means and how a conflict
// is settled is the calendar engine's business (package sync/calsync).
//
// It speaks what the engine needs: discovery (RFC 6764 well-known URI,
// current-user-principal, calendar-home-set), sync-collection (RFC 6578),
// getctag, PROPFIND of ETags, calendar-multiget, GET, and conditional PUT
// and DELETE. github.com/emersion/go-webdav's client is not used: it has
// neither conditional requests nor sync-collection, and it reads whole
// multistatus answers into memory.
//
// Invariants:
//   - Every write is conditional: PUT carries If-None-Match: * (create) or
//     If-Match (edit), and an unconditional PUT is refused before it is
//     sent, so a local change can never silently overwrite a remote one.
//   - Hrefs have one form: an absolute path, each segment percent-decoded
//     once and encoded again with Go's path-segment escaping, dot segments
//     removed (see href.go). Every href leaving this package is in that
//     form, so the engine compares strings; hrefs coming in may be escaped
//     or raw. An href naming another host is refused, and redirects are
//     followed only on the same host, so the password never leaves it.
//   - ETags are handed on as the server sent them, quoted: a getetag a
//     server sent without quotes gets them, so the header and the PROPFIND
//     forms of one version compare equal.
//   - Multistatus answers are decoded one response at a time: memory stays
//     flat however large a calendar or a multiget batch is.
//   - Every error leaving this package carries a sync kind; the password
//     never appears in one (server text quoted in errors is scrubbed).
//
// Classification (the first matching row wins):
//
//	what                                                     kind
//	the caller's context ended                               Transient (wraps ctx.Err())
//	no answer within Config.Timeout, network error, reset    Transient
//	TLS certificate not trusted / wrong name                 Auth (the user must act)
//	the password source failed                               Auth
//	401; 403 without a precondition element                  Auth
//	403/409 valid-sync-token on sync-collection              Permanent, wraps sync.ErrInvalidSyncToken
//	404/410 on a collection (or PUT into a missing one)      Permanent, wraps sync.ErrCalendarGone
//	412; 409 (e.g. CalDAV no-uid-conflict)                   Conflict
//	408, 429, 5xx (507 included) except 501                  Transient
//	501 Not Implemented                                      Permanent (the server says it never will)
//	other 4xx (403 with a precondition element included)     Permanent
//	an unexpected redirect                                   Permanent (the configuration must change)
//	anything else (unparsable answer, surprise 2xx)          Transient
//
// Servers without sync-collection (go-webdav's, some old ones) are told
// apart by Calendars: their RemoteCalendar.SyncToken is "", and the
// engine must then use CTag and ETags instead of Changes; Changes on such
// a server fails Permanent. DELETE of an object that is already gone
// (404/410) succeeds: the server holds what the caller asked for.
package caldav

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/holdover/holdover/connectors/internal/davhttp"
	hsync "github.com/holdover/holdover/sync"
)

// Config says how to reach and log in to a CalDAV account.
type Config struct {
	// URL is where discovery starts: the server root, a principal, a
	// calendar home or a calendar itself. It must not carry a password.
	URL      string
	Username string
	// Password is called when a request first needs it and again after
	// the server refuses the cached one (a rotated secret is picked up
	// without a restart). Its result is never logged nor put in an
	// error. Nil sends no credentials.
	Password func(ctx context.Context) (string, error)
	// Timeout bounds each request, its answer read whole included; 0
	// means 60 s.
	Timeout time.Duration
	// HTTPClient is used for every request (tests, TLS settings); nil
	// means a client on a clone of http.DefaultTransport. Its redirect
	// policy is replaced: redirects are followed by hand, same host only.
	HTTPClient *http.Client
}

// Client is a CalDAV account. It implements sync.CalendarRemote. It holds
// no connection state of its own (net/http pools connections), but like
// the interface says, it is meant for one goroutine at a time.
type Client struct {
	cfg     Config
	base    *url.URL // scheme and host of every request (no path)
	start   string   // canonical path of the configured URL: discovery starts there
	http    *http.Client
	timeout time.Duration

	password *davhttp.Password
	mu       sync.Mutex
	home     string // calendar home found by the last discovery ("" before)
	// noCTag: every calendar had a sync-token at the last listing (or the
	// engine says so), so the listing leaves out getctag.
	noCTag bool
}

var _ hsync.CalendarRemote = (*Client)(nil)

// New checks cfg and returns a client. It sends nothing: the first request
// is made by the first method called.
func New(cfg Config) (*Client, error) {
	u, err := davhttp.ParseURL("caldav", cfg.URL)
	if err != nil {
		return nil, err
	}
	startPath := u.EscapedPath()
	if startPath == "" {
		startPath = "/"
	}
	base := &url.URL{Scheme: strings.ToLower(u.Scheme), Host: u.Host}

	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	if cfg.HTTPClient != nil {
		copied := *cfg.HTTPClient
		hc = &copied
	}
	// Redirects are followed by hand during discovery, same host only:
	// net/http would turn a redirected PROPFIND into a GET, and a
	// redirect elsewhere must not receive the credentials.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	c := &Client{cfg: cfg, base: base, http: hc, timeout: timeout, password: &davhttp.Password{Source: cfg.Password}}
	start, err := c.resolve("/", startPath)
	if err != nil {
		return nil, fmt.Errorf("caldav: bad URL path: %w", err)
	}
	c.start = start
	return c, nil
}

// request is one HTTP exchange to make.
type request struct {
	method string
	path   string // canonical escaped absolute path
	depth  string // Depth header; "" for none
	body   []byte
	ctype  string            // Content-Type of body
	header map[string]string // extra headers (conditions)
}

// do sends req and returns the server's answer, whatever its status. The
// answer's body must be closed; closing it also ends the request's
// timeout. A 401 after a cached password was used fetches the password
// again and retries once (the secret may have been rotated). Errors
// returned are classified.
func (c *Client) do(ctx context.Context, op string, req request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		pw, fresh, err := c.password.Get(ctx, attempt > 0)
		if err != nil {
			return nil, hsync.Errorf(hsync.Auth, op, fmt.Errorf("password source: %w", err))
		}
		resp, err := c.send(ctx, req, pw)
		if err != nil {
			return nil, c.transportError(ctx, op, err)
		}
		if resp.StatusCode == http.StatusUnauthorized && c.cfg.Password != nil && !fresh && attempt == 0 {
			drain(resp)
			continue
		}
		return resp, nil
	}
}

func (c *Client) send(ctx context.Context, req request, pw string) (*http.Response, error) {
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hreq, err := http.NewRequestWithContext(rctx, req.method, c.urlFor(req.path), body)
	if err != nil {
		cancel()
		return nil, err
	}
	hreq.Header.Set("User-Agent", "holdover")
	if c.cfg.Password != nil {
		hreq.SetBasicAuth(c.cfg.Username, pw)
	}
	if req.depth != "" {
		hreq.Header.Set("Depth", req.depth)
	}
	if req.ctype != "" {
		hreq.Header.Set("Content-Type", req.ctype)
	}
	for k, v := range req.header {
		hreq.Header.Set(k, v)
	}
	davhttp.MarkReplayable(hreq)
	resp, err := c.http.Do(hreq)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// urlFor is the absolute URL of a canonical path.
func (c *Client) urlFor(path string) string {
	return c.base.Scheme + "://" + c.base.Host + path
}

// cancelOnClose ends a request's timeout when its answer has been read.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func drain(resp *http.Response) { davhttp.Drain(resp) }

// opName names an operation in errors: "caldav propfind /a/b/".
func opName(method, path string) string {
	return "caldav " + strings.ToLower(method) + " " + path
}
