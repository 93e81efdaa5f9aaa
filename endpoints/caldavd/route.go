package caldavd

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/emersion/go-webdav/caldav"

	"github.com/holdover/holdover/store"
)

// kinds of resource in the namespace (see the package doc).
const (
	kindOther = iota
	kindRoot
	kindPrincipal
	kindHome
	kindCalendar
	kindObject
)

// target is what a request path names.
type target struct {
	kind    int
	account string
	cal     store.Calendar // kindCalendar, kindObject
	name    string         // kindObject: the decoded last segment
}

func principalPath(account string) string { return "/" + account + "/" }
func homePath(account string) string      { return "/" + account + "/calendars/" }
func calendarPath(account string, c store.Calendar) string {
	return homePath(account) + strconv.FormatInt(c.ID, 10) + "/"
}

// objectName is the name an object has in its calendar here: the last
// segment of its href at the provider, decoded.
func objectName(href string) string {
	seg := href[strings.LastIndex(href, "/")+1:]
	if dec, err := url.PathUnescape(seg); err == nil {
		return dec
	}
	return seg
}

func objectPath(account string, c store.Calendar, href string) string {
	return calendarPath(account, c) + objectName(href)
}

// hrefs are the spellings under which an object named name may be stored
// in calendar c: its provider href encoded as the provider did, or not.
func hrefs(c store.Calendar, name string) []string {
	out := []string{c.Href + url.PathEscape(name)}
	if raw := c.Href + name; raw != out[0] {
		out = append(out, raw)
	}
	return out
}

// errNotHere answers a path outside the logged-in account's namespace.
var errNotHere = errors.New("not found")

// resolve reads a decoded request path. A path of another account, or of
// a calendar that is not the account's, is errNotHere (404: it is not
// said whether it exists).
func (s *Server) resolve(r *http.Request, p string) (target, error) {
	account := accountOf(r.Context())
	trail := strings.HasSuffix(p, "/")
	p = path.Clean("/" + p)
	if p == "/" {
		return target{kind: kindRoot, account: account}, nil
	}
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if segs[0] != account {
		return target{}, errNotHere
	}
	t := target{account: account}
	switch {
	case len(segs) == 1:
		t.kind = kindPrincipal
		return t, nil
	case segs[1] != "calendars":
		return target{}, errNotHere
	case len(segs) == 2:
		t.kind = kindHome
		return t, nil
	case len(segs) > 4:
		return target{}, errNotHere
	}
	id, err := strconv.ParseInt(segs[2], 10, 64)
	if err != nil {
		return target{}, errNotHere
	}
	c, err := s.opts.DB.CalendarByID(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || err == nil && c.Account != account {
		return target{}, errNotHere
	}
	if err != nil {
		return target{}, err
	}
	t.cal = c
	if len(segs) == 3 {
		t.kind = kindCalendar
		return t, nil
	}
	if trail {
		return target{}, errNotHere // objects are not collections
	}
	t.kind, t.name = kindObject, segs[3]
	return t, nil
}

// route dispatches a logged-in request: discovery, OPTIONS and
// calendar-query to go-webdav, the rest here (see the package doc).
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	dav := &caldav.Handler{Backend: &backend{s: s}}
	if r.URL.Path == "/.well-known/caldav" || r.URL.Path == "/.well-known/caldav/" {
		http.Redirect(w, r, principalPath(accountOf(r.Context())), http.StatusMovedPermanently)
		return
	}
	if r.Method == "MKCOL" || r.Method == "MKCALENDAR" {
		http.Error(w, "Calendars are created at the provider; holdover mirrors them (and a calendar holds no collections)", http.StatusForbidden)
		return
	}
	t, err := s.resolve(r, r.URL.Path)
	if errors.Is(err, errNotHere) {
		http.Error(w, "Not found", http.StatusNotFound)
		return
	}
	if err != nil {
		s.fail(w, r, "resolve path", err)
		return
	}
	switch {
	case t.kind == kindObject:
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			s.get(w, r, t)
		case http.MethodPut:
			s.put(w, r, t)
		case http.MethodDelete:
			s.delete(w, r, t)
		case "PROPFIND":
			s.propfind(w, r, t)
		case http.MethodOptions:
			dav.ServeHTTP(w, r)
		default:
			w.Header().Set("Allow", "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND")
			http.Error(w, r.Method+" is not supported on a calendar object", http.StatusMethodNotAllowed)
		}
	case t.kind == kindCalendar && r.Method == "REPORT":
		s.report(w, r, t, dav)
	case (t.kind == kindCalendar || t.kind == kindHome) && r.Method == "PROPFIND":
		s.propfind(w, r, t)
	case t.kind == kindCalendar && (r.Method == http.MethodPut || r.Method == http.MethodDelete):
		http.Error(w, "Calendars are created and removed at the provider; holdover mirrors them", http.StatusForbidden)
	default:
		dav.ServeHTTP(w, r)
	}
}

// report serves sync-collection and calendar-multiget here and hands a
// calendar-query to go-webdav.
func (s *Server) report(w http.ResponseWriter, r *http.Request, t target, dav http.Handler) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	root, err := rootElement(body)
	if err != nil {
		http.Error(w, "The REPORT body is not XML: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch root {
	case xml.Name{Space: nsDAV, Local: "sync-collection"}:
		s.syncCollection(w, r, t, body)
	case xml.Name{Space: nsCalDAV, Local: "calendar-multiget"}:
		s.multiget(w, r, t, body)
	case xml.Name{Space: nsCalDAV, Local: "calendar-query"}:
		r.Body = io.NopCloser(bytes.NewReader(body))
		dav.ServeHTTP(w, r)
	default:
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, xmlHeader+`<d:error xmlns:d="DAV:"><d:supported-report/></d:error>`)
	}
}

// readBody reads a request body whole, within Options.MaxBody; it
// answers the client itself when it cannot.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		http.Error(w, "Request body over "+strconv.FormatInt(tooBig.Limit, 10)+" bytes: too large for one calendar object", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	if err != nil {
		http.Error(w, "Reading the request body: "+err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

// fail answers a local fault (the store) and logs it once.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	if r.Context().Err() != nil {
		return // the client or the server went away
	}
	s.log.Error("CalDAV endpoint: "+what, "account", accountOf(r.Context()), "err", err)
	http.Error(w, "Local storage unavailable, try again", http.StatusServiceUnavailable)
}
