package webdav

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/holdover/holdover/connectors/internal/davhttp"
	hsync "github.com/holdover/holdover/sync"
)

// expectContinueMin is the body size from which a PUT first asks the
// server whether it will take it (Expect: 100-continue): a refused
// condition, a missing folder or a bad password then costs one round
// trip instead of the whole upload.
const expectContinueMin = 1 << 20

// Get implements sync.FileRemote. A body cut short is an error, never a
// short success: net/http checks the length against Content-Length or
// the chunked framing, and the count is checked again here.
func (c *Client) Get(ctx context.Context, p string, w io.Writer) (hsync.RemoteFile, error) {
	target, op, err := c.op("GET", p)
	if err != nil {
		return hsync.RemoteFile{}, err
	}
	// identity: the ETag and length then name the bytes written to w.
	resp, err := c.do(ctx, op, request{method: "GET", path: target, header: map[string]string{"Accept-Encoding": "identity"}})
	if err != nil {
		return hsync.RemoteFile{}, err
	}
	switch {
	case isGone(resp.StatusCode):
		return hsync.RemoteFile{}, c.notFound(op, resp)
	case resp.StatusCode != http.StatusOK:
		return hsync.RemoteFile{}, c.statusErr(op, resp)
	}
	defer resp.Body.Close()
	dst := &writeTracker{w: w}
	n, err := io.Copy(dst, resp.Body)
	if err != nil {
		if dst.err != nil {
			// The caller's writer failed (a full disk, a file that
			// changed): its error, not the provider's.
			return hsync.RemoteFile{}, err
		}
		return hsync.RemoteFile{}, c.transportError(ctx, op, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return hsync.RemoteFile{}, hsync.Errorf(hsync.Transient, op, fmt.Errorf("got %d of %d bytes", n, resp.ContentLength))
	}
	f := hsync.RemoteFile{Path: p, Size: n, ETag: headerETag(resp)}
	f.ModTime, _ = http.ParseTime(resp.Header.Get("Last-Modified"))
	return f, nil
}

// writeTracker remembers the error of the writer it wraps.
type writeTracker struct {
	w   io.Writer
	err error
}

func (t *writeTracker) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil {
		t.err = err
	}
	return n, err
}

func headerETag(resp *http.Response) string {
	return davhttp.QuoteETag(strings.TrimSpace(resp.Header.Get("ETag")))
}

// Put implements sync.FileRemote. The PUT is the commit point: once the
// server took it, Put does not fail. Where the answer has no strong ETag
// (Apache never sends one with a PUT) the entry is read back; a version
// read back whose size is not the one written is someone else's and is
// not returned as ours (the ETag is then the answer's, maybe "").
func (c *Client) Put(ctx context.Context, p string, body io.Reader, size int64, cond hsync.PutCondition) (hsync.RemoteFile, error) {
	target, op, err := c.op("PUT", p)
	if err != nil {
		return hsync.RemoteFile{}, err
	}
	if p == "" || size < 0 {
		return hsync.RemoteFile{}, hsync.Errorf(hsync.Permanent, op, errors.New("not a file path, or a negative size"))
	}
	hdr := map[string]string{}
	switch {
	case cond.Create && cond.IfMatch == "":
		hdr["If-None-Match"] = "*"
	case !cond.Create && cond.IfMatch != "":
		cur, err := c.confirmETag(ctx, op, p, cond.IfMatch, nil)
		if err != nil {
			return hsync.RemoteFile{}, err
		}
		hdr["If-Match"] = cur.ETag
	case cond.Overwrite && !cond.Create && cond.IfMatch == "":
		// The caller checked the version itself (a server without ETags).
	default:
		// Never an unconditional PUT: it could overwrite a change made
		// elsewhere without anyone knowing (the first promise).
		return hsync.RemoteFile{}, hsync.Errorf(hsync.Permanent, op, errors.New("refusing a PUT without exactly one precondition (Create, IfMatch or Overwrite)"))
	}
	if size >= expectContinueMin {
		hdr["Expect"] = "100-continue"
	}
	resp, err := c.do(ctx, op, request{method: "PUT", path: target, stream: body, size: size, header: hdr})
	if err != nil {
		return hsync.RemoteFile{}, err
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated, http.StatusNoContent:
	case http.StatusConflict, http.StatusNotFound:
		// RFC 4918 §9.7.1 says 409; some servers say 404. The entry
		// itself need not exist for a PUT, so either names the folder.
		return hsync.RemoteFile{}, c.noParent(op, resp)
	default:
		return hsync.RemoteFile{}, c.statusErr(op, resp)
	}
	f := hsync.RemoteFile{Path: p, Size: size, ETag: headerETag(resp)}
	f.ModTime, _ = http.ParseTime(resp.Header.Get("Last-Modified"))
	davhttp.Drain(resp)
	if f.ETag != "" && !isWeak(f.ETag) {
		return f, nil
	}
	if got, err := c.Stat(ctx, p); err == nil && !got.Dir && got.Size == size {
		f.ETag, f.ModTime = got.ETag, got.ModTime
	}
	return f, nil
}

