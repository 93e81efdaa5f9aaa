package ical

import (
	"strings"
	"testing"
	"time"

	goical "github.com/emersion/go-ical"
)

func TestWindowsZonesAllNameLoadableIANAZones(t *testing.T) {
	for win, iana := range windowsZones {
		if ianaZone(iana) == nil {
			t.Errorf("%q maps to %q, which does not load", win, iana)
		}
	}
}

// sameOffsets compares two zones every six hours over [from, to).
func sameOffsets(t *testing.T, got, want *time.Location, from, to time.Time) {
	t.Helper()
	bad := 0
	for at := from; at.Before(to) && bad < 5; at = at.Add(6 * time.Hour) {
		_, g := at.In(got).Zone()
		_, w := at.In(want).Zone()
		if g != w {
			t.Errorf("%s: offset %d, want %d (%s)", at.UTC(), g, w, want)
			bad++
		}
	}
}

func vtimezoneOf(t *testing.T, file string) *goical.Component {
	t.Helper()
	d, err := decode(readFile(t, file), decodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range d.root.Children {
		if c.Name == "VTIMEZONE" {
			return c
		}
	}
	t.Fatal("no VTIMEZONE")
	return nil
}

func TestVTimezoneBecomesTheZoneItDescribes(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	// The EU rule (last Sundays of March and October) holds since 1996.
	from, to := time.Date(1996, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, file := range []string{"outlook-vtimezone.ics", "dst-berlin.ics"} {
		t.Run(file, func(t *testing.T) {
			loc, err := buildVTimezone("x", vtimezoneOf(t, file))
			if err != nil {
				t.Fatal(err)
			}
			sameOffsets(t, loc, berlin, from, to)
		})
	}
}

func TestVTimezoneBeforeItsFirstOnsetKeepsTheOffsetItChangesFrom(t *testing.T) {
	loc, err := buildVTimezone("Head Office Time", vtimezoneOf(t, "custom-vtimezone.ics"))
	if err != nil {
		t.Fatal(err)
	}
	if _, off := time.Date(1999, 7, 1, 0, 0, 0, 0, time.UTC).In(loc).Zone(); off != 3*3600 {
		t.Errorf("offset in 1999 = %d, want +03:00 (the first onset's TZOFFSETFROM)", off)
	}
	if name, off := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC).In(loc).Zone(); off != 4*3600 || name != "HODT" {
		t.Errorf("offset in July 2024 = %s %d, want HODT +04:00", name, off)
	}
}

func TestVTimezoneThatCannotBeUsedFallsBackWithAWarning(t *testing.T) {
	data := vcal(`
BEGIN:VTIMEZONE
TZID:Nowhere Standard Time
BEGIN:STANDARD
DTSTART:16010101T000000
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:x
DTSTART;TZID=Nowhere Standard Time:20240101T090000
END:VEVENT`)
	o, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(o.Warnings, "\n")
	if !strings.Contains(w, `VTIMEZONE "Nowhere Standard Time" unusable`) || !strings.Contains(w, "read as floating") || !o.Floating {
		t.Errorf("warnings %q, floating %v", o.Warnings, o.Floating)
	}
}

func TestTZIDResolution(t *testing.T) {
	cases := []struct {
		name, tzid string
		at         time.Time // a wall clock (UTC fields)
		wantUTC    time.Time
		warning    string
	}{
		{"IANA name", "America/New_York", time.Date(2024, 7, 1, 9, 0, 0, 0, time.UTC), time.Date(2024, 7, 1, 13, 0, 0, 0, time.UTC), ""},
		{"path-like TZID ending in an IANA name", "/mozilla.org/20050126_1/Europe/Berlin", time.Date(2024, 7, 1, 9, 0, 0, 0, time.UTC), time.Date(2024, 7, 1, 7, 0, 0, 0, time.UTC), ""},
		{"Windows name without VTIMEZONE", "Tokyo Standard Time", time.Date(2024, 7, 1, 9, 0, 0, 0, time.UTC), time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC), "read as Asia/Tokyo"},
		{"Outlook display name: fixed offset", "(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi", time.Date(2024, 7, 1, 9, 0, 0, 0, time.UTC), time.Date(2024, 7, 1, 3, 30, 0, 0, time.UTC), "without DST"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := vcal("BEGIN:VEVENT\nUID:x\nDTSTART;TZID=\"" + c.tzid + "\":" + c.at.Format("20060102T150405") + "\nEND:VEVENT")
			o, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if !o.Start.Equal(c.wantUTC) || o.Floating {
				t.Errorf("Start = %v (floating %v), want %v", o.Start, o.Floating, c.wantUTC)
			}
			w := strings.Join(o.Warnings, "\n")
			if c.warning == "" && w != "" || !strings.Contains(w, c.warning) {
				t.Errorf("warnings %q, want %q", o.Warnings, c.warning)
			}
		})
	}
}

// The VTIMEZONE written for a new event describes its zone: read back
// through this package's own VTIMEZONE reader it gives the IANA offsets.
func TestWrittenVTimezoneReadsBackAsItsZone(t *testing.T) {
	for _, name := range []string{"Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Tokyo",
		"America/Sao_Paulo", "Africa/Casablanca", "Europe/Dublin", "Pacific/Chatham", "Asia/Tehran", "America/Santiago"} {
		t.Run(name, func(t *testing.T) {
			loc := mustLoad(t, name)
			vtz := vtimezoneFor(loc, time.Date(2024, 5, 1, 0, 0, 0, 0, loc), 2030)
			got, err := buildVTimezone(name, vtz)
			if err != nil {
				t.Fatal(err)
			}
			sameOffsets(t, got, loc, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
		})
	}
}
