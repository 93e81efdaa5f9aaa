// Package webdav is holdover's WebDAV connector: a thin client of its own
// on net/http and encoding/xml that implements sync.FileRemote, and
// nothing else. What to upload, what a changed ETag means and how a
// conflict is settled is the files engine's business. emersion/go-webdav's
// client is not used: it has no conditional requests.
//
// Invariants:
//   - Content is streamed both ways: Get copies the answer into the
//     caller's writer, Put sends the caller's reader with a fixed
//     Content-Length; no file is ever held in memory. Multistatus answers
//     are decoded one response at a time; a listing keeps one path per
//     folder, not the tree.
//   - Every write is conditional: Put carries If-None-Match: * (create) or
//     If-Match (edit) and an unconditional Put is refused before it is
//     sent; Move sends Overwrite: F and, given an ETag, a tagged If
//     header; Delete sends If-Match when given one. A local change never
//     silently overwrites a remote one.
//   - The weak-ETag rule (see sync.FileRemote): a weak ETag is never sent
//     as a condition. Its resource is read (PROPFIND, depth 0) every
//     300 ms until the server offers the strong form of the same tag,
//     which is sent instead; a different tag is Conflict, a tag still
//     weak after 3 s Transient. Apache hands out weak ETags for a second
//     after each write, and sending one would be a false conflict.
//   - Paths are relative to the root collection (Options.URL), decoded,
//     "/"-separated. A path from the caller is escaped segment by segment
//     here; a path with an empty, "." or ".." segment is refused, never
//     sent. An href in an answer is decoded segment by segment and mapped
//     only if it lies below the root on the configured host; anything
//     else (another host, "..", a "%2F" in a name) is skipped, never
//     mapped to a path.
//   - Every error leaving this package carries a sync kind and never the
//     password (server text quoted in errors is scrubbed). Redirects are
//     not followed: the password stays with the configured host.
//
// Classification (the first matching row wins; davhttp holds the table
// shared with caldav):
//
//	what                                                  kind
//	the caller's context ended                            Transient (wraps ctx.Err())
//	no progress within Options.Timeout, reset, refused    Transient
//	TLS certificate not trusted / wrong name              Auth
//	the password source failed; 401; bare 403             Auth
//	404/410 on the entry itself                           Permanent, wraps sync.ErrFileNotFound
//	parent folder missing: 409 (404 too on PUT and        Conflict, wraps sync.ErrNoParent
//	  MKCOL; 404 or 5xx on MOVE when a Stat confirms it)
//	412: condition failed, MOVE onto an occupied name     Conflict
//	a conditioned entry gone or changed before the write  Conflict (no request is sent)
//	408, 429, 5xx but 501; 507 Insufficient Storage too   Transient (space may be freed)
//	413 and other 4xx, 501, redirects                     Permanent
//	a weak ETag still weak after the wait                 Transient
//	anything else (unparsable answer, surprise 2xx)       Transient
//
// Apache mod_dav_fs, the reference server, refuses depth infinity by
// default (a bare 403), never sends an ETag with a PUT answer, keeps a
// file's ETag across MOVE (size and mtime), answers a MOVE into a missing
// folder with 500, and checks an untagged If header against the parent
// folder as well; each is handled where the method is.
package webdav

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/holdover/holdover/connectors/internal/davhttp"
	hsync "github.com/holdover/holdover/sync"
)

// Options say how to reach and log in to a WebDAV folder.
type Options struct {
	// URL is the root collection: every RemoteFile.Path is relative to
	// it. It must not carry a password.
	URL      string
	Username string
	// Password is called when a request first needs it and again after
	// the server refuses the cached one (a rotated secret is picked up
	// without a restart). Its result is never logged nor put in an
	// error. Nil sends no credentials.
	Password func(ctx context.Context) (string, error)
	// Timeout is how long a request may go without progress (no byte
	// sent or received, no answer): a 1 GiB transfer takes as long as
	// it takes, a stalled one ends. 0 means 60 s.
	Timeout time.Duration
	// HTTPClient is used for every request (tests, TLS settings); nil
	// means a client on a clone of http.DefaultTransport that keeps
	// enough idle connections for Parallel. Its redirect policy is
	// replaced: redirects are not followed. Its Timeout, if set, would
	// bound whole transfers; Timeout above is the one meant for them.
	HTTPClient *http.Client
	// Parallel is how many folders a listing reads at a time where the
	// server refuses depth-infinity PROPFIND; 0 means 4.
	Parallel int
}

