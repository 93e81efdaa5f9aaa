package caldav

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/holdover/holdover/connectors/internal/davhttp"
	hsync "github.com/holdover/holdover/sync"
)

// maxRedirects bounds the redirects followed during discovery.
const maxRedirects = 5

// The properties of a calendar collection, and those that lead to one.
var (
	calendarProps = []string{
		"D:resourcetype", "D:displayname", "A:calendar-color",
		"C:supported-calendar-component-set", "CS:getctag", "D:sync-token",
	}
	discoveryBody = propfindBody(append([]string{
		"D:current-user-principal", "C:calendar-home-set"}, calendarProps...)...)
	listingBody = propfindBody(calendarProps...)
	// Without getctag: Radicale spends about as long computing it as the
	// sync-token, and the ctag only matters for calendars without one.
	listingBodyNoCTag = propfindBody(slices.DeleteFunc(slices.Clone(calendarProps), func(p string) bool { return p == "CS:getctag" })...)
)

var _ hsync.CalendarHinter = (*Client)(nil)

// HintSyncTokens implements sync.CalendarHinter.
func (c *Client) HintSyncTokens(all bool) {
	c.mu.Lock()
	c.noCTag = all
	c.mu.Unlock()
}

// Calendars implements sync.CalendarRemote. The first call discovers the
// calendar home (RFC 6764 §6: the configured URL, or at a server root
// /.well-known/caldav; then current-user-principal, then
// calendar-home-set) and remembers it, so later calls cost one PROPFIND
// (depth 1) of the home; the home is looked for again if it is gone. A
// configured URL that is a calendar lists that calendar alone.
func (c *Client) Calendars(ctx context.Context) ([]hsync.RemoteCalendar, error) {
	c.mu.Lock()
	home := c.home
	c.mu.Unlock()
	if home != "" {
		cals, err := c.listHome(ctx, home)
		if !errors.Is(err, hsync.ErrCalendarGone) {
			return cals, err
		}
	}
	home, self, err := c.discoverHome(ctx)
	if err != nil {
		return nil, err
	}
	if self != nil {
		return []hsync.RemoteCalendar{*self}, nil
	}
	cals, err := c.listHome(ctx, home)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.home = home
	c.mu.Unlock()
	return cals, nil
}

// discoverHome finds the calendar home, or the calendar the configured URL
// names (self).
func (c *Client) discoverHome(ctx context.Context) (home string, self *hsync.RemoteCalendar, err error) {
	at, r, err := c.discoveryStart(ctx)
	if err != nil {
		return "", nil, err
	}
	p := props(r)
	if p.isCalendar() {
		cal := calendarOf(at, p)
		return "", &cal, nil
	}
	if h, err := c.firstHref(at, p.HomeSet); err != nil || h != "" {
		return h, nil, err
	}
	principal, err := c.firstHref(at, p.Principal)
	if err != nil {
		return "", nil, err
	}
	if principal != "" && !sameCollection(principal, at) {
		_, r, err := c.propfindFollow(ctx, principal, propfindBody("C:calendar-home-set"))
		if err != nil {
			return "", nil, err
		}
		if h, err := c.firstHref(principal, props(r).HomeSet); err != nil || h != "" {
			return h, nil, err
		}
	}
	// No home advertised: the URL may be a home that does not say so
	// (some servers list calendars under a plain collection).
	return asCollection(at), nil, nil
}

// discoveryStart PROPFINDs the configured URL (at a server root,
// /.well-known/caldav first) and returns where the answer came from.
func (c *Client) discoveryStart(ctx context.Context) (string, *response, error) {
	if c.start == "/" {
		at, r, err := c.propfindFollow(ctx, "/.well-known/caldav", discoveryBody)
		if err == nil {
			return at, r, nil
		}
		// A server without the well-known URI answers 404 (or 405, 400,
		// 501…); anything that says more (auth, outage) is the answer.
		var he *hsync.Error
		var se *statusError
		if !errors.As(err, &he) || he.Kind != hsync.Permanent || !errors.As(err, &se) {
			return "", nil, err
		}
	}
	return c.propfindFollow(ctx, c.start, discoveryBody)
}

