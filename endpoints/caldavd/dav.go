package caldavd

import (
	"encoding/xml"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/calsync"
)

// syncTokenPrefix makes a calendar's local change count a URI, as
// RFC 6578 wants a sync-token to be.
const syncTokenPrefix = "http://holdover.invalid/ns/sync/"

func syncToken(seq int64) string { return syncTokenPrefix + strconv.FormatInt(seq, 10) }

func quoted(etag string) string { return `"` + etag + `"` }

// privileges are what a client may do: everything a calendar client
// needs when writes are on, reading otherwise.
func (s *Server) privileges() string {
	names := []string{"read", "read-current-user-privilege-set"}
	if s.opts.Local != nil {
		names = append(names, "write", "write-content", "bind", "unbind")
	}
	var b strings.Builder
	for _, n := range names {
		b.WriteString("<d:privilege>" + element(dav(n), "") + "</d:privilege>")
	}
	return b.String()
}

func (s *Server) homeProps(account string) props {
	return props{
		{dav("resourcetype"), "<d:collection/>"},
		{dav("displayname"), "Calendars"},
		{dav("current-user-principal"), hrefElement(principalPath(account))},
		{dav("owner"), hrefElement(principalPath(account))},
		{dav("current-user-privilege-set"), "<d:privilege><d:read/></d:privilege>"},
	}
}

func (s *Server) calendarProps(account string, c store.Calendar, seq int64) props {
	comps := c.Components
	if len(comps) == 0 {
		comps = []string{"VEVENT"}
	}
	var set strings.Builder
	for _, n := range comps {
		set.WriteString(`<c:comp name="` + escape(n) + `"/>`)
	}
	reports := ""
	for _, n := range []xml.Name{caldavN("calendar-multiget"), caldavN("calendar-query"), dav("sync-collection")} {
		reports += "<d:supported-report><d:report>" + element(n, "") + "</d:report></d:supported-report>"
	}
	ps := props{
		{dav("resourcetype"), "<d:collection/><c:calendar/>"},
		{dav("displayname"), escape(c.Name)},
		{dav("getetag"), escape(quoted(strconv.FormatInt(seq, 10)))},
		{xml.Name{Space: nsCS, Local: "getctag"}, strconv.FormatInt(seq, 10)},
		{dav("sync-token"), escape(syncToken(seq))},
		{dav("current-user-principal"), hrefElement(principalPath(account))},
		{dav("owner"), hrefElement(principalPath(account))},
		{dav("current-user-privilege-set"), s.privileges()},
		{dav("supported-report-set"), reports},
		{caldavN("supported-calendar-component-set"), set.String()},
		{caldavN("supported-calendar-data"), `<c:calendar-data content-type="text/calendar" version="2.0"/>`},
		{caldavN("max-resource-size"), strconv.FormatInt(s.opts.MaxBody, 10)},
	}
	if c.Color != "" {
		ps = append(ps, prop{xml.Name{Space: nsICal, Local: "calendar-color"}, escape(c.Color)})
	}
	return ps
}

func (s *Server) objectProps(account string, o store.LocalCalObject) props {
	ps := props{
		{dav("resourcetype"), ""},
		{dav("getetag"), escape(quoted(calsync.LocalETag(o.LocalSeq)))},
		{dav("getcontenttype"), "text/calendar; charset=utf-8; component=vevent"},
		{dav("getcontentlength"), strconv.FormatInt(o.Size, 10)},
		{dav("getlastmodified"), o.UpdatedAt.Format(http.TimeFormat)},
		{dav("current-user-principal"), hrefElement(principalPath(account))},
		{dav("current-user-privilege-set"), s.privileges()},
	}
	if o.Data != nil {
		ps = append(ps, prop{caldavN("calendar-data"), escape(string(o.Data))})
	}
	return ps
}

// wantsData reports whether a request asked for calendar-data by name.
func wantsData(req propRequest) bool {
	for _, n := range req.props {
		if n == caldavN("calendar-data") {
			return true
		}
	}
	return false
}

// propfind serves PROPFIND on the calendar-home-set, a calendar (Depth 1
// lists its objects; infinity is taken as 1) and an object.
func (s *Server) propfind(w http.ResponseWriter, r *http.Request, t target) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	req, err := parsePropfind(body)
	if err != nil {
		http.Error(w, "The PROPFIND body is not a DAV:propfind: "+err.Error(), http.StatusBadRequest)
		return
	}
	deep := r.Header.Get("Depth") != "0"
	ctx := r.Context()
	ms := newMultistatus()
	switch t.kind {
	case kindHome:
		ms.add(homePath(t.account), s.homeProps(t.account), req)
		if deep {
			cals, err := s.opts.DB.Calendars(ctx, t.account)
			if err != nil {
				s.fail(w, r, "list calendars", err)
				return
			}
			for _, c := range cals {
				seq, _, err := s.opts.DB.CalLocalSeq(ctx, c.ID)
				if err != nil {
					s.fail(w, r, "read calendar", err)
					return
				}
				ms.add(calendarPath(t.account, c), s.calendarProps(t.account, c, seq), req)
			}
		}
	case kindCalendar:
		seq, _, err := s.opts.DB.CalLocalSeq(ctx, t.cal.ID)
		if err != nil {
			s.fail(w, r, "read calendar", err)
			return
		}
		ms.add(calendarPath(t.account, t.cal), s.calendarProps(t.account, t.cal, seq), req)
		if deep {
			objs, err := s.opts.DB.LocalCalObjects(ctx, t.cal.ID, wantsData(req), 0, seq)
			if err != nil {
				s.fail(w, r, "list objects", err)
				return
			}
			for _, o := range objs {
				ms.add(objectPath(t.account, t.cal, o.Href), s.objectProps(t.account, o), req)
			}
		}
	case kindObject:
		o, ok := s.object(w, r, t)
		if !ok {
			return
		}
		ms.add(objectPath(t.account, t.cal, o.Href), s.objectProps(t.account, o), req)
	}
	ms.write(w, "")
}

