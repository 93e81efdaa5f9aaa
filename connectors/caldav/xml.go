package caldav

import (
	"encoding/xml"
	"io"
	"strings"

	"github.com/holdover/holdover/connectors/internal/davhttp"
)

// XML namespaces of the properties used.
const (
	nsDAV    = davhttp.NSDAV
	nsCalDAV = "urn:ietf:params:xml:ns:caldav"
	nsCS     = "http://calendarserver.org/ns/" // getctag
	nsApple  = "http://apple.com/ns/ical/"     // calendar-color
)

// response is one DAV:response of a multistatus. Only the properties
// asked for by this package are decoded; the rest is skipped.
type response = davhttp.Response[prop]

type prop struct {
	ResourceType *resourceType `xml:"DAV: resourcetype"`
	DisplayName  *string       `xml:"DAV: displayname"`
	ETag         *string       `xml:"DAV: getetag"`
	SyncToken    *string       `xml:"DAV: sync-token"`
	Principal    *hrefList     `xml:"DAV: current-user-principal"`
	HomeSet      *hrefList     `xml:"urn:ietf:params:xml:ns:caldav calendar-home-set"`
	Components   *compSet      `xml:"urn:ietf:params:xml:ns:caldav supported-calendar-component-set"`
	CalendarData *chardata     `xml:"urn:ietf:params:xml:ns:caldav calendar-data"`
	CTag         *string       `xml:"http://calendarserver.org/ns/ getctag"`
	Color        *string       `xml:"http://apple.com/ns/ical/ calendar-color"`
}

type resourceType struct {
	Collection *struct{} `xml:"DAV: collection"`
	Calendar   *struct{} `xml:"urn:ietf:params:xml:ns:caldav calendar"`
}

type hrefList struct {
	Hrefs []string `xml:"DAV: href"`
}

type compSet struct {
	Comps []struct {
		Name string `xml:"name,attr"`
	} `xml:"urn:ietf:params:xml:ns:caldav comp"`
}

type chardata struct {
	Data []byte `xml:",chardata"`
}

// props merges the properties of every successful propstat.
func props(r *response) prop {
	var p prop
	for q := range r.OK() {
		p.ResourceType = pick(p.ResourceType, q.ResourceType)
		p.DisplayName = pick(p.DisplayName, q.DisplayName)
		p.ETag = pick(p.ETag, q.ETag)
		p.SyncToken = pick(p.SyncToken, q.SyncToken)
		p.Principal = pick(p.Principal, q.Principal)
		p.HomeSet = pick(p.HomeSet, q.HomeSet)
		p.Components = pick(p.Components, q.Components)
		p.CalendarData = pick(p.CalendarData, q.CalendarData)
		p.CTag = pick(p.CTag, q.CTag)
		p.Color = pick(p.Color, q.Color)
	}
	return p
}

func pick[T any](have, next *T) *T {
	if have != nil {
		return have
	}
	return next
}

func (p prop) isCollection() bool { return p.ResourceType != nil && p.ResourceType.Collection != nil }
func (p prop) isCalendar() bool   { return p.ResourceType != nil && p.ResourceType.Calendar != nil }

// str is a text property, trimmed; "" when absent.
func str(s *string) string {
	if s == nil {
		return ""
	}
	return strings.TrimSpace(*s)
}

// etag is a getetag value, quoted the way HTTP headers carry it.
func etag(s *string) string { return quoteETag(str(s)) }

func quoteETag(e string) string { return davhttp.QuoteETag(e) }

// readMultistatus decodes a multistatus answer one response at a time
// (see davhttp.ReadMultistatus).
func readMultistatus(body io.Reader, fn func(*response) error) (syncToken string, err error) {
	return davhttp.ReadMultistatus(body, fn)
}

// propfindBody is a PROPFIND request body for the given properties, each
// written as "namespace local".
func propfindBody(props ...string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` +
		`<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"` +
		` xmlns:CS="http://calendarserver.org/ns/" xmlns:A="http://apple.com/ns/ical/"><D:prop>`)
	for _, p := range props {
		b.WriteString("<" + p + "/>")
	}
	b.WriteString(`</D:prop></D:propfind>`)
	return []byte(b.String())
}

// syncCollectionBody asks for changes since token (RFC 6578 §3.2), with
// each member's ETag.
func syncCollectionBody(token string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` +
		`<D:sync-collection xmlns:D="DAV:"><D:sync-token>`)
	xml.EscapeText(&b, []byte(token))
	b.WriteString(`</D:sync-token><D:sync-level>1</D:sync-level>` +
		`<D:prop><D:getetag/></D:prop></D:sync-collection>`)
	return []byte(b.String())
}

// multigetBody asks for the ETag and data of each href (RFC 4791 §7.9).
func multigetBody(hrefs []string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` +
		`<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">` +
		`<D:prop><D:getetag/><C:calendar-data/></D:prop>`)
	for _, h := range hrefs {
		b.WriteString("<D:href>")
		xml.EscapeText(&b, []byte(h))
		b.WriteString("</D:href>")
	}
	b.WriteString(`</C:calendar-multiget>`)
	return []byte(b.String())
}
