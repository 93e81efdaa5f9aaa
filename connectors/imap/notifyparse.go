package imap

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The NOTIFY session reads the server's responses itself: go-imap's
// client (v2 beta.8) drops an untagged STATUS that no STATUS command
// asked for, and has no NOTIFY command. What it needs is small: split
// the stream into responses (lines plus literals) and tell, for each,
// which folder it is about.

// Limits on what one response may hold: the session reads nothing but
// short status lines, so anything bigger is a broken or hostile server.
const (
	maxLine    = 64 << 10
	maxLiteral = 64 << 10
)

// eventKind is what a response means to the NOTIFY session.
type eventKind int

const (
	evNone       eventKind = iota // nothing to act on
	evFolder                      // a folder's messages or flags changed
	evFolderList                  // a folder was created, renamed or deleted
	evOverflow                    // the server stopped notifying (NOTIFICATIONOVERFLOW)
	evBye                         // the server is closing the connection
	evTagged                      // the completion of one of the session's commands
)

// event is one parsed response.
type event struct {
	kind   eventKind
	folder string // evFolder: the decoded name
	tag    string // evTagged
	status string // evTagged: OK, NO or BAD
	text   string // evTagged, evBye: the rest of the line, codes included
}

// readResponse returns one complete response: its line and, where the
// line announces a literal ({n} or {n+}), the literal and the rest, in
// the form the server sent them.
func readResponse(r *bufio.Reader) ([]byte, error) {
	var resp []byte
	for {
		line, err := readLine(r)
		if err != nil {
			return nil, err
		}
		resp = append(resp, line...)
		n, ok := literalAtEnd(line)
		if !ok {
			return resp, nil
		}
		if n > maxLiteral || len(resp)+n > maxLine+maxLiteral {
			return nil, fmt.Errorf("imap: a %d-byte literal in a notification", n)
		}
		lit := make([]byte, n)
		if _, err := readFull(r, lit); err != nil {
			return nil, err
		}
		resp = append(resp, lit...)
	}
}

func readFull(r *bufio.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// readLine reads up to and including LF, at most maxLine bytes.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxLine {
			return nil, errors.New("imap: notification line too long")
		}
		if err == nil {
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}

// literalAtEnd reports the size of a literal a line announces at its end.
func literalAtEnd(line []byte) (int, bool) {
	line = bytes.TrimRight(line, "\r\n")
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false
	}
	num := bytes.TrimSuffix(line[open+1:len(line)-1], []byte("+"))
	n, err := strconv.Atoi(string(num))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// parseResponse tells what a complete response means. Responses it has
// no use for are evNone; an error means the response is not IMAP.
func parseResponse(resp []byte) (event, error) {
	p := &parser{b: resp}
	tag := p.until(' ')
	if tag == "" || !p.skip(' ') {
		return event{}, fmt.Errorf("imap: malformed response %q", clip(resp))
	}
	if tag == "+" {
		return event{}, nil
	}
	if tag != "*" {
		status := strings.ToUpper(p.until(' '))
		p.skip(' ')
		return event{kind: evTagged, tag: tag, status: status, text: p.rest()}, nil
	}
	word := strings.ToUpper(p.until(' '))
	p.skip(' ')
	switch word {
	case "STATUS":
		name, err := p.astring()
		if err != nil {
			return event{}, err
		}
		folder, err := decodeMailbox(name)
		if err != nil {
			// A name it cannot decode is still a change: look at all.
			return event{kind: evFolderList}, nil
		}
		return event{kind: evFolder, folder: folder}, nil
	case "LIST":
		return event{kind: evFolderList}, nil
	case "BYE":
		return event{kind: evBye, text: p.rest()}, nil
	case "OK", "NO", "BAD":
		if strings.HasPrefix(strings.ToUpper(p.rest()), "[NOTIFICATIONOVERFLOW]") {
			return event{kind: evOverflow}, nil
		}
	}
	// EXISTS, EXPUNGE, FETCH and VANISHED concern a selected folder, and
	// this session never selects one; CAPABILITY and the like need nothing.
	return event{}, nil
}