// object finds the visible object a request names; it answers 404 (or a
// local fault) itself.
func (s *Server) object(w http.ResponseWriter, r *http.Request, t target) (store.LocalCalObject, bool) {
	o, err := s.opts.DB.LocalCalObjectAt(r.Context(), t.cal.ID, hrefs(t.cal, t.name)...)
	if errors.Is(err, store.ErrNotFound) || err == nil && o.LocalState == store.CalDeleted {
		http.Error(w, "No such event", http.StatusNotFound)
		return o, false
	}
	if err != nil {
		s.fail(w, r, "read object", err)
		return o, false
	}
	return o, true
}

// get serves an object's data byte for byte, as the provider sent it or
// the client stored it.
func (s *Server) get(w http.ResponseWriter, r *http.Request, t target) {
	o, ok := s.object(w, r, t)
	if !ok {
		return
	}
	etag := quoted(calsync.LocalETag(o.LocalSeq))
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Last-Modified", o.UpdatedAt.Format(http.TimeFormat))
	if inm := r.Header.Get("If-None-Match"); inm != "" && matches(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "text/calendar; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(o.Data)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(o.Data)
}

// matches reports whether an If-None-Match / If-Match list names etag
// (weak or strong) or is "*".
func matches(list, etag string) bool {
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimPrefix(strings.TrimSpace(e), "W/")
		if e == "*" || e == etag {
			return true
		}
	}
	return false
}

// precondition reads a write's If-Match / If-None-Match. Of a list in
// If-Match only the first tag is checked: a client only ever has one
// version of an object.
func precondition(r *http.Request) calsync.Precondition {
	var p calsync.Precondition
	if im := strings.TrimSpace(r.Header.Get("If-Match")); im != "" {
		first, _, _ := strings.Cut(im, ",")
		first = strings.TrimPrefix(strings.TrimSpace(first), "W/")
		p.IfMatch = strings.Trim(first, `"`)
		if first != "*" && p.IfMatch == "" || p.IfMatch == "*" && first != "*" {
			p.IfMatch = "\x00" // an empty (or quoted "*") tag matches nothing
		}
	}
	if inm := strings.TrimSpace(r.Header.Get("If-None-Match")); inm == "*" {
		p.IfNoneMatch = true
	}
	return p
}

// validName: a name a client may create an object under.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && len(name) <= 255 && !strings.ContainsAny(name, "/\\\x00")
}

// put stores a client's object through calsync.Local.
func (s *Server) put(w http.ResponseWriter, r *http.Request, t target) {
	if s.opts.Local == nil {
		http.Error(w, "This endpoint is read-only", http.StatusForbidden)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "text/calendar" {
			davError(w, http.StatusUnsupportedMediaType, caldavN("supported-calendar-data"),
				"A calendar stores iCalendar objects (Content-Type: text/calendar), not "+ct)
			return
		}
	}
	if !validName(t.name) {
		http.Error(w, "Not a valid name for an event", http.StatusBadRequest)
		return
	}
	data, ok := s.readBody(w, r)
	if !ok {
		return
	}
	href := hrefs(t.cal, t.name)[0]
	if cur, err := s.opts.DB.LocalCalObjectAt(r.Context(), t.cal.ID, hrefs(t.cal, t.name)...); err == nil {
		href = cur.Href // stored under the provider's spelling
	} else if !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, "read object", err)
		return
	}
	etag, created, err := s.opts.Local.PutAt(r.Context(), t.cal.ID, href, data, precondition(r))
	switch {
	case errors.Is(err, calsync.ErrPrecondition):
		http.Error(w, "The event changed since you read it (If-Match), or exists already (If-None-Match)", http.StatusPreconditionFailed)
		return
	case errors.Is(err, calsync.ErrBadData):
		davError(w, http.StatusBadRequest, caldavN("valid-calendar-data"), err.Error())
		return
	case errors.Is(err, calsync.ErrUIDConflict):
		davError(w, http.StatusConflict, caldavN("no-uid-conflict"), err.Error())
		return
	case errors.Is(err, calsync.ErrBusy):
		w.Header().Set("Retry-After", "2")
		http.Error(w, err.Error(), http.StatusConflict)
		return
	case err != nil:
		s.fail(w, r, "store event", err)
		return
	}
	s.log.Debug("event stored by a CalDAV client", "account", t.account, "calendar", t.cal.ID, "created", created)
	w.Header().Set("ETag", quoted(etag))
	if created {
		w.WriteHeader(http.StatusCreated)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// delete hides an object and queues its deletion through calsync.Local.
func (s *Server) delete(w http.ResponseWriter, r *http.Request, t target) {
	if s.opts.Local == nil {
		http.Error(w, "This endpoint is read-only", http.StatusForbidden)
		return
	}
	o, ok := s.object(w, r, t)
	if !ok {
		return
	}
	err := s.opts.Local.DeleteAt(r.Context(), t.cal.ID, o.Href, precondition(r))
	switch {
	case errors.Is(err, calsync.ErrPrecondition):
		http.Error(w, "The event changed since you read it (If-Match)", http.StatusPreconditionFailed)
		return
	case errors.Is(err, store.ErrNotFound):
		http.Error(w, "No such event", http.StatusNotFound)
		return
	case err != nil:
		s.fail(w, r, "delete event", err)
		return
	}
	s.log.Debug("event deleted by a CalDAV client", "account", t.account, "calendar", t.cal.ID)
	w.WriteHeader(http.StatusNoContent)
}
