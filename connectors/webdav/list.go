package webdav

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/holdover/holdover/connectors/internal/davhttp"
	hsync "github.com/holdover/holdover/sync"
)

// prop holds the properties asked for; nil means absent.
type prop struct {
	ResourceType *struct {
		Collection *struct{} `xml:"DAV: collection"`
	} `xml:"DAV: resourcetype"`
	ETag     *string `xml:"DAV: getetag"`
	Length   *string `xml:"DAV: getcontentlength"`
	Modified *string `xml:"DAV: getlastmodified"`
}

type response = davhttp.Response[prop]

const xmlType = "application/xml; charset=utf-8"

var propfindBody = []byte(`<?xml version="1.0" encoding="utf-8"?>` +
	`<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getetag/>` +
	`<D:getcontentlength/><D:getlastmodified/></D:prop></D:propfind>`)

// fileOf reads one response of a listing about dir (an escaped absolute
// path ending in "/"). ok is false for an href that is skipped (see
// relPath). A member the server will not describe (a non-2xx status of
// its own) is an error: a listing with a hole would read as a deletion.
func (c *Client) fileOf(dir string, r *response) (f hsync.RemoteFile, ok bool, err error) {
	rel, ok := c.relPath(dir, r.Href())
	if !ok {
		return f, false, nil
	}
	if st := r.StatusCode(); st != 0 && (st < 200 || st > 299) {
		return f, false, fmt.Errorf("the server does not describe %s: %s", quote(rel), strings.TrimSpace(r.Status))
	}
	f.Path = rel
	for p := range r.OK() {
		if p.ResourceType != nil && p.ResourceType.Collection != nil {
			f.Dir = true
		}
		if p.ETag != nil && f.ETag == "" {
			f.ETag = davhttp.QuoteETag(strings.TrimSpace(*p.ETag))
		}
		if p.Length != nil && f.Size == 0 {
			f.Size, _ = strconv.ParseInt(strings.TrimSpace(*p.Length), 10, 64)
		}
		if p.Modified != nil && f.ModTime.IsZero() {
			f.ModTime, _ = http.ParseTime(strings.TrimSpace(*p.Modified))
		}
	}
	if f.Dir {
		f.Size = 0
	}
	return f, true, nil
}

// propfind sends a PROPFIND of the listing's properties to target and
// calls fn with every entry of the answer, as it is decoded. The answer
// is handed back unread when its status is not 207 Multi-Status.
func (c *Client) propfind(ctx context.Context, op, target, depth string, fn func(hsync.RemoteFile) error) (*http.Response, error) {
	resp, err := c.do(ctx, op, request{method: "PROPFIND", path: target, depth: depth, body: propfindBody, ctype: xmlType})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusMultiStatus {
		return resp, nil
	}
	defer resp.Body.Close()
	dir := asCollection(target)
	_, err = davhttp.ReadMultistatus(resp.Body, func(r *response) error {
		f, ok, err := c.fileOf(dir, r)
		if err != nil {
			return hsync.Errorf(hsync.Transient, op, err)
		}
		if !ok {
			return nil
		}
		return fn(f)
	})
	if err != nil {
		return nil, c.readErr(ctx, op, err)
	}
	return nil, nil
}

// Stat implements sync.FileRemote. "" is the root.
func (c *Client) Stat(ctx context.Context, p string) (hsync.RemoteFile, error) {
	target, op, err := c.op("PROPFIND", p)
	if err != nil {
		return hsync.RemoteFile{}, err
	}
	var found *hsync.RemoteFile
	resp, err := c.propfind(ctx, op, target, "0", func(f hsync.RemoteFile) error {
		if f.Path == p && found == nil {
			found = &f
		}
		return nil
	})
	switch {
	case err != nil:
		return hsync.RemoteFile{}, err
	case resp != nil && isGone(resp.StatusCode):
		return hsync.RemoteFile{}, c.notFound(op, resp)
	case resp != nil:
		return hsync.RemoteFile{}, c.statusErr(op, resp)
	case found == nil:
		return hsync.RemoteFile{}, hsync.Errorf(hsync.Transient, op, errors.New("the answer does not describe the path asked about"))
	}
	return *found, nil
}

// List implements sync.FileRemote: one depth-infinity PROPFIND where the
// server allows it, else a walk with depth 1 (see walk). A server that
// refuses depth infinity is remembered, and asked no more.
func (c *Client) List(ctx context.Context, dir string, fn func(hsync.RemoteFile) error) error {
	if !c.noInfinity.Load() {
		done, err := c.listInfinity(ctx, dir, fn)
		if done || err != nil {
			return err
		}
	}
	return c.walk(ctx, dir, fn)
}

// listInfinity tries the depth-infinity PROPFIND; done is false when the
// server refused it and nothing was reported.
func (c *Client) listInfinity(ctx context.Context, dir string, fn func(hsync.RemoteFile) error) (done bool, err error) {
	target, op, err := c.op("PROPFIND", dir)
	if err != nil {
		return true, err
	}
	op += " depth infinity"
	o := newOrderer(dir, fn)
	resp, err := c.propfind(ctx, op, asCollection(target), "infinity", o.add)
	if err != nil {
		return true, err
	}
	if resp == nil {
		return true, o.finish()
	}
	code := resp.StatusCode
	switch {
	case code == http.StatusUnauthorized:
		return true, c.statusErr(op, resp)
	case isGone(code):
		return true, c.notFound(op, resp)
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		// Busy, not a refusal: the walk asks again, one folder at a time.
	case code >= 400 && code < 500 || code == http.StatusNotImplemented:
		// RFC 4918 §9.1 has a server refuse with 403 and a
		// propfind-finite-depth element; Apache sends a bare 403, others
		// 400 or 501. A refusal is for good.
		c.noInfinity.Store(true)
	}
	// Anything else (a 5xx: a tree too large for the server to list at
	// once, or an outage) is not remembered; the walk finds out which.
	davhttp.Drain(resp)
	return false, nil
}