type parser struct {
	b []byte
	i int
}

func (p *parser) until(c byte) string {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] != c && p.b[p.i] != '\r' && p.b[p.i] != '\n' {
		p.i++
	}
	return string(p.b[start:p.i])
}

func (p *parser) skip(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) rest() string {
	return strings.TrimRight(string(p.b[p.i:]), "\r\n")
}

// astring reads an atom, a quoted string or a literal.
func (p *parser) astring() (string, error) {
	if p.i >= len(p.b) {
		return "", errors.New("imap: response ends before a mailbox name")
	}
	switch p.b[p.i] {
	case '"':
		p.i++
		var sb strings.Builder
		for p.i < len(p.b) {
			c := p.b[p.i]
			p.i++
			switch c {
			case '"':
				return sb.String(), nil
			case '\\':
				if p.i >= len(p.b) {
					return "", errors.New("imap: unterminated quoted string")
				}
				c = p.b[p.i]
				p.i++
			case '\r', '\n':
				return "", errors.New("imap: unterminated quoted string")
			}
			sb.WriteByte(c)
		}
		return "", errors.New("imap: unterminated quoted string")
	case '{':
		end := bytes.Index(p.b[p.i:], []byte("}\r\n"))
		if end < 0 {
			return "", errors.New("imap: malformed literal")
		}
		n, err := strconv.Atoi(strings.TrimSuffix(string(p.b[p.i+1:p.i+end]), "+"))
		start := p.i + end + 3
		if err != nil || n < 0 || n > len(p.b)-start {
			return "", errors.New("imap: malformed literal")
		}
		p.i = start + n
		return string(p.b[start:p.i]), nil
	}
	start := p.i
	for p.i < len(p.b) && !strings.ContainsRune(" ()\r\n{\"", rune(p.b[p.i])) {
		p.i++
	}
	if p.i == start {
		return "", fmt.Errorf("imap: no mailbox name in %q", clip(p.b))
	}
	return string(p.b[start:p.i]), nil
}

// decodeMailbox turns a mailbox name as the server sends it (modified
// UTF-7, RFC 3501 §5.1.3) into the UTF-8 name go-imap reports, with
// INBOX in capitals as IMAP treats it case-insensitively.
func decodeMailbox(s string) (string, error) {
	if strings.EqualFold(s, "INBOX") {
		return "INBOX", nil
	}
	if !strings.Contains(s, "&") {
		if !utf8.ValidString(s) {
			return "", errors.New("imap: mailbox name is not UTF-8")
		}
		return s, nil
	}
	var sb strings.Builder
	for len(s) > 0 {
		amp := strings.IndexByte(s, '&')
		if amp < 0 {
			sb.WriteString(s)
			break
		}
		sb.WriteString(s[:amp])
		s = s[amp+1:]
		dash := strings.IndexByte(s, '-')
		if dash < 0 {
			return "", errors.New("imap: unterminated modified UTF-7")
		}
		if dash == 0 {
			sb.WriteByte('&')
			s = s[1:]
			continue
		}
		b, err := base64.RawStdEncoding.DecodeString(strings.ReplaceAll(s[:dash], ",", "/"))
		if err != nil || len(b) == 0 || len(b)%2 != 0 {
			return "", errors.New("imap: bad modified UTF-7")
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
		for _, r := range utf16.Decode(u) {
			if r == utf8.RuneError {
				return "", errors.New("imap: bad modified UTF-7")
			}
			sb.WriteRune(r)
		}
		s = s[dash+1:]
	}
	if !utf8.ValidString(sb.String()) {
		return "", errors.New("imap: mailbox name is not UTF-8")
	}
	return sb.String(), nil
}

// clip shortens a response for an error message.
func clip(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}
