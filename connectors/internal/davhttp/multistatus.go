package davhttp

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
)

// NSDAV is the namespace of WebDAV's own elements.
const NSDAV = "DAV:"

// Response is one DAV:response of a multistatus, with the properties P
// (a struct of the properties a connector asked for) of each propstat.
type Response[P any] struct {
	Hrefs    []string      `xml:"DAV: href"`
	Status   string        `xml:"DAV: status"`
	Propstat []Propstat[P] `xml:"DAV: propstat"`
}

// Propstat is one DAV:propstat: properties that share a status.
type Propstat[P any] struct {
	Prop   P      `xml:"DAV: prop"`
	Status string `xml:"DAV: status"`
}

// Href is the response's (first) href; RFC 4918 allows several only for
// a status shared by all, which no request of ours provokes.
func (r *Response[P]) Href() string {
	if len(r.Hrefs) == 0 {
		return ""
	}
	return r.Hrefs[0]
}

// StatusCode is the response-level status code, 0 when there is none
// (the properties then carry theirs).
func (r *Response[P]) StatusCode() int { return StatusCode(r.Status) }

// OK yields the properties of every successful propstat. A property the
// server could not give sits in a 404 propstat, often as an empty
// element: it must not count as present.
func (r *Response[P]) OK() iter.Seq[*P] {
	return func(yield func(*P) bool) {
		for i := range r.Propstat {
			ps := &r.Propstat[i]
			if code := StatusCode(ps.Status); code != 0 && (code < 200 || code > 299) {
				continue
			}
			if !yield(&ps.Prop) {
				return
			}
		}
	}
}

// StatusCode reads "HTTP/1.1 404 Not Found"; 0 when s is empty or bad.
func StatusCode(s string) int {
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

// ErrNotMultistatus: a 207 whose body is something else.
var ErrNotMultistatus = errors.New("the answer is not a DAV:multistatus")

// ReadMultistatus decodes a multistatus answer one response at a time,
// calling fn for each, and returns the top-level DAV:sync-token ("" when
// none). Only one response is in memory at a time. An error returned by
// fn stops the reading; CallbackErr (or ReadErr) gets it back unchanged.
func ReadMultistatus[P any](body io.Reader, fn func(*Response[P]) error) (syncToken string, err error) {
	d := xml.NewDecoder(body)
	root := true
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if root {
				return "", ErrNotMultistatus
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
			if se.Name != (xml.Name{Space: NSDAV, Local: "multistatus"}) {
				return "", ErrNotMultistatus
			}
			root = false
			continue
		}
		switch se.Name {
		case xml.Name{Space: NSDAV, Local: "response"}:
			var r Response[P]
			if err := d.DecodeElement(&r, &se); err != nil {
				return "", fmt.Errorf("read multistatus: %w", err)
			}
			if err := fn(&r); err != nil {
				return "", callbackError{err}
			}
		case xml.Name{Space: NSDAV, Local: "sync-token"}:
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
// decoder, so it can be told apart from a read failure.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }
func (e callbackError) Unwrap() error { return e.err }

// CallbackErr returns the callback's error carried by an error of
// ReadMultistatus; nil when err is a read failure instead.
func CallbackErr(err error) error {
	var cb callbackError
	if errors.As(err, &cb) {
		return cb.err
	}
	return nil
}

// Precondition reads the first child of a DAV:error body (RFC 4918 §16:
// the precondition or postcondition that failed), such as
// {DAV:}valid-sync-token or {DAV:}propfind-finite-depth. Zero when the
// body is no such element.
func Precondition(body []byte) xml.Name {
	d := xml.NewDecoder(strings.NewReader(string(body)))
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.Name{}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 && t.Name != (xml.Name{Space: NSDAV, Local: "error"}) {
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
