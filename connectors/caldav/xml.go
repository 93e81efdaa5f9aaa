package caldav

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// XML namespaces of the properties used.
const (
	nsDAV    = "DAV:"
	nsCalDAV = "urn:ietf:params:xml:ns:caldav"
	nsCS     = "http://calendarserver.org/ns/" // getctag
	nsApple  = "http://apple.com/ns/ical/"     // calendar-color
)

// response is one DAV:response of a multistatus. Only the properties
// asked for by this package are decoded; the rest is skipped.
type response struct {
	Hrefs    []string   `xml:"DAV: href"`
	Status   string     `xml:"DAV: status"`
	Propstat []propstat `xml:"DAV: propstat"`
}

type propstat struct {
	Prop   prop   `xml:"DAV: prop"`
	Status string `xml:"DAV: status"`
}

// prop holds the properties of interest; nil means absent.
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

// href is the response's (first) href; RFC 4918 allows several only for
// a status shared by all, which no request here provokes.
func (r *response) href() string {
	if len(r.Hrefs) == 0 {
		return ""
	}
	return r.Hrefs[0]
}

// status is the response-level status code, 0 when there is none (the
// properties then carry theirs).
func (r *response) status() int { return statusCode(r.Status) }

// props merges the properties of every successful propstat. A property
// the server could not give sits in a 404 propstat, often as an empty
// element: it must not count as present.
func (r *response) props() prop {
	var p prop
	for i := range r.Propstat {
		ps := &r.Propstat[i]
		if code := statusCode(ps.Status); code != 0 && (code < 200 || code > 299) {
			continue
		}
		q := ps.Prop
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

// etag is a getetag value, quoted the way HTTP headers carry it: some
// servers send the property bare, and the header and the property must
// compare equal.
func etag(s *string) string { return quoteETag(str(s)) }

func quoteETag(e string) string {
	if e == "" || strings.HasPrefix(e, `"`) || strings.HasPrefix(e, `W/"`) {
		return e
	}
	return `"` + e + `"`
}

// statusCode reads "HTTP/1.1 404 Not Found"; 0 when s is empty or bad.
func statusCode(s string) int {
	f := strings.Fields(s)
	if len(f) < 2 {
		return 0
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return 0
	}
	return n
}

// errNotMultistatus: a 207 whose body is something else.
var errNotMultistatus = errors.New("the answer is not a DAV:multistatus")

// readMultistatus decodes a multistatus answer one response at a time,
// calling fn for each, and returns the top-level DAV:sync-token ("" when
// none). An error returned by fn is returned as is.
func readMultistatus(body io.Reader, fn func(*response) error) (syncToken string, err error) {
	d := xml.NewDecoder(body)
	root := true
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if root {
				return "", errNotMultistatus
			}
			return syncToken, nil
		}
		if err != nil {
			return "", fmt.Errorf("read multistatus: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if root {
			if se.Name != (xml.Name{Space: nsDAV, Local: "multistatus"}) {
				return "", errNotMultistatus
			}
			root = false
			continue
		}
		switch se.Name {
		case xml.Name{Space: nsDAV, Local: "response"}:
			var r response
			if err := d.DecodeElement(&r, &se); err != nil {
				return "", fmt.Errorf("read multistatus: %w", err)
			}
			if err := fn(&r); err != nil {
				return "", callbackError{err}
			}
		case xml.Name{Space: nsDAV, Local: "sync-token"}:
			// Responses are decoded whole above, so a sync-token seen
			// here is the multistatus's own.
			var s string
			if err := d.DecodeElement(&s, &se); err != nil {
				return "", fmt.Errorf("read multistatus: %w", err)
			}
			syncToken = strings.TrimSpace(s)
		default:
			if err := d.Skip(); err != nil {
				return "", fmt.Errorf("read multistatus: %w", err)
			}
		}
	}
}

// callbackError carries an error of the caller's callback through the
// decoder, so it is returned unclassified and unchanged.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }
func (e callbackError) Unwrap() error { return e.err }

// precondition reads the first child of a DAV:error body (RFC 4918
// §16: the precondition or postcondition that failed), such as
// {DAV:}valid-sync-token or {urn:…caldav}no-uid-conflict. Zero when the
// body is no such element.
func precondition(body []byte) xml.Name {
	d := xml.NewDecoder(strings.NewReader(string(body)))
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.Name{}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 && t.Name != (xml.Name{Space: nsDAV, Local: "error"}) {
				return xml.Name{}
			}
			if depth == 1 {
				return t.Name
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
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
