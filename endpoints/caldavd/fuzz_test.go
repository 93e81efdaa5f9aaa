package caldavd

import (
	"encoding/xml"
	"strings"
	"testing"
	"unicode/utf8"
)

// Whatever text an event or a client holds, escape makes it XML that
// parses back to the same text (what XML cannot carry aside).
func FuzzEscapeIsAlwaysXML(f *testing.F) {
	for _, s := range []string{"", "plain", "a & b < c > d \"e\"", "CRLF\r\nline", "\x00\x01\ufffe", "\xff\xfe broken utf-8", "]]>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v struct {
			Text string `xml:",chardata"`
			Attr string `xml:"a,attr"`
		}
		doc := `<x a="` + escape(s) + `">` + escape(s) + `</x>`
		if err := xml.Unmarshal([]byte(doc), &v); err != nil {
			t.Fatalf("escape(%q) is not XML: %v\n%s", s, err, doc)
		}
		if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
			return r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF
		}) {
			if v.Text != s {
				t.Fatalf("escape(%q) reads back as %q", s, v.Text)
			}
		}
	})
}

// Request bodies a client sends never panic the parsers.
func FuzzRequestBodiesNeverPanic(f *testing.F) {
	for _, s := range []string{"", "<d:propfind xmlns:d=\"DAV:\"><d:prop><d:getetag/></d:prop></d:propfind>", "<d:propfind xmlns:d=\"DAV:\"><d:propname/></d:propfind>", "<x", "<?xml?><a:b xmlns:a=\"\"/>"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		parsePropfind(body)
		rootElement(body)
		var sc syncCollectionBody
		xml.Unmarshal(body, &sc)
		sc.Prop.request()
		var mg multigetBody
		xml.Unmarshal(body, &mg)
	})
}
