package caldavd

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The WebDAV XML this package writes itself: multistatus answers built
// from property values rendered once, with fixed prefixes for the
// namespaces CalDAV clients use. Values are escaped here (escape), so no
// client-sent or provider-sent text can break the document.

const (
	nsDAV    = "DAV:"
	nsCalDAV = "urn:ietf:params:xml:ns:caldav"
	nsCS     = "http://calendarserver.org/ns/"
	nsICal   = "http://apple.com/ns/ical/"

	xmlHeader = `<?xml version="1.0" encoding="utf-8"?>` + "\n"
)

var prefixes = map[string]string{nsDAV: "d", nsCalDAV: "c", nsCS: "cs", nsICal: "ic"}

func dav(local string) xml.Name     { return xml.Name{Space: nsDAV, Local: local} }
func caldavN(local string) xml.Name { return xml.Name{Space: nsCalDAV, Local: local} }

// element renders <name>inner</name> (inner already escaped).
func element(n xml.Name, inner string) string {
	open, close := tagOf(n)
	if inner == "" {
		return strings.TrimSuffix(open, ">") + "/>"
	}
	return open + inner + close
}

func tagOf(n xml.Name) (open, close string) {
	if p, ok := prefixes[n.Space]; ok {
		return "<" + p + ":" + n.Local + ">", "</" + p + ":" + n.Local + ">"
	}
	if n.Space == "" {
		return "<" + n.Local + ` xmlns="">`, "</" + n.Local + ">"
	}
	return `<x:` + n.Local + ` xmlns:x="` + escape(n.Space) + `">`, "</x:" + n.Local + ">"
}

// escape makes text safe as XML character data or an attribute value.
// CR is kept as a reference (XML parsers would fold CRLF into LF), and
// what XML cannot carry (invalid UTF-8, control characters) becomes
// U+FFFD.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '"':
			b.WriteString("&quot;")
		case r == '\r':
			b.WriteString("&#13;")
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == utf8.RuneError && n == 1, r < 0x20, r == 0xFFFE, r == 0xFFFF:
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// hrefElement renders a path as <d:href>, percent-encoded.
func hrefElement(p string) string {
	return "<d:href>" + escape((&url.URL{Path: p}).EscapedPath()) + "</d:href>"
}

// prop is one property a resource has: its name and rendered value.
type prop struct {
	name  xml.Name
	value string // escaped inner XML
}

// props are a resource's properties, in the order allprop lists them.
type props []prop

func (ps props) find(n xml.Name) (prop, bool) {
	for _, p := range ps {
		if p.name == n {
			return p, true
		}
	}
	return prop{}, false
}

// propRequest is what a PROPFIND or REPORT asked for.
type propRequest struct {
	all   bool // allprop (or no body)
	names bool // propname
	props []xml.Name
}

// anyNames collects the names of the child elements of <d:prop>.
type anyNames struct {
	Names []struct {
		XMLName xml.Name
	} `xml:",any"`
}

func (a *anyNames) request() propRequest {
	if a == nil {
		return propRequest{all: true}
	}
	var pr propRequest
	for _, n := range a.Names {
		pr.props = append(pr.props, n.XMLName)
	}
	return pr
}

type propfindBody struct {
	XMLName  xml.Name  `xml:"DAV: propfind"`
	Prop     *anyNames `xml:"DAV: prop"`
	AllProp  *struct{} `xml:"DAV: allprop"`
	PropName *struct{} `xml:"DAV: propname"`
}

func parsePropfind(body []byte) (propRequest, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return propRequest{all: true}, nil
	}
	var pf propfindBody
	if err := xml.Unmarshal(body, &pf); err != nil {
		return propRequest{}, err
	}
	switch {
	case pf.PropName != nil:
		return propRequest{names: true}, nil
	case pf.Prop != nil:
		return pf.Prop.request(), nil
	}
	return propRequest{all: true}, nil
}

// rootElement is the name of a document's root element.
func rootElement(body []byte) (xml.Name, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return xml.Name{}, errors.New("no root element")
		}
		if err != nil {
			return xml.Name{}, err
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name, nil
		}
	}
}

// multistatus collects <d:response> elements.
type multistatus struct {
	b strings.Builder
}

func newMultistatus() *multistatus {
	m := &multistatus{}
	m.b.WriteString(xmlHeader + `<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/" xmlns:ic="http://apple.com/ns/ical/">`)
	return m
}

// add answers req for the resource at p that has ps.
func (m *multistatus) add(p string, ps props, req propRequest) {
	m.b.WriteString("<d:response>" + hrefElement(p))
	var found, missing []string
	switch {
	case req.names:
		for _, pr := range ps {
			found = append(found, element(pr.name, ""))
		}
	case req.all:
		for _, pr := range ps {
			if pr.name == caldavN("calendar-data") {
				continue // only when asked for by name
			}
			found = append(found, element(pr.name, pr.value))
		}
	default:
		for _, n := range req.props {
			if pr, ok := ps.find(n); ok {
				found = append(found, element(n, pr.value))
			} else {
				missing = append(missing, element(n, ""))
			}
		}
	}
	if len(found) > 0 || len(missing) == 0 {
		m.b.WriteString("<d:propstat><d:prop>" + strings.Join(found, "") + "</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>")
	}
	if len(missing) > 0 {
		m.b.WriteString("<d:propstat><d:prop>" + strings.Join(missing, "") + "</d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>")
	}
	m.b.WriteString("</d:response>")
}

// gone answers a resource that is not there (multiget, sync-collection).
func (m *multistatus) gone(p string) {
	m.b.WriteString("<d:response>" + hrefElement(p) + "<d:status>HTTP/1.1 404 Not Found</d:status></d:response>")
}

func (m *multistatus) write(w http.ResponseWriter, trailer string) {
	m.b.WriteString(trailer + "</d:multistatus>")
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(m.b.Len()))
	w.WriteHeader(http.StatusMultiStatus)
	io.WriteString(w, m.b.String())
}

// davError answers a failed precondition with its DAV:error element.
func davError(w http.ResponseWriter, status int, condition xml.Name, text string) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, xmlHeader+`<d:error xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">`+element(condition, "")+
		"<d:responsedescription>"+escape(text)+"</d:responsedescription></d:error>")
}
