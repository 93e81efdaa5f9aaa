package ical

import (
	"bytes"
	"fmt"
	"strings"

	goical "github.com/emersion/go-ical"
)

// This file reads content lines (RFC 5545 §3.1) into go-ical's component
// tree. go-ical's own Decoder is not used for data from a server because
//   - it panics on some malformed lines (a parameter without a colon after
//     it, `X;A="b"c:d`), so one bad object could take the daemon down;
//   - it builds quoted and unquoted parameter values one byte at a time
//     with string concatenation, quadratic in the value's length;
//   - one malformed line or a missing END fails the whole object, where a
//     calendar should still show what it can;
//   - it recurses once per BEGIN, so nesting depth is the input's to choose.
// This reader is linear in the input, never panics, bounds nesting, keeps
// only the properties its caller asks for (a 10,000-attendee event costs
// no allocation per attendee) and says what it repaired.

// maxDepth bounds component nesting. Real objects nest three deep
// (VCALENDAR > VEVENT > VALARM; VTIMEZONE > STANDARD).
const maxDepth = 8

// logicalLine is one unfolded content line.
type logicalLine struct {
	start, end int    // byte range in the input, folds and terminator included
	text       []byte // unfolded, without terminator; valid until the next call
	repaired   bool   // a line without a leading space was taken as a continuation
	dropped    int    // unparsable lines skipped just before this one
}

// lineReader splits input into logical lines. CRLF, bare LF and bare CR
// all end a physical line; a physical line starting with a space or tab
// continues the previous one. Folding is undone on bytes, so a UTF-8
// sequence folded in its middle comes back whole.
type lineReader struct {
	data    []byte
	pos     int
	scratch []byte
}

func newLineReader(data []byte) *lineReader {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 BOM some exporters write
	return &lineReader{data: data}
}

// physical returns the physical line at p: its content end and the start
// of the next line.
func (r *lineReader) physical(p int) (contentEnd, next int) {
	// Two IndexByte scans beat one IndexAny, which builds its byte set
	// on every call: this is the reader's hottest line.
	rest := r.data[p:]
	i := bytes.IndexByte(rest, '\n')
	if i < 0 {
		i = len(rest)
	}
	if c := bytes.IndexByte(rest[:i], '\r'); c >= 0 {
		i = c
	}
	if i == len(rest) {
		return len(r.data), len(r.data)
	}
	e := p + i
	if r.data[e] == '\r' && e+1 < len(r.data) && r.data[e+1] == '\n' {
		return e, e + 2
	}
	return e, e + 1
}