// confirmETag applies the weak-ETag rule (package doc) to want, the
// version of p a change was based on, and returns the entry as it now
// is, with an ETag fit for a condition: want itself when strong (no
// request is made unless cur, a Stat of p just made, is given), else the
// strong form the server offers once it does. A different tag, or p
// gone, is a Conflict.
func (c *Client) confirmETag(ctx context.Context, op, p, want string, cur *hsync.RemoteFile) (hsync.RemoteFile, error) {
	if !isWeak(want) && cur == nil {
		return hsync.RemoteFile{Path: p, ETag: want}, nil
	}
	deadline := time.Now().Add(weakWait)
	for {
		if cur == nil {
			got, err := c.Stat(ctx, p)
			if errors.Is(err, hsync.ErrFileNotFound) {
				return got, hsync.Errorf(hsync.Conflict, op, err)
			}
			if err != nil {
				return got, err
			}
			cur = &got
		}
		switch {
		case !hsync.SameETag(cur.ETag, want):
			return *cur, changed(op, cur.ETag, want)
		case !isWeak(cur.ETag):
			return *cur, nil
		case time.Now().After(deadline):
			return *cur, hsync.Errorf(hsync.Transient, op, fmt.Errorf("the server's ETag %s is still weak after %v, and a weak one cannot be a condition", cur.ETag, weakWait))
		}
		select {
		case <-ctx.Done():
			return *cur, hsync.Errorf(hsync.Transient, op, ctx.Err())
		case <-time.After(weakPoll):
		}
		cur = nil
	}
}

func changed(op, have, want string) error {
	return hsync.Errorf(hsync.Conflict, op, fmt.Errorf("the server's version is %s, not %s", have, want))
}

// Mkdir implements sync.FileRemote. MKCOL on a name that is taken answers
// 405; a Stat tells a folder (fine) from a file (a Conflict).
func (c *Client) Mkdir(ctx context.Context, p string) error {
	target, op, err := c.op("MKCOL", p)
	if err != nil {
		return err
	}
	// No trailing slash: Apache answers 400 instead of 405 to "file/"
	// when "file" is a file.
	resp, err := c.do(ctx, op, request{method: "MKCOL", path: target})
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusCreated, http.StatusOK, http.StatusNoContent:
		davhttp.Drain(resp)
		return nil
	case http.StatusConflict, http.StatusNotFound:
		return c.noParent(op, resp)
	case http.StatusMethodNotAllowed:
		davhttp.Drain(resp)
		f, err := c.Stat(ctx, p)
		if err != nil {
			return err
		}
		if !f.Dir {
			return hsync.Errorf(hsync.Conflict, op, errors.New("a file has that name"))
		}
		return nil
	}
	return c.statusErr(op, resp)
}

// Move implements sync.FileRemote. The source is read first: that tells a
// folder (whose URLs end in "/") from a file, applies the weak-ETag rule,
// and turns a mismatch into a Conflict without a MOVE. The MOVE itself
// still carries the condition, as an If header tagged with the source's
// URL: an untagged one would also be checked against the parent folder by
// Apache (424 Failed Dependency), and If-Match is not defined for MOVE
// by every server.
func (c *Client) Move(ctx context.Context, from, to, ifMatch string) error {
	src, op, err := c.op("MOVE", from)
	if err != nil {
		return err
	}
	if from == "" || to == "" {
		return hsync.Errorf(hsync.Permanent, op, errors.New("refusing to move the root or onto it"))
	}
	dst, err := c.target(to)
	if err != nil {
		return hsync.Errorf(hsync.Permanent, op, fmt.Errorf("destination %s: %w", quote(to), err))
	}
	cur, err := c.Stat(ctx, from)
	if err != nil {
		return err
	}
	hdr := map[string]string{"Overwrite": "F"}
	if cur.Dir {
		src, dst = asCollection(src), asCollection(dst)
	}
	hdr["Destination"] = c.urlFor(dst)
	if ifMatch != "" {
		cur, err = c.confirmETag(ctx, op, from, ifMatch, &cur)
		if err != nil {
			return err
		}
		hdr["If"] = "<" + c.urlFor(src) + "> ([" + cur.ETag + "])"
	}
	resp, err := c.do(ctx, op, request{method: "MOVE", path: src, header: hdr})
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusCreated, resp.StatusCode == http.StatusNoContent:
		davhttp.Drain(resp)
		return nil
	case resp.StatusCode == http.StatusConflict:
		return c.noParent(op, resp)
	case isGone(resp.StatusCode) || resp.StatusCode >= 500:
		// RFC 4918 says 409 for a missing destination folder; Apache
		// answers 500 (its rename fails with ENOENT), others 404. A
		// Stat of the folder tells, so that a missing one is not retried
		// for ever as a server error.
		if c.notAFolder(ctx, parentOf(to)) {
			return c.noParent(op, resp)
		}
		if _, err := c.Stat(ctx, from); isGone(resp.StatusCode) && errors.Is(err, hsync.ErrFileNotFound) {
			return c.notFound(op, resp)
		}
	case resp.StatusCode == http.StatusMultiStatus:
		return c.multistatusErr(ctx, op, resp)
	}
	return c.statusErr(op, resp)
}