// Client is a WebDAV folder. It implements sync.FileRemote and is safe for
// concurrent use.
type Client struct {
	opts     Options
	base     *url.URL // scheme and host of every request (no path)
	rootPath string   // escaped absolute path of the root, ending in "/"
	root     []string // the root's decoded path segments
	http     *http.Client
	timeout  time.Duration
	parallel int

	// noInfinity: the server refused a depth-infinity PROPFIND, so
	// listings walk folder by folder from now on.
	noInfinity atomic.Bool

	password *davhttp.Password
}

var _ hsync.FileRemote = (*Client)(nil)

// New checks opts and returns a client. It sends nothing.
func New(opts Options) (*Client, error) {
	u, err := davhttp.ParseURL("webdav", opts.URL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		opts:     opts,
		base:     &url.URL{Scheme: strings.ToLower(u.Scheme), Host: u.Host},
		timeout:  opts.Timeout,
		parallel: opts.Parallel,
		password: &davhttp.Password{Source: opts.Password},
	}
	if c.timeout <= 0 {
		c.timeout = 60 * time.Second
	}
	if c.parallel <= 0 {
		c.parallel = 4
	}
	root, ok := splitPath(u.EscapedPath())
	if !ok {
		return nil, errors.New("webdav: the URL's path has an empty, \".\" or \"..\" segment")
	}
	c.root = root
	c.rootPath = "/"
	if len(root) > 0 {
		c.rootPath = "/" + escapeSegments(root) + "/"
	}

	if opts.HTTPClient != nil {
		copied := *opts.HTTPClient
		c.http = &copied
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		// Listing workers and transfers run side by side; each keeps
		// its connection instead of dialling anew.
		tr.MaxIdleConnsPerHost = c.parallel + 4
		c.http = &http.Client{Transport: tr}
	}
	// A redirect elsewhere must not receive the credentials, and net/http
	// would turn a redirected PROPFIND into a GET: none is followed.
	c.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, nil
}

// request is one HTTP exchange to make.
type request struct {
	method string
	path   string // escaped absolute path
	depth  string // Depth header; "" for none
	body   []byte // a small body that can be sent again
	stream io.Reader
	size   int64             // bytes of stream
	ctype  string            // Content-Type of body
	header map[string]string // extra headers (conditions)
}

// do sends req and returns the server's answer, whatever its status. The
// answer's body must be closed. A 401 after a cached password was used
// fetches the password again and retries once (the secret may have been
// rotated). A streamed body cannot be sent twice: then a changed password
// is a Transient error (the next try uses it) and an unchanged one lets
// the 401 through. Errors returned are classified.
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
		if resp.StatusCode != http.StatusUnauthorized || c.opts.Password == nil || fresh || attempt > 0 {
			return resp, nil
		}
		if req.stream == nil {
			davhttp.Drain(resp)
			continue
		}
		if next, _, err := c.password.Get(ctx, true); err == nil && next != pw {
			davhttp.Drain(resp)
			return nil, hsync.Errorf(hsync.Transient, op, errors.New("401 Unauthorized with a password that has changed since; the next try uses the new one"))
		}
		return resp, nil
	}
}

