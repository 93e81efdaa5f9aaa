package ical

import (
	"os"

	goical "github.com/emersion/go-ical"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The seed corpus is every file in testdata plus the inputs below; a
// plain `go test` runs each seed once. `go test -fuzz FuzzParse` (or
// FuzzExpand) searches further.

var fuzzExtraSeeds = []string{
	"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nX;A=\"b\"c:d\r\nDTSTART;TZID=Europe/Berlin\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
	"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20240101T090000Z\nRRULE:FREQ=MONTHLY;BYDAY=-53MO\nEND:VEVENT\nEND:VCALENDAR\n",
	"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20240101T090000Z\nRRULE:FREQ=YEARLY;BYEASTER=1000\nEND:VEVENT\nEND:VCALENDAR\n",
	"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20240101T090000Z\nRRULE:FREQ=SECONDLY;INTERVAL=120;BYSECOND=30\nEND:VEVENT\nEND:VCALENDAR\n",
	"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART;VALUE=DATE:99991231\nRRULE:FREQ=DAILY\nDURATION:P9999W\nEND:VEVENT\nEND:VCALENDAR\n",
	"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:00000101T000000\nRRULE:FREQ=YEARLY;BYWEEKNO=-53;BYDAY=-1SU\nRDATE;VALUE=PERIOD:00000101T000000Z/-P1D\nEND:VEVENT\nEND:VCALENDAR\n",
	"\xef\xbb\xbfBEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nRECURRENCE-ID;RANGE=THISANDFUTURE:20240101T090000Z\r\nEND:VEVENT\r\n",
}

func addSeeds(f *testing.F, add func(data []byte)) {
	files, err := filepath.Glob("testdata/*.ics")
	if err != nil || len(files) == 0 {
		f.Fatal("no seed files", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		add(data)
	}
	for _, s := range fuzzExtraSeeds {
		add([]byte(s))
	}
}

func FuzzParse(f *testing.F) {
	addSeeds(f, func(data []byte) { f.Add(data) })
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		o, err := Parse(data)
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("Parse took %v", d)
		}
		if err != nil {
			return
		}
		if o.End.Before(o.Start) {
			t.Errorf("End %v before Start %v", o.End, o.Start)
		}
		if !o.Unbounded && o.LastEnd.Before(o.End) {
			t.Errorf("LastEnd %v before End %v", o.LastEnd, o.End)
		}
		// Where go-ical reads the input too and nothing needed repair,
		// both readers see the same tree.
		if len(data) < 4096 {
			if want, err := goicalDecode(data); err == nil && wellFormedNames(want) {
				if d, err := decode(data, decodeOptions{keepAll: true}); err == nil && len(d.warnings) == 0 && !strings.Contains(string(data), "\r") {
					var g, w strings.Builder
					dumpTree(d.root, "", &g)
					dumpTree(want, "", &w)
					if g.String() != w.String() {
						t.Errorf("trees differ:\n%s\ngo-ical:\n%s", g.String(), w.String())
					}
				}
			}
		}
		// An object that parses can be edited, and the result parses.
		after, err := Edit(data, Change{Summary: ptr("edited"), Location: ptr("")}, now)
		if err != nil {
			t.Fatalf("Edit: %v", err)
		}
		if _, err := Parse(after); err != nil {
			t.Fatalf("Parse after Edit: %v\n%q", err, after)
		}
	})
}

// wellFormedNames reports whether every property and parameter name in
// c is a token (RFC 5545 §3.1). go-ical accepts any characters there
// ("0;;0=:" gives it a parameter named ";0"); such input is not compared.
func wellFormedNames(c *goical.Component) bool {
	token := func(s string) bool { return s != "" && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == "" }
	for name, props := range c.Props {
		if !token(name) {
			return false
		}
		for _, p := range props {
			for pn := range p.Params {
				if !token(pn) {
					return false
				}
			}
		}
	}
	for _, ch := range c.Children {
		if !token(ch.Name) || !wellFormedNames(ch) {
			return false
		}
	}
	return true
}

var fuzzZones = []string{"UTC", "Europe/Berlin", "America/Santiago", "Pacific/Apia", "Australia/Lord_Howe"}

func FuzzExpand(f *testing.F) {
	addSeeds(f, func(data []byte) {
		f.Add(data, int64(1704067200), uint16(24*40), uint8(1)) // 2024-01-01, 40 days, Berlin
		f.Add(data, int64(1711843200), uint16(24*3), uint8(2))  // 2024-03-31, 3 days, Santiago
	})
	f.Fuzz(func(t *testing.T, data []byte, fromUnix int64, hours uint16, zone uint8) {
		// A window somewhere in 1900..2200, up to 7.5 years long.
		const lo, span = -2208988800, 300 * 365 * 86400
		fromUnix = lo + (fromUnix%span+span)%span
		from := time.Unix(fromUnix, 0)
		to := from.Add(time.Duration(hours) * time.Hour)
		loc, err := time.LoadLocation(fuzzZones[int(zone)%len(fuzzZones)])
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		occs, _, err := Expand(data, from, to, loc)
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("Expand took %v", d)
		}
		if err != nil {
			return
		}
		for i, o := range occs {
			if o.End.Before(o.Start) {
				t.Errorf("occurrence %d ends before it starts: %v", i, o)
			}
			if !o.Start.Before(to) || !(o.End.After(from) || o.End.Equal(o.Start) && !o.Start.Before(from)) {
				t.Errorf("occurrence %d (%v – %v) outside [%v, %v)", i, o.Start, o.End, from, to)
			}
			if i > 0 && o.Start.Before(occs[i-1].Start) {
				t.Errorf("not sorted at %d", i)
			}
		}
	})
}