// next returns the next non-empty logical line, or false at the end.
func (r *lineReader) next() (logicalLine, bool) {
	var ln logicalLine
	for r.pos < len(r.data) {
		start := r.pos
		ce, nx := r.physical(start)
		if ce == start { // an empty line; RFC 5545 has none, exporters do
			r.pos = nx
			continue
		}
		if !startsProperty(r.data[start:ce]) && !isSpace(r.data[start]) {
			// Neither a property nor a continuation, and nothing before
			// it to continue: skip it.
			ln.dropped++
			r.pos = nx
			continue
		}
		ln.start = start
		ln.text = r.data[start:ce]
		joined := false
		for nx < len(r.data) {
			c := r.data[nx]
			ce2, nx2 := r.physical(nx)
			var part []byte
			switch {
			case isSpace(c):
				part = r.data[nx+1 : ce2]
			case c != '\r' && c != '\n' && !startsProperty(r.data[nx:ce2]) && !isBeginEnd(ln.text):
				// A fold whose leading space was lost: the text cannot
				// start a property, so it must continue this one.
				part = r.data[nx:ce2]
				ln.repaired = true
			}
			if part == nil {
				break // an empty line or a new property ends this one
			}
			if !joined {
				r.scratch = append(r.scratch[:0], ln.text...)
				joined = true
			}
			r.scratch = append(r.scratch, part...)
			ln.text = r.scratch
			nx = nx2
		}
		ln.end = nx
		r.pos = nx
		return ln, true
	}
	return ln, false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// indexDelim is bytes.IndexAny for a few ASCII delimiters, without the
// set IndexAny builds on every call.
func indexDelim(b []byte, delims string) int {
	for i, c := range b {
		if strings.IndexByte(delims, c) >= 0 {
			return i
		}
	}
	return -1
}

// startsProperty reports whether line begins with a property name (an
// iana-token or x-name: letters, digits, dashes, and the underscores
// some producers put in x-names) followed by ';' or ':'.
func startsProperty(line []byte) bool {
	for i, c := range line {
		switch {
		case c == ';' || c == ':':
			return i > 0
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return false
}

func isBeginEnd(text []byte) bool {
	return len(text) >= 4 && (bytes.EqualFold(text[:4], []byte("END:")) ||
		len(text) >= 6 && bytes.EqualFold(text[:6], []byte("BEGIN:")))
}

// nameOf returns the upper-cased property name of a line that passed
// startsProperty, and what follows it. For a name this package does not
// read, name is "" unless all is set: skipping such a line allocates
// nothing.
func nameOf(text []byte, all bool) (name string, rest []byte) {
	i := indexDelim(text, ";:")
	var buf [32]byte
	if i <= len(buf) {
		n := buf[:i]
		for j, c := range text[:i] {
			if c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			n[j] = c
		}
		if k, ok := known[string(n)]; ok {
			return k, text[i:]
		}
		if all {
			return string(n), text[i:]
		}
		return "", text[i:]
	}
	if all {
		return strings.ToUpper(string(text[:i])), text[i:]
	}
	return "", text[i:]
}

// known interns the names this package reads, so that looking them up
// costs no allocation.
var known = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"BEGIN", "END", "UID", "SUMMARY", "LOCATION",
		"DESCRIPTION", "DTSTART", "DTEND", "DUE", "DURATION", "RRULE", "RDATE",
		"EXDATE", "RECURRENCE-ID", "STATUS", "SEQUENCE", "LAST-MODIFIED",
		"DTSTAMP", "TZID", "TZOFFSETFROM", "TZOFFSETTO", "TZNAME", "EXRULE"} {
		m[n] = n
	}
	return m
}()

// parseProp parses what follows the name: parameters, then ':' and the
// value. ok is false when the line cannot be read as a property.
// Malformed parameters are skipped rather than failing the line.
func parseProp(name string, rest []byte) (p goical.Prop, ok bool) {
	p.Name = name
	for len(rest) > 0 && rest[0] == ';' {
		rest = rest[1:]
		eq := indexDelim(rest, "=;:")
		if eq < 0 {
			return p, false
		}
		if rest[eq] != '=' || eq == 0 {
			rest = rest[eq:] // "X;FOO:v": a parameter without '='; skip it
			continue
		}
		pname := strings.ToUpper(string(rest[:eq]))
		rest = rest[eq+1:]
		for {
			var v []byte
			if len(rest) > 0 && rest[0] == '"' {
				q := bytes.IndexByte(rest[1:], '"')
				if q < 0 {
					return p, false
				}
				v, rest = rest[1:1+q], rest[2+q:]
				// Anything between the closing quote and the next
				// delimiter is junk; drop it.
				if d := indexDelim(rest, ",;:"); d > 0 {
					rest = rest[d:]
				}
			} else {
				d := indexDelim(rest, ",;:")
				if d < 0 {
					return p, false
				}
				v, rest = rest[:d], rest[d:]
			}
			if p.Params == nil {
				p.Params = goical.Params{}
			}
			p.Params[pname] = append(p.Params[pname], string(v))
			if len(rest) == 0 || rest[0] != ',' {
				break
			}
			rest = rest[1:]
		}
	}
	if len(rest) == 0 || rest[0] != ':' {
		return p, false
	}
	p.Value = string(rest[1:])
	return p, true
}

// decoded is a component tree and what was odd about the text.
type decoded struct {
	root     *goical.Component
	warnings []string
	spans    map[*goical.Component]*span // only when asked for (Edit)
}

// span locates a component and its own property lines in the input.
type span struct {
	begin, endStart, end int // BEGIN line start; END line start and end (len(data) if missing)
	props                []propSpan
}

type propSpan struct {
	name       string
	start, end int
}

type decodeOptions struct {
	keepAll bool // keep every property (tests); else only the names in known
	spans   bool // record spans (Edit)
}

// decode reads the first VCALENDAR in data. The error is for input that
// has no VCALENDAR at all; everything else is repaired and reported.
func decode(data []byte, opt decodeOptions) (*decoded, error) {
	r := newLineReader(data)
	d := &decoded{}
	if opt.spans {
		d.spans = map[*goical.Component]*span{}
	}
	var stack []*goical.Component
	skipped := 0 // depth of components nested beyond maxDepth being skipped
	var dropped, repaired, badProps, strays, deep int
	done := false
	for !done {
		ln, ok := r.next()
		dropped += ln.dropped
		if !ok {
			break
		}
		if ln.repaired {
			repaired++
		}
		if !startsProperty(ln.text) { // a continuation at the very start
			dropped++
			continue
		}
		name, rest := nameOf(ln.text, opt.keepAll || opt.spans)
		switch name {
		case "BEGIN", "END":
			p, ok := parseProp(name, rest)
			if !ok {
				dropped++
				continue
			}
			comp := strings.ToUpper(strings.TrimSpace(p.Value))
			if name == "BEGIN" {
				if len(stack) == 0 && comp != goical.CompCalendar {
					continue // text before the calendar
				}
				if skipped > 0 || len(stack) >= maxDepth {
					skipped++
					deep++
					continue
				}
				c := goical.NewComponent(comp)
				if len(stack) > 0 {
					parent := stack[len(stack)-1]
					parent.Children = append(parent.Children, c)
				} else {
					d.root = c
				}
				if d.spans != nil {
					d.spans[c] = &span{begin: ln.start, endStart: len(r.data), end: len(r.data)}
				}
				stack = append(stack, c)
				continue
			}
			if skipped > 0 {
				skipped--
				continue
			}
			// Close the innermost open component of that name, and any
			// left open inside it.
			i := len(stack) - 1
			for i >= 0 && stack[i].Name != comp {
				i--
			}
			if i < 0 {
				strays++
				continue
			}
			if i < len(stack)-1 {
				d.warn("component %s was not closed", stack[len(stack)-1].Name)
			}
			if d.spans != nil {
				for _, c := range stack[i:] {
					d.spans[c].endStart, d.spans[c].end = ln.start, ln.end
				}
			}
			stack = stack[:i]
			done = len(stack) == 0
		default:
			if len(stack) == 0 || skipped > 0 {
				continue
			}
			top := stack[len(stack)-1]
			if d.spans != nil {
				sp := d.spans[top]
				sp.props = append(sp.props, propSpan{name, ln.start, ln.end})
			}
			if _, isKnown := known[name]; !opt.keepAll && !isKnown {
				continue // not read here; no allocation for it
			}
			p, ok := parseProp(name, rest)
			if !ok {
				badProps++
				continue
			}
			top.Props[name] = append(top.Props[name], p)
		}
	}
	if d.root == nil {
		return nil, ErrNotICalendar
	}
	if len(stack) > 0 {
		d.warn("truncated: END:%s missing", stack[len(stack)-1].Name)
	}
	if repaired > 0 {
		d.warn("%d folded lines had lost their leading space and were rejoined", repaired)
	}
	if dropped+badProps > 0 {
		d.warn("%d malformed lines skipped", dropped+badProps)
	}
	if strays > 0 {
		d.warn("%d END lines without a matching BEGIN ignored", strays)
	}
	if deep > 0 {
		d.warn("%d components nested deeper than %d ignored", deep, maxDepth)
	}
	if done {
		if rest := r.data[r.pos:]; bytes.Contains(bytes.ToUpper(rest), []byte("BEGIN:VCALENDAR")) {
			d.warn("only the first VCALENDAR was read")
		}
	}
	return d, nil
}

func (d *decoded) warn(format string, args ...any) {
	d.warnings = append(d.warnings, fmt.Sprintf(format, args...))
}

// unescapeText undoes TEXT escaping (RFC 5545 §3.3.11) leniently: an
// unknown escape such as Outlook's "\:" yields the character itself where
// go-ical's Prop.Text fails the whole value.
func unescapeText(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 'n', 'N':
			b.WriteByte('\n')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// escapeText is the inverse of unescapeText for values we write. CR is
// dropped: a line break is LF, escaped as \n.
func escapeText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch r {
		case '\\', ';', ',':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
