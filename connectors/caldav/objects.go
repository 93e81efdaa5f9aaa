package caldav

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"

	hsync "github.com/holdover/holdover/sync"
)

// multigetBatch is how many hrefs one calendar-multiget asks for: large
// enough that round trips do not dominate, small enough that one answer
// stays a few megabytes for ordinary events.
var multigetBatch = 1000 // a variable only so a test can make batches small

var (
	ctagBody  = propfindBody("D:resourcetype", "CS:getctag", "D:sync-token")
	etagsBody = propfindBody("D:resourcetype", "D:getetag")
	etagBody  = propfindBody("D:getetag")
)

// Changes implements sync.CalendarRemote: one sync-collection REPORT
// (RFC 6578, sync-level 1). Members reported with a 404 (or 410) status
// were removed; the others changed. A 507 on the collection itself means
// the server cut the list short (Truncated: ask again with SyncToken).
func (c *Client) Changes(ctx context.Context, calendar, token string) (hsync.CalChanges, error) {
	cal, op, err := c.collectionOp("REPORT", calendar)
	if err != nil {
		return hsync.CalChanges{}, err
	}
	op += " sync-collection"
	resp, err := c.do(ctx, op, request{method: "REPORT", path: cal, depth: "0", body: syncCollectionBody(token), ctype: xmlType})
	if err != nil {
		return hsync.CalChanges{}, err
	}
	if resp.StatusCode != http.StatusMultiStatus {
		return hsync.CalChanges{}, c.syncCollectionErr(op, resp)
	}
	defer resp.Body.Close()
	var ch hsync.CalChanges
	next, err := readMultistatus(resp.Body, func(r *response) error {
		h, err := c.resolve(cal, r.Href())
		if err != nil {
			return hsync.Errorf(hsync.Permanent, op, err)
		}
		st := r.StatusCode()
		switch {
		case sameCollection(h, cal):
			ch.Truncated = ch.Truncated || st == http.StatusInsufficientStorage
		case st == http.StatusNotFound || st == http.StatusGone:
			ch.Removed = append(ch.Removed, h)
		case st != 0 && (st < 200 || st > 299):
			// A member the server will not describe (403…): neither
			// changed nor removed as far as anyone can tell.
		default:
			p := props(r)
			if !p.isCollection() {
				ch.Changed = append(ch.Changed, hsync.ObjectRef{Href: h, ETag: etag(p.ETag)})
			}
		}
		return nil
	})
	if err != nil {
		return hsync.CalChanges{}, c.readErr(ctx, op, err)
	}
	if next == "" {
		return hsync.CalChanges{}, hsync.Errorf(hsync.Transient, op, errors.New("the answer carries no sync-token"))
	}
	ch.SyncToken = next
	return ch, nil
}

// syncCollectionErr classifies a refused sync-collection. RFC 6578 §3.2
// names the valid-sync-token precondition but not the status: Radicale
// and SabreDAV send 403, others 409 (or 400); the element decides.
func (c *Client) syncCollectionErr(op string, resp *http.Response) error {
	e := c.readStatusError(resp)
	switch {
	case e.Condition == xml.Name{Space: nsDAV, Local: "valid-sync-token"}:
		return hsync.Errorf(hsync.Permanent, op, fmt.Errorf("%w: %w", hsync.ErrInvalidSyncToken, e))
	case e.Code == http.StatusNotFound || e.Code == http.StatusGone:
		return hsync.Errorf(hsync.Permanent, op, fmt.Errorf("%w: %w", hsync.ErrCalendarGone, e))
	}
	return hsync.Errorf(kindOfStatus(e), op, e)
}

// CTag implements sync.CalendarRemote: one PROPFIND, depth 0.
func (c *Client) CTag(ctx context.Context, calendar string) (ctag, syncToken string, err error) {
	cal, op, err := c.collectionOp("PROPFIND", calendar)
	if err != nil {
		return "", "", err
	}
	resp, err := c.do(ctx, op, request{method: "PROPFIND", path: cal, depth: "0", body: ctagBody, ctype: xmlType})
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode != http.StatusMultiStatus {
		return "", "", c.collectionErr(op, resp)
	}
	r, err := c.readSelf(ctx, op, resp, cal)
	if err != nil {
		return "", "", err
	}
	p := props(r)
	return str(p.CTag), str(p.SyncToken), nil
}

// ETags implements sync.CalendarRemote: one PROPFIND, depth 1, read as it
// streams. The collection itself and sub-collections are left out.
func (c *Client) ETags(ctx context.Context, calendar string) ([]hsync.ObjectRef, error) {
	cal, op, err := c.collectionOp("PROPFIND", calendar)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, op, request{method: "PROPFIND", path: cal, depth: "1", body: etagsBody, ctype: xmlType})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusMultiStatus {
		return nil, c.collectionErr(op, resp)
	}
	defer resp.Body.Close()
	var refs []hsync.ObjectRef
	_, err = readMultistatus(resp.Body, func(r *response) error {
		h, err := c.resolve(cal, r.Href())
		if err != nil {
			return hsync.Errorf(hsync.Permanent, op, err)
		}
		if st := r.StatusCode(); st != 0 && (st < 200 || st > 299) {
			return nil
		}
		p := props(r)
		if sameCollection(h, cal) || p.isCollection() {
			return nil
		}
		refs = append(refs, hsync.ObjectRef{Href: h, ETag: etag(p.ETag)})
		return nil
	})
	if err != nil {
		return nil, c.readErr(ctx, op, err)
	}
	return refs, nil
}

