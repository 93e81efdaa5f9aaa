package ical

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	goical "github.com/emersion/go-ical"
)

// dumpTree renders a component tree with every property, sorted, so two
// readers can be compared.
func dumpTree(c *goical.Component, indent string, b *strings.Builder) {
	fmt.Fprintf(b, "%s%s\n", indent, c.Name)
	var lines []string
	for name, props := range c.Props {
		for _, p := range props {
			var ps []string
			for k, v := range p.Params {
				ps = append(ps, k+"="+strings.Join(v, ","))
			}
			sort.Strings(ps)
			lines = append(lines, fmt.Sprintf("%s  %s%v:%s", indent, name, ps, p.Value))
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	for _, ch := range c.Children {
		dumpTree(ch, indent+"  ", b)
	}
}

// Where go-ical's decoder reads a file at all, this reader must read the
// same tree.
func TestReaderAgreesWithGoIcalOnWellFormedInput(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.ics")
	compared := 0
	for _, f := range files {
		data := readFile(t, filepath.Base(f))
		want, err := goicalDecode(data)
		if err != nil {
			continue
		}
		d, err := decode(data, decodeOptions{keepAll: true})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(d.warnings) > 0 {
			continue // repaired here; go-ical reads it otherwise (bad-fold.ics: a property named "FORGOT IT HERE")
		}
		var g, w strings.Builder
		dumpTree(d.root, "", &g)
		dumpTree(want, "", &w)
		if g.String() != w.String() {
			t.Errorf("%s:\n%s\nwant\n%s", f, g.String(), w.String())
		}
		compared++
	}
	if compared < 15 {
		t.Errorf("only %d files compared", compared)
	}
}

// goicalDecode runs go-ical's decoder, turning its panics into errors.
func goicalDecode(data []byte) (c *goical.Component, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	cal, err := goical.NewDecoder(bytes.NewReader(data)).Decode()
	if err != nil {
		return nil, err
	}
	return cal.Component, nil
}

func TestReaderSurvivesWhatBreaksGoIcal(t *testing.T) {
	cases := []struct {
		name    string
		line    string
		summary string
		warning string
	}{
		{"junk after a quoted parameter value (go-ical panics)", `X-A;P="b"c:d`, "ok", ""},
		{"parameter and no colon (go-ical panics)", "DTEND;TZID=Europe/Berlin", "ok", "malformed lines skipped"},
		{"parameter without '='", "X-B;FOO:bar", "ok", ""},
		{"unterminated quote", `LOCATION;ALTREP="open:value`, "ok", "malformed lines skipped"},
		{"line with no colon, after a BEGIN (go-ical fails the object)", "garbage", "ok", "malformed lines skipped"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := vcal("BEGIN:VEVENT\n" + c.line + "\nUID:x\nDTSTART:20240101T090000Z\nSUMMARY:ok\nEND:VEVENT")
			o, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if o.Summary != c.summary || o.UID != "x" {
				t.Errorf("summary %q uid %q", o.Summary, o.UID)
			}
			w := strings.Join(o.Warnings, "\n")
			if c.warning == "" && w != "" || !strings.Contains(w, c.warning) {
				t.Errorf("warnings %q, want %q", o.Warnings, c.warning)
			}
		})
	}
}

func TestReaderIsLinearWhereGoIcalIsQuadratic(t *testing.T) {
	// go-ical builds parameter values a byte at a time: 200 kB take it
	// seconds. Here a megabyte of parameter and a megabyte of nesting
	// are read in well under a second.
	long := vcal("BEGIN:VEVENT\nUID:x\nDTSTART:20240101T090000Z\nSUMMARY;X-P=" + strings.Repeat("a", 1<<20) + ":long\nEND:VEVENT")
	deep := vcal("BEGIN:VEVENT\nUID:y\nDTSTART:20240101T090000Z\n" + strings.Repeat("BEGIN:VALARM\n", 100_000) + "END:VEVENT")
	for name, data := range map[string][]byte{"1 MB parameter": long, "100,000 nested components": deep} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			o, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v", d)
			}
			if o.UID == "" {
				t.Error("lost the UID")
			}
		})
	}
}

func TestReaderKeepsTextAfterTheCalendarOut(t *testing.T) {
	data := append(vcal("BEGIN:VEVENT\nUID:first\nDTSTART:20240101T090000Z\nEND:VEVENT"),
		vcal("BEGIN:VEVENT\nUID:second\nDTSTART:20240101T090000Z\nEND:VEVENT")...)
	data = append([]byte("\xef\xbb\xbfjunk before\r\n"), data...)
	o, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if o.UID != "first" || !strings.Contains(strings.Join(o.Warnings, "\n"), "only the first VCALENDAR") {
		t.Errorf("uid %q warnings %q", o.UID, o.Warnings)
	}
}

func TestTextEscapes(t *testing.T) {
	for in, want := range map[string]string{
		`a\,b\;c\\d\ne\Nf`: "a,b;c\\d\ne\nf",
		`Outlook\: yes`:    "Outlook: yes",
		`trailing\`:        `trailing\`,
		"plain":            "plain",
	} {
		if got := unescapeText(in); got != want {
			t.Errorf("unescapeText(%q) = %q, want %q", in, got, want)
		}
	}
	if got := escapeText("a,b;c\\d\r\ne"); got != `a\,b\;c\\d\ne` {
		t.Errorf("escapeText = %q", got)
	}
}