// notAFolder reports whether a Stat of p finds no folder there (nothing,
// or a file). The root is always a folder; a failed Stat says nothing.
func (c *Client) notAFolder(ctx context.Context, p string) bool {
	if p == "" {
		return false
	}
	f, err := c.Stat(ctx, p)
	return errors.Is(err, hsync.ErrFileNotFound) || (err == nil && !f.Dir)
}

// Delete implements sync.FileRemote. ifMatch applies to whatever is at p;
// the engine deletes a folder with ifMatch "" (a folder's ETag, where a
// server has one, changes with its contents).
func (c *Client) Delete(ctx context.Context, p, ifMatch string) error {
	target, op, err := c.op("DELETE", p)
	if err != nil {
		return err
	}
	if p == "" {
		return hsync.Errorf(hsync.Permanent, op, errors.New("refusing to delete the root"))
	}
	var hdr map[string]string
	if ifMatch != "" {
		cur, err := c.confirmETag(ctx, op, p, ifMatch, nil)
		if errors.Is(err, hsync.ErrFileNotFound) {
			return hsync.Errorf(hsync.Permanent, op, err)
		}
		if err != nil {
			return err
		}
		hdr = map[string]string{"If-Match": cur.ETag}
	}
	resp, err := c.do(ctx, op, request{method: "DELETE", path: target, header: hdr})
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300 && resp.StatusCode != http.StatusMultiStatus:
		davhttp.Drain(resp)
		return nil
	case isGone(resp.StatusCode):
		return c.notFound(op, resp)
	case resp.StatusCode == http.StatusPreconditionFailed:
		// If-Match fails on a missing entry too (RFC 9110 §13.1.1), and
		// an entry already gone is not a conflict for a deletion.
		err := c.statusErr(op, resp)
		if _, serr := c.Stat(ctx, p); errors.Is(serr, hsync.ErrFileNotFound) {
			return hsync.Errorf(hsync.Permanent, op, serr)
		}
		return err
	case resp.StatusCode == http.StatusMultiStatus:
		return c.multistatusErr(ctx, op, resp)
	}
	return c.statusErr(op, resp)
}

// multistatusErr reads a 207 to DELETE or MOVE of a folder: some members
// failed (RFC 4918 §9.6.1, §9.9.4); the first failure classifies it.
func (c *Client) multistatusErr(ctx context.Context, op string, resp *http.Response) error {
	defer resp.Body.Close()
	var failed *davhttp.StatusError
	_, err := davhttp.ReadMultistatus(resp.Body, func(r *response) error {
		if st := r.StatusCode(); failed == nil && st >= 300 {
			failed = &davhttp.StatusError{Code: st, Status: strings.TrimPrefix(strings.TrimSpace(r.Status), "HTTP/1.1 ")}
		}
		return nil
	})
	if err != nil {
		return c.readErr(ctx, op, err)
	}
	if failed == nil {
		return hsync.Errorf(hsync.Transient, op, errors.New("207 Multi-Status without a failed member"))
	}
	return hsync.Errorf(davhttp.KindOfStatus(failed), op, fmt.Errorf("a member failed: %w", failed))
}

// isWeak reports whether an ETag is weak (W/"…").
func isWeak(tag string) bool { return strings.HasPrefix(tag, "W/") }

// weakWait and weakPoll bound the weak-ETag rule (package doc): Apache's
// tags turn strong one second after a write.
var (
	weakWait = 3 * time.Second
	weakPoll = 300 * time.Millisecond
)