// propfindFollow runs a depth-0 PROPFIND on path, following redirects on
// the same host, and returns the final path and the response for it.
func (c *Client) propfindFollow(ctx context.Context, path string, body []byte) (string, *response, error) {
	for hop := 0; ; hop++ {
		op := opName("PROPFIND", path)
		resp, err := c.do(ctx, op, request{method: "PROPFIND", path: path, depth: "0", body: body, ctype: xmlType})
		if err != nil {
			return "", nil, err
		}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 && hop < maxRedirects {
			loc := resp.Header.Get("Location")
			drain(resp)
			next, err := c.resolve(path, loc)
			if err != nil {
				return "", nil, hsync.Errorf(hsync.Permanent, op, fmt.Errorf("redirect refused: %w", err))
			}
			path = next
			continue
		}
		if resp.StatusCode != http.StatusMultiStatus {
			return "", nil, c.statusErr(op, resp)
		}
		r, err := c.readSelf(ctx, op, resp, path)
		return path, r, err
	}
}

// readSelf reads a depth-0 multistatus: the response about path (a server
// may name it with or without a trailing slash, or by full URL), else the
// first one (a depth-0 answer is about one resource; some servers name it
// by another path, such as the principal a well-known URI stands for).
func (c *Client) readSelf(ctx context.Context, op string, resp *http.Response, path string) (*response, error) {
	defer resp.Body.Close()
	var self, first *response
	_, err := readMultistatus(resp.Body, func(r *response) error {
		h, err := c.resolve(path, r.Href())
		if err != nil {
			return err
		}
		if first == nil {
			first = r
		}
		if self == nil && sameCollection(h, path) {
			self = r
		}
		return nil
	})
	if self == nil {
		self = first
	}
	if err != nil {
		if cb := davhttp.CallbackErr(err); cb != nil {
			return nil, hsync.Errorf(hsync.Permanent, op, cb)
		}
		return nil, c.readErr(ctx, op, err)
	}
	if self == nil {
		return nil, hsync.Errorf(hsync.Transient, op, fmt.Errorf("the answer has no response for %s", path))
	}
	return self, nil
}

// listHome lists the calendars in home (PROPFIND depth 1): the members
// whose resourcetype says calendar.
func (c *Client) listHome(ctx context.Context, home string) ([]hsync.RemoteCalendar, error) {
	op := opName("PROPFIND", home)
	body := listingBody
	c.mu.Lock()
	if c.noCTag {
		body = listingBodyNoCTag
	}
	c.mu.Unlock()
	resp, err := c.do(ctx, op, request{method: "PROPFIND", path: home, depth: "1", body: body, ctype: xmlType})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusMultiStatus {
		return nil, c.collectionErr(op, resp)
	}
	defer resp.Body.Close()
	var cals []hsync.RemoteCalendar
	_, err = readMultistatus(resp.Body, func(r *response) error {
		h, err := c.resolveCollection(home, r.Href())
		if err != nil {
			return hsync.Errorf(hsync.Permanent, op, err)
		}
		p := props(r)
		if sameCollection(h, home) || !p.isCalendar() {
			return nil
		}
		cals = append(cals, calendarOf(h, p))
		return nil
	})
	if err != nil {
		return nil, c.readErr(ctx, op, err)
	}
	all := len(cals) > 0
	for _, cal := range cals {
		all = all && cal.SyncToken != ""
	}
	c.HintSyncTokens(all)
	return cals, nil
}

// calendarOf describes the calendar at href from its properties.
func calendarOf(href string, p prop) hsync.RemoteCalendar {
	cal := hsync.RemoteCalendar{
		Href:      asCollection(href),
		Name:      str(p.DisplayName),
		Color:     str(p.Color),
		CTag:      str(p.CTag),
		SyncToken: str(p.SyncToken),
	}
	if p.Components != nil {
		cal.Components = []string{}
		for _, comp := range p.Components.Comps {
			cal.Components = append(cal.Components, comp.Name)
		}
	}
	return cal
}

// firstHref resolves the first href of a property ("" when absent).
func (c *Client) firstHref(base string, l *hrefList) (string, error) {
	if l == nil || len(l.Hrefs) == 0 {
		return "", nil
	}
	h, err := c.resolveCollection(base, l.Hrefs[0])
	if err != nil {
		return "", hsync.Errorf(hsync.Permanent, "caldav discovery", err)
	}
	return h, nil
}

const xmlType = "application/xml; charset=utf-8"