// send makes one exchange. The request's time limit is a watchdog that
// every byte sent or received resets, so it bounds stalls, not transfers.
func (c *Client) send(ctx context.Context, req request, pw string) (*http.Response, error) {
	rctx, cancel := context.WithCancel(ctx)
	wd := newWatchdog(c.timeout, cancel)
	var body io.Reader
	switch {
	case req.body != nil:
		body = bytes.NewReader(req.body)
	case req.stream != nil && req.size > 0:
		body = &progressReader{r: req.stream, wd: wd}
	}
	hreq, err := http.NewRequestWithContext(rctx, req.method, c.urlFor(req.path), body)
	if err != nil {
		wd.stop()
		return nil, err
	}
	if req.stream != nil {
		// Set by hand: net/http knows the length of its own readers only,
		// and without it a stream would go chunked (Apache refuses a
		// chunked PUT to some back ends; a size also lets the server
		// refuse an upload before it starts).
		hreq.ContentLength = req.size
		if req.size == 0 {
			hreq.Body = http.NoBody
		}
	}
	hreq.Header.Set("User-Agent", "holdover")
	if c.opts.Password != nil {
		hreq.SetBasicAuth(c.opts.Username, pw)
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
		wd.stop()
		return nil, wd.explain(err)
	}
	wd.kick()
	resp.Body = &watchedBody{ReadCloser: resp.Body, wd: wd}
	return resp, nil
}

// watchdog cancels a request that has made no progress for d.
type watchdog struct {
	d      time.Duration
	t      *time.Timer
	fired  atomic.Bool
	cancel context.CancelFunc
}

func newWatchdog(d time.Duration, cancel context.CancelFunc) *watchdog {
	w := &watchdog{d: d, cancel: cancel}
	w.t = time.AfterFunc(d, func() {
		w.fired.Store(true)
		cancel()
	})
	return w
}

func (w *watchdog) kick() { w.t.Reset(w.d) }

func (w *watchdog) stop() {
	w.t.Stop()
	w.cancel()
}

// explain turns the cancellation the watchdog caused into the deadline
// it stands for (the caller's own cancellation stays what it is).
func (w *watchdog) explain(err error) error {
	if err != nil && w.fired.Load() {
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}

type progressReader struct {
	r  io.Reader
	wd *watchdog
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.wd.kick()
	}
	return n, err
}

type watchedBody struct {
	io.ReadCloser
	wd *watchdog
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.wd.kick()
	}
	if err != nil && err != io.EOF {
		err = b.wd.explain(err)
	}
	return n, err
}

func (b *watchedBody) Close() error {
	err := b.ReadCloser.Close()
	b.wd.stop()
	return err
}

// urlFor is the absolute URL of an escaped absolute path.
func (c *Client) urlFor(path string) string {
	return c.base.Scheme + "://" + c.base.Host + path
}

// scrub removes the password from server text quoted in an error.
func (c *Client) scrub(s string) string { return c.password.Scrub(s) }

func (c *Client) timeoutText() string { return fmt.Sprintf("no progress within %v", c.timeout) }

func (c *Client) transportError(ctx context.Context, op string, err error) error {
	return davhttp.TransportError(ctx, op, err, c.timeoutText())
}

func (c *Client) readErr(ctx context.Context, op string, err error) error {
	return davhttp.ReadErr(ctx, op, err, c.timeoutText())
}

// statusErr classifies an unexpected answer to op.
func (c *Client) statusErr(op string, resp *http.Response) error {
	e := davhttp.ReadStatusError(resp, c.scrub)
	return hsync.Errorf(davhttp.KindOfStatus(e), op, e)
}

// wrapStatus reads an unexpected answer as an error of kind k wrapping
// sentinel (ErrFileNotFound, ErrNoParent).
func (c *Client) wrapStatus(k hsync.Kind, op string, sentinel error, resp *http.Response) error {
	e := davhttp.ReadStatusError(resp, c.scrub)
	return hsync.Errorf(k, op, fmt.Errorf("%w: %w", sentinel, e))
}

func (c *Client) notFound(op string, resp *http.Response) error {
	return c.wrapStatus(hsync.Permanent, op, hsync.ErrFileNotFound, resp)
}

func (c *Client) noParent(op string, resp *http.Response) error {
	return c.wrapStatus(hsync.Conflict, op, hsync.ErrNoParent, resp)
}

func isGone(code int) bool { return code == http.StatusNotFound || code == http.StatusGone }

// opName names an operation in errors: webdav put "a/b c.txt".
func opName(method, path string) string {
	return fmt.Sprintf("webdav %s %q", strings.ToLower(method), path)
}
