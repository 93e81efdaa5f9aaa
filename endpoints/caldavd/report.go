package caldavd

import (
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/holdover/holdover/store"
)

type syncCollectionBody struct {
	XMLName   xml.Name `xml:"DAV: sync-collection"`
	SyncToken string   `xml:"DAV: sync-token"`
	// sync-level is not read: a calendar holds no collections, so 1 and
	// infinite answer the same.
	Prop *anyNames `xml:"DAV: prop"`
}

// syncCollection answers RFC 6578's REPORT on a calendar: what changed
// and what left since the client's token (everything, for no token),
// and the token to ask from next. The counts read are bounded by the
// calendar's count read first, so a change made meanwhile is reported
// next time, never lost between two tokens.
func (s *Server) syncCollection(w http.ResponseWriter, r *http.Request, t target, body []byte) {
	var sc syncCollectionBody
	if err := xml.Unmarshal(body, &sc); err != nil {
		http.Error(w, "The REPORT body is not a DAV:sync-collection: "+err.Error(), http.StatusBadRequest)
		return
	}
	req := sc.Prop.request()
	ctx := r.Context()
	now, base, err := s.opts.DB.CalLocalSeq(ctx, t.cal.ID)
	if err != nil {
		s.fail(w, r, "read calendar", err)
		return
	}
	var since int64
	if tok := strings.TrimSpace(sc.SyncToken); tok != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(tok, syncTokenPrefix), 10, 64)
		if err != nil || !strings.HasPrefix(tok, syncTokenPrefix) || n < base || n > now {
			davError(w, http.StatusForbidden, dav("valid-sync-token"), "This sync-token is not one of this calendar's: list it again from the start")
			return
		}
		since = n
	}
	objs, err := s.opts.DB.LocalCalObjects(ctx, t.cal.ID, wantsData(req), since, now)
	if err != nil {
		s.fail(w, r, "list changed objects", err)
		return
	}
	var removed []string
	if since > 0 {
		if removed, err = s.opts.DB.LocalCalRemoved(ctx, t.cal.ID, since, now); err != nil {
			s.fail(w, r, "list removed objects", err)
			return
		}
	}
	ms := newMultistatus()
	for _, o := range objs {
		ms.add(objectPath(t.account, t.cal, o.Href), s.objectProps(t.account, o), req)
	}
	for _, h := range removed {
		ms.gone(objectPath(t.account, t.cal, h))
	}
	ms.write(w, "<d:sync-token>"+escape(syncToken(now))+"</d:sync-token>")
}

type multigetBody struct {
	XMLName xml.Name  `xml:"urn:ietf:params:xml:ns:caldav calendar-multiget"`
	Prop    *anyNames `xml:"DAV: prop"`
	Hrefs   []string  `xml:"DAV: href"`
}

// multiget answers calendar-multiget: the objects named, each with the
// properties asked for (calendar-data byte for byte); a name that is not
// an object of this calendar is 404 in its own response.
func (s *Server) multiget(w http.ResponseWriter, r *http.Request, t target, body []byte) {
	var mg multigetBody
	if err := xml.Unmarshal(body, &mg); err != nil {
		http.Error(w, "The REPORT body is not a CALDAV:calendar-multiget: "+err.Error(), http.StatusBadRequest)
		return
	}
	req := mg.Prop.request()
	ms := newMultistatus()
	for _, raw := range mg.Hrefs {
		raw = strings.TrimSpace(raw)
		p := raw
		if u, err := url.Parse(raw); err == nil {
			p = u.Path
		}
		ot, err := s.resolve(r, p)
		if err != nil || ot.kind != kindObject || ot.cal.ID != t.cal.ID {
			ms.gone(p)
			continue
		}
		o, err := s.opts.DB.LocalCalObjectAt(r.Context(), ot.cal.ID, hrefs(ot.cal, ot.name)...)
		if errors.Is(err, store.ErrNotFound) || err == nil && o.LocalState == store.CalDeleted {
			ms.gone(p)
			continue
		}
		if err != nil {
			s.fail(w, r, "read object", err)
			return
		}
		if !wantsData(req) {
			o.Data = nil
		}
		ms.add(p, s.objectProps(t.account, o), req)
	}
	ms.write(w, "")
}