// Multiget implements sync.CalendarRemote: calendar-multiget REPORTs of
// multigetBatch hrefs each, every answer decoded and handed to fn one
// object at a time. Hrefs the server answers 404 (or 410) for, or
// answers without calendar-data, are skipped; so are hrefs it was not
// asked for. An error from fn stops everything and is returned as is.
func (c *Client) Multiget(ctx context.Context, calendar string, hrefs []string, fn func(hsync.CalObject) error) error {
	cal, op, err := c.collectionOp("REPORT", calendar)
	if err != nil {
		return err
	}
	op += " calendar-multiget"
	want := make([]string, 0, len(hrefs))
	seen := make(map[string]bool, len(hrefs))
	for _, h := range hrefs {
		p, err := c.resolve("/", h)
		if err != nil {
			return hsync.Errorf(hsync.Permanent, op, err)
		}
		if !seen[p] {
			seen[p] = true
			want = append(want, p)
		}
	}
	for len(want) > 0 {
		n := min(multigetBatch, len(want))
		if err := c.multigetBatch(ctx, op, cal, want[:n], fn); err != nil {
			return err
		}
		want = want[n:]
	}
	return nil
}

func (c *Client) multigetBatch(ctx context.Context, op, cal string, batch []string, fn func(hsync.CalObject) error) error {
	asked := make(map[string]bool, len(batch))
	for _, h := range batch {
		asked[h] = true
	}
	// No Depth header: RFC 4791 §7.9 has servers ignore it and clients
	// not send it.
	resp, err := c.do(ctx, op, request{method: "REPORT", path: cal, body: multigetBody(batch), ctype: xmlType})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusMultiStatus {
		return c.collectionErr(op, resp)
	}
	defer resp.Body.Close()
	_, err = readMultistatus(resp.Body, func(r *response) error {
		h, err := c.resolve(cal, r.Href())
		if err != nil {
			return hsync.Errorf(hsync.Permanent, op, err)
		}
		if st := r.StatusCode(); !asked[h] || (st != 0 && (st < 200 || st > 299)) {
			return nil
		}
		delete(asked, h) // a second answer for one href is ignored
		p := props(r)
		if p.CalendarData == nil {
			return nil
		}
		return fn(hsync.CalObject{Href: h, ETag: etag(p.ETag), Data: p.CalendarData.Data})
	})
	if err != nil {
		return c.readErr(ctx, op, err)
	}
	return nil
}

// Get implements sync.CalendarRemote.
func (c *Client) Get(ctx context.Context, href string) (hsync.CalObject, error) {
	p, op, err := c.objectOp("GET", href)
	if err != nil {
		return hsync.CalObject{}, err
	}
	resp, err := c.do(ctx, op, request{method: "GET", path: p})
	if err != nil {
		return hsync.CalObject{}, err
	}
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
		e := c.readStatusError(resp)
		return hsync.CalObject{}, hsync.Errorf(hsync.Permanent, op, fmt.Errorf("%w: %w", hsync.ErrObjectNotFound, e))
	}
	if resp.StatusCode != http.StatusOK {
		return hsync.CalObject{}, c.statusErr(op, resp)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return hsync.CalObject{}, c.transportError(ctx, op, err)
	}
	return hsync.CalObject{Href: p, ETag: quoteETag(strings.TrimSpace(resp.Header.Get("ETag"))), Data: data}, nil
}

// Put implements sync.CalendarRemote. The PUT is the commit point: once
// the server took it, Put does not fail. When the answer names no ETag
// (RFC 4791 §5.3.4 forbids one when the server altered the data), a
// PROPFIND reads it; if that fails too, the ETag is "" and the engine
// learns it at the next sync.
func (c *Client) Put(ctx context.Context, href string, data []byte, cond hsync.PutCondition) (string, error) {
	p, op, err := c.objectOp("PUT", href)
	if err != nil {
		return "", err
	}
	hdr := map[string]string{}
	switch {
	case cond.Create && cond.IfMatch == "":
		hdr["If-None-Match"] = "*"
	case !cond.Create && cond.IfMatch != "":
		hdr["If-Match"] = cond.IfMatch
	default:
		// Never an unconditional PUT: it could overwrite a change made
		// elsewhere without anyone knowing (the first promise).
		return "", hsync.Errorf(hsync.Permanent, op, errors.New("refusing a PUT without exactly one precondition (Create or IfMatch)"))
	}
	resp, err := c.do(ctx, op, request{method: "PUT", path: p, body: data, ctype: "text/calendar; charset=utf-8", header: hdr})
	if err != nil {
		return "", err
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated, http.StatusNoContent:
	default:
		return "", c.putErr(ctx, op, p, resp)
	}
	tag := quoteETag(strings.TrimSpace(resp.Header.Get("ETag")))
	drain(resp)
	if tag != "" {
		return tag, nil
	}
	return c.readETag(ctx, p), nil
}

