package mailsync

import (
	"bytes"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode every charset go-message knows
)

// maxIndexedText caps how much decoded text of one message goes into the
// full-text index: enough for any real letter, bounded for a pathological
// one.
const maxIndexedText = 256 << 10

// ExtractText returns the decoded text of a message, at most limit bytes
// (see extractText); `holdover mail show` uses it.
func ExtractText(r io.Reader, limit int) string { return extract(r, limit) }

func extractText(r io.Reader) string { return extract(r, maxIndexedText) }

// extract returns the decoded text of a message's text/plain parts (or
// of its text/html parts with tags removed when it has no plain text), for
// the full-text index. It never fails: what cannot be decoded is skipped,
// and a message that is not MIME at all is indexed as it is.
func extract(r io.Reader, limit int) string {
	ent, err := message.Read(r)
	if ent == nil {
		return ""
	}
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return ""
	}
	var plain, html bytes.Buffer
	walk(ent, &plain, &html, 0, limit)
	if plain.Len() > 0 {
		return capText(plain.String(), limit)
	}
	return capText(stripTags(html.String()), limit)
}

func walk(e *message.Entity, plain, html *bytes.Buffer, depth, limit int) {
	if depth > 20 || plain.Len() >= limit {
		return
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if p != nil {
				walk(p, plain, html, depth+1, limit)
			}
			if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
				return
			}
			if p == nil {
				return
			}
		}
	}
	t, params, err := mime.ParseMediaType(e.Header.Get("Content-Type"))
	if err != nil && e.Header.Get("Content-Type") != "" {
		return
	}
	if t == "" {
		t = "text/plain"
	}
	if disp, _, _ := mime.ParseMediaType(e.Header.Get("Content-Disposition")); disp == "attachment" && params["name"] != "" {
		return
	}
	var dst *bytes.Buffer
	switch t {
	case "text/plain":
		dst = plain
	case "text/html":
		dst = html
	default:
		return
	}
	io.Copy(dst, io.LimitReader(e.Body, int64(limit-dst.Len()+1)))
	dst.WriteByte('\n')
}

func capText(s string, limit int) string {
	if len(s) > limit {
		s = s[:limit]
	}
	return strings.ToValidUTF8(s, "")
}

// stripTags is a crude HTML-to-text pass, good enough for search.
func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}
