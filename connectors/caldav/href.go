package caldav

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Servers send hrefs percent-encoded each their own way (Radicale encodes
// "@" as %40, others leave it) and sometimes as full URLs. Comparing such
// strings as they come would make one object look like two, so every
// href is brought to one form, here, once: an absolute path whose
// segments are decoded once and encoded again by url.PathEscape, with dot
// segments resolved. "%2F" inside a segment stays a part of the name,
// never becomes a separator.
//
// Hrefs the engine builds itself ("/alice/work/" + uid + ".ics") need no
// escaping when the name is made of letters, digits and "-_.@~"; a raw
// name is accepted too and escaped here. The one ambiguity: a raw name
// that looks escaped ("a%20b") is read as escaped.

// canonicalPath brings an escaped absolute path to the canonical form.
func canonicalPath(escaped string) (string, error) {
	if escaped == "" {
		return "/", nil
	}
	if !strings.HasPrefix(escaped, "/") {
		return "", fmt.Errorf("%q is not an absolute path", escaped)
	}
	segs := strings.Split(escaped, "/")
	for i, s := range segs {
		d, err := url.PathUnescape(s)
		if err != nil {
			return "", err
		}
		segs[i] = url.PathEscape(d)
	}
	return strings.Join(segs, "/"), nil
}

// resolve returns the canonical path of href, taken relative to base (a
// canonical path: the URL a server answered for, or "/" for an href the
// caller gave). A full URL must name the configured scheme and host.
func (c *Client) resolve(base, href string) (string, error) {
	href = strings.TrimSpace(href)
	if href == "" {
		return "", errors.New("empty href")
	}
	u, err := url.Parse(href)
	if err != nil {
		if !strings.HasPrefix(href, "/") {
			return "", fmt.Errorf("bad href %q", href)
		}
		// Not a valid URI reference (a raw "%" in a name): a raw path.
		u = &url.URL{Path: href}
	}
	if u.Scheme != "" || u.Host != "" {
		if !c.sameHost(u) {
			return "", fmt.Errorf("href %q names another host than %s", href, c.base.Host)
		}
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("bad base path %q", base)
	}
	ref := &url.URL{Path: u.Path, RawPath: u.RawPath}
	if ref.Path == "" {
		ref.Path = "/"
	}
	return canonicalPath(b.ResolveReference(ref).EscapedPath())
}

// resolveCollection is resolve for a collection: with a trailing slash.
func (c *Client) resolveCollection(base, href string) (string, error) {
	p, err := c.resolve(base, href)
	if err != nil {
		return "", err
	}
	return asCollection(p), nil
}

func asCollection(p string) string {
	if strings.HasSuffix(p, "/") {
		return p
	}
	return p + "/"
}

// sameCollection compares two canonical paths ignoring a trailing slash
// (servers name a collection with or without one).
func sameCollection(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

// sameHost reports whether u names the configured scheme and host (the
// port defaulted by scheme, the host name case-insensitive).
func (c *Client) sameHost(u *url.URL) bool {
	if !strings.EqualFold(u.Scheme, c.base.Scheme) {
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