// putErr classifies a refused PUT. WebDAV answers a PUT into a missing
// collection with 409 (RFC 4918 §9.7.1; Radicale does) or 404, which would
// read as a conflict or a refusal; a PROPFIND of the calendar tells
// whether it is gone. A 409 with a precondition element (CalDAV
// no-uid-conflict) is a real conflict and needs no look.
func (c *Client) putErr(ctx context.Context, op, p string, resp *http.Response) error {
	e := c.readStatusError(resp)
	if (e.Code == http.StatusConflict || e.Code == http.StatusNotFound) && e.Condition.Local == "" {
		if c.collectionGone(ctx, path.Dir(p)+"/") {
			return hsync.Errorf(hsync.Permanent, op, fmt.Errorf("%w: %w", hsync.ErrCalendarGone, e))
		}
	}
	return hsync.Errorf(kindOfStatus(e), op, e)
}

// collectionGone reports whether a PROPFIND of the collection answers 404
// or 410 (any other outcome: not known to be gone).
func (c *Client) collectionGone(ctx context.Context, coll string) bool {
	resp, err := c.do(ctx, opName("PROPFIND", coll), request{method: "PROPFIND", path: coll, depth: "0", body: propfindBody("D:resourcetype"), ctype: xmlType})
	if err != nil {
		return false
	}
	drain(resp)
	return resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone
}

// readETag reads an object's ETag with a depth-0 PROPFIND; "" on any
// failure.
func (c *Client) readETag(ctx context.Context, p string) string {
	op := opName("PROPFIND", p)
	resp, err := c.do(ctx, op, request{method: "PROPFIND", path: p, depth: "0", body: etagBody, ctype: xmlType})
	if err != nil {
		return ""
	}
	if resp.StatusCode != http.StatusMultiStatus {
		drain(resp)
		return ""
	}
	r, err := c.readSelf(ctx, op, resp, p)
	if err != nil {
		return ""
	}
	return etag(props(r).ETag)
}

// Delete implements sync.CalendarRemote. An object already gone (404,
// 410) counts as deleted.
func (c *Client) Delete(ctx context.Context, href, ifMatch string) error {
	p, op, err := c.objectOp("DELETE", href)
	if err != nil {
		return err
	}
	var hdr map[string]string
	if ifMatch != "" {
		hdr = map[string]string{"If-Match": ifMatch}
	}
	resp, err := c.do(ctx, op, request{method: "DELETE", path: p, header: hdr})
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusMultiStatus:
		return c.deleteMultistatus(ctx, op, p, resp)
	case resp.StatusCode >= 200 && resp.StatusCode < 300,
		resp.StatusCode == http.StatusNotFound, resp.StatusCode == http.StatusGone:
		drain(resp)
		return nil
	}
	return c.statusErr(op, resp)
}

// deleteMultistatus reads a 207 to DELETE: a failure is reported per
// resource (RFC 4918 §9.6.1).
func (c *Client) deleteMultistatus(ctx context.Context, op, p string, resp *http.Response) error {
	defer resp.Body.Close()
	var failed *statusError
	_, err := readMultistatus(resp.Body, func(r *response) error {
		st := r.StatusCode()
		if failed == nil && st >= 300 && st != http.StatusNotFound && st != http.StatusGone {
			failed = &statusError{Code: st, Status: strings.TrimPrefix(strings.TrimSpace(r.Status), "HTTP/1.1 ")}
		}
		return nil
	})
	if err != nil {
		return c.readErr(ctx, op, err)
	}
	if failed != nil {
		return hsync.Errorf(kindOfStatus(failed), op, failed)
	}
	return nil
}

// collectionOp resolves a calendar href given by the caller and names the
// operation on it.
func (c *Client) collectionOp(method, calendar string) (string, string, error) {
	p, err := c.resolveCollection("/", calendar)
	if err != nil {
		return "", "", hsync.Errorf(hsync.Permanent, opName(method, calendar), err)
	}
	return p, opName(method, p), nil
}

// objectOp resolves an object href given by the caller and names the
// operation on it.
func (c *Client) objectOp(method, href string) (string, string, error) {
	p, err := c.resolve("/", href)
	if err != nil {
		return "", "", hsync.Errorf(hsync.Permanent, opName(method, href), err)
	}
	if strings.HasSuffix(p, "/") {
		return "", "", hsync.Errorf(hsync.Permanent, opName(method, p), errors.New("names a collection, not a calendar object"))
	}
	return p, opName(method, p), nil
}
