package webdav

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	hsync "github.com/holdover/holdover/sync"
)

// Two directions, two rules. Going out, a caller's path is split at "/"
// and each segment escaped with url.PathEscape, so spaces, "%", "#", "?"
// and any Unicode are sent as bytes of a name, never as syntax. Coming
// in, servers escape hrefs each their own way (Apache leaves "@" and
// "&", others escape them, some send full URLs, a few send raw names), so
// an href is compared segment by segment after decoding, never as a
// string.

// errBadPath: a caller's path that no request may carry (a dot segment
// would be resolved by the server and name another resource).
var errBadPath = errors.New("path has an empty, \".\" or \"..\" segment")

// target is the escaped absolute path of a caller's relative path ("" is
// the root).
func (c *Client) target(p string) (string, error) {
	if p == "" {
		return c.rootPath, nil
	}
	segs := strings.Split(p, "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return "", errBadPath
		}
	}
	return c.rootPath + escapeSegments(segs), nil
}

// op resolves a caller's path and names the operation on it.
func (c *Client) op(method, p string) (target, op string, err error) {
	op = opName(method, p)
	target, err = c.target(p)
	if err != nil {
		return "", op, hsync.Errorf(hsync.Permanent, op, err)
	}
	return target, op, nil
}

func escapeSegments(segs []string) string {
	esc := make([]string, len(segs))
	for i, s := range segs {
		esc[i] = url.PathEscape(s)
	}
	return strings.Join(esc, "/")
}

func asCollection(p string) string {
	if strings.HasSuffix(p, "/") {
		return p
	}
	return p + "/"
}

// splitPath decodes an escaped absolute path into its segments (a
// trailing slash dropped). A segment that is no valid escape ("50%off",
// sent raw) is taken as it is. ok is false for a path that cannot be
// mapped safely: an empty, "." or ".." segment, or a decoded "/" that
// would read as a separator.
func splitPath(escaped string) (segs []string, ok bool) {
	escaped = strings.TrimSuffix(strings.TrimPrefix(escaped, "/"), "/")
	if escaped == "" {
		return nil, true
	}
	segs = strings.Split(escaped, "/")
	for i, s := range segs {
		d, err := url.PathUnescape(s)
		if err != nil {
			d = s
		}
		if d == "" || d == "." || d == ".." || strings.Contains(d, "/") {
			return nil, false
		}
		segs[i] = d
	}
	return segs, true
}

// relPath maps an href of an answer to a request on dir (an escaped
// absolute path ending in "/") to a path relative to the root: "" for
// the root itself. ok is false for an href to skip: on another host,
// outside the root, or not safely mappable.
func (c *Client) relPath(dir, href string) (rel string, ok bool) {
	href = strings.TrimSpace(href)
	var escaped string
	switch {
	case href == "":
		return "", false
	case strings.HasPrefix(href, "/"):
		// Taken whole, not parsed as a URL: a raw "?" or "#" some server
		// left in a name is part of the name.
		escaped = href
	case strings.Contains(href, "://"):
		scheme, rest, _ := strings.Cut(href, "://")
		host, path, _ := strings.Cut(rest, "/")
		u, err := url.Parse(scheme + "://" + host)
		if err != nil || !c.sameHost(u) {
			return "", false
		}
		escaped = "/" + path
	default:
		// Relative to the request (RFC 4918 wants absolute hrefs; some
		// servers send member names).
		escaped = dir + href
	}
	segs, ok := splitPath(escaped)
	if !ok || len(segs) < len(c.root) {
		return "", false
	}
	for i, s := range c.root {
		if segs[i] != s {
			return "", false
		}
	}
	return strings.Join(segs[len(c.root):], "/"), true
}

// sameHost reports whether u names the configured scheme and host (the
// port defaulted by scheme, the host name case-insensitive) and carries
// no user.
func (c *Client) sameHost(u *url.URL) bool {
	if u.User != nil || !strings.EqualFold(u.Scheme, c.base.Scheme) {
		return false
	}
	return hostPort(u) == hostPort(c.base)
}

func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// parentOf is the folder holding p ("" for the root).
func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}

// quote names a path in error text.
func quote(p string) string { return fmt.Sprintf("%q", p) }