// orderer hands entries of a depth-infinity answer to fn, each folder
// before what it holds. Servers list parents first, but nothing in RFC
// 4918 says they must: an entry whose folder was not reported yet waits
// for it. Only folder paths are remembered, so memory grows with the
// number of folders and of entries that arrive early, not with the tree.
type orderer struct {
	fn      func(hsync.RemoteFile) error
	dir     string          // the listed folder: only what lies below it is reported
	seen    map[string]bool // folders reported; "" is the root
	waiting map[string][]hsync.RemoteFile
}

func newOrderer(dir string, fn func(hsync.RemoteFile) error) *orderer {
	return &orderer{fn: fn, dir: dir, seen: map[string]bool{dir: true}, waiting: map[string][]hsync.RemoteFile{}}
}

func (o *orderer) add(f hsync.RemoteFile) error {
	if f.Path == o.dir || (o.dir != "" && !strings.HasPrefix(f.Path, o.dir+"/")) {
		return nil
	}
	if parent := parentOf(f.Path); !o.seen[parent] {
		o.waiting[parent] = append(o.waiting[parent], f)
		return nil
	}
	return o.emit(f)
}

func (o *orderer) emit(f hsync.RemoteFile) error {
	if err := o.fn(f); err != nil {
		return err
	}
	if !f.Dir || o.seen[f.Path] {
		return nil
	}
	o.seen[f.Path] = true
	kids := o.waiting[f.Path]
	delete(o.waiting, f.Path)
	for _, k := range kids {
		if err := o.emit(k); err != nil {
			return err
		}
	}
	return nil
}

// finish reports entries whose folder never appeared, in path order so
// that such folders still come before their contents.
func (o *orderer) finish() error {
	for _, parent := range slices.Sorted(maps.Keys(o.waiting)) {
		kids, ok := o.waiting[parent]
		if !ok {
			continue // reported meanwhile, under a folder among them
		}
		delete(o.waiting, parent)
		for _, k := range kids {
			if err := o.emit(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// walk lists the tree folder by folder with depth-1 PROPFINDs, up to
// c.parallel at a time. A folder is reported (by its parent's listing)
// before it is queued, so its contents always come after it. fn is
// called under a lock, and never again once anything failed: the first
// error (fn's own, unchanged, or a request's) stops every worker and is
// the one returned.
func (c *Client) walk(ctx context.Context, top string, fn func(hsync.RemoteFile) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		cond  = sync.NewCond(&mu)
		queue = []string{top}
		busy  int
		first error
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
			cancel()
		}
		mu.Unlock()
		cond.Broadcast()
	}
	var fnMu sync.Mutex
	stopped := false
	report := func(f hsync.RemoteFile) error {
		fnMu.Lock()
		defer fnMu.Unlock()
		if stopped {
			return errWalkStopped
		}
		err := fn(f)
		if err != nil {
			fail(err)
			stopped = true
		}
		return err
	}
	worker := func() {
		for {
			mu.Lock()
			for len(queue) == 0 && busy > 0 && first == nil {
				cond.Wait()
			}
			if first != nil || len(queue) == 0 {
				mu.Unlock()
				cond.Broadcast()
				return
			}
			dir := queue[len(queue)-1]
			queue = queue[:len(queue)-1]
			busy++
			mu.Unlock()

			subdirs, err := c.listDir(ctx, dir, dir == top, report)
			if err != nil {
				fail(err)
			}
			mu.Lock()
			busy--
			queue = append(queue, subdirs...)
			mu.Unlock()
			cond.Broadcast()
		}
	}
	var wg sync.WaitGroup
	for range c.parallel {
		wg.Go(worker)
	}
	wg.Wait()
	return first
}

// errWalkStopped is what fn's stand-in returns to the other workers once
// the walk failed; it is never the walk's result.
var errWalkStopped = errors.New("the listing stopped")

// listDir reports the members of dir (depth 1) and returns its folders.
// An entry that is not a direct member of dir is skipped: a walk must not
// report anything before its folder.
func (c *Client) listDir(ctx context.Context, dir string, top bool, report func(hsync.RemoteFile) error) ([]string, error) {
	target, op, err := c.op("PROPFIND", dir)
	if err != nil {
		return nil, err
	}
	target = asCollection(target)
	var subdirs []string
	resp, err := c.propfind(ctx, op, target, "1", func(f hsync.RemoteFile) error {
		if f.Path == dir || parentOf(f.Path) != dir {
			return nil
		}
		if f.Dir {
			subdirs = append(subdirs, f.Path)
		}
		return report(f)
	})
	switch {
	case err != nil:
		return nil, err
	case resp != nil && top && isGone(resp.StatusCode):
		return nil, c.notFound(op, resp) // the folder asked for is not there
	case resp != nil && dir != "" && isGone(resp.StatusCode):
		// Removed between its parent's listing and its own: a race with
		// another client, not a hole the engine may read as a deletion.
		e := davhttp.ReadStatusError(resp, c.scrub)
		return nil, hsync.Errorf(hsync.Transient, op, fmt.Errorf("the folder went away during the listing: %w", e))
	case resp != nil && isGone(resp.StatusCode):
		return nil, c.notFound(op, resp)
	case resp != nil:
		return nil, c.statusErr(op, resp)
	}
	return subdirs, nil
}
