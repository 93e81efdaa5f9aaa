package ical

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	utc := func(y int, m time.Month, d, h, mi int) time.Time { return time.Date(y, m, d, h, mi, 0, 0, time.UTC) }
	cases := []struct {
		name    string
		file    string
		want    Object // Warnings compared as substrings, in order
		zone    string // the Location Start is in
		noWarns bool
	}{
		{
			name: "weekly series with EXDATEs ends with its last instance",
			file: "weekly-exdate.ics", zone: "Europe/Berlin", noWarns: true,
			want: Object{UID: "weekly-exdate@example.com", Kind: "VEVENT", Summary: "Team sync", Location: "Room 1",
				Start: utc(2024, 1, 8, 9, 0), End: utc(2024, 1, 8, 10, 0), Recurring: true,
				LastEnd: utc(2024, 2, 12, 10, 0), DTStamp: utc(2024, 1, 1, 12, 0)},
		},
		{
			name: "override's later SEQUENCE does not replace the master's",
			file: "override-moved.ics", zone: "Europe/Berlin", noWarns: true,
			want: Object{UID: "override@example.com", Kind: "VEVENT", Summary: "Planning",
				Start: utc(2024, 1, 2, 13, 0), End: utc(2024, 1, 2, 14, 0), Recurring: true,
				LastEnd: utc(2024, 1, 23, 14, 0), DTStamp: utc(2024, 1, 1, 12, 0), Sequence: 2},
		},
		{
			name: "all-day series gives dates as UTC midnights, End exclusive",
			file: "allday-series.ics", zone: "UTC", noWarns: true,
			want: Object{UID: "allday@example.com", Kind: "VEVENT", Summary: "Offsite (two days)",
				Start: utc(2024, 3, 29, 0, 0), End: utc(2024, 3, 31, 0, 0), AllDay: true, Recurring: true,
				LastEnd: utc(2024, 4, 14, 0, 0), DTStamp: utc(2024, 1, 1, 12, 0)},
		},
		{
			name: "floating time is flagged and given as a UTC wall clock",
			file: "floating.ics", zone: "UTC", noWarns: true,
			want: Object{UID: "floating@example.com", Kind: "VEVENT", Summary: "Yoga wherever I am",
				Start: utc(2024, 5, 10, 9, 0), End: utc(2024, 5, 10, 10, 0), Floating: true,
				LastEnd: utc(2024, 5, 10, 10, 0), DTStamp: utc(2024, 1, 1, 12, 0)},
		},
		{
			name: "RRULE without COUNT or UNTIL is unbounded",
			file: "unbounded.ics", zone: "Europe/Berlin", noWarns: true,
			want: Object{UID: "unbounded@example.com", Kind: "VEVENT", Summary: "Commute",
				Start: utc(2000, 1, 3, 7, 30), End: utc(2000, 1, 3, 7, 45), Recurring: true, Unbounded: true,
				DTStamp: utc(2024, 1, 1, 12, 0)},
		},
		{
			name: "RRULE that yields nothing is DTSTART alone, with a warning",
			file: "never.ics", zone: "UTC",
			want: Object{UID: "never@example.com", Kind: "VEVENT", Summary: "The thirtieth of February",
				Start: utc(2024, 1, 30, 0, 0), End: utc(2024, 1, 31, 0, 0), AllDay: true, Recurring: true,
				LastEnd: utc(2024, 1, 31, 0, 0), DTStamp: utc(2024, 1, 1, 12, 0),
				Warnings: []string{"RRULE yields no occurrences"}},
		},
		{
			name: "DURATION instead of DTEND",
			file: "duration.ics", zone: "Europe/Berlin", noWarns: true,
			want: Object{UID: "duration@example.com", Kind: "VEVENT", Summary: "Across the spring change",
				Start: utc(2024, 3, 30, 21, 0), End: utc(2024, 3, 31, 21, 30),
				LastEnd: utc(2024, 3, 31, 21, 30), DTStamp: utc(2024, 1, 1, 12, 0)},
		},
		{
			name: "folded UID, lower-case property names and a UTF-8 sequence split by a fold",
			file: "folded-utf8.ics", zone: "Europe/Berlin", noWarns: true,
			want: Object{UID: "folded@example.com", Kind: "VEVENT", Summary: "Sommerfest mit Grüßen → alle",
				Description: "A long description that goes on and on, past seventy-five octets, so that any decent producer folds it; this one does, twice over.",
				Start:       utc(2024, 7, 20, 13, 0), End: utc(2024, 7, 20, 21, 0),
				LastEnd: utc(2024, 7, 20, 21, 0), DTStamp: utc(2024, 1, 1, 12, 0)},
		},
		{
			name: "fold that lost its leading space is rejoined, with a warning",
			file: "bad-fold.ics", zone: "UTC",
			want: Object{UID: "bad-fold@example.com", Kind: "VEVENT", Summary: "Broken folding",
				Description: "This description was folded by something that forgotthe space, and thenforgot it here: see?",
				Start:       utc(2024, 3, 1, 9, 0), End: utc(2024, 3, 1, 9, 0), LastEnd: utc(2024, 3, 1, 9, 0),
				DTStamp: utc(2024, 1, 1, 12, 0), Warnings: []string{"lost their leading space"}},
		},
		{
			name: "no UID is a warning, not an error",
			file: "no-uid.ics", zone: "UTC",
			want: Object{Kind: "VEVENT", Summary: "Nobody named me", Start: utc(2024, 2, 1, 10, 0), End: utc(2024, 2, 1, 10, 0),
				LastEnd: utc(2024, 2, 1, 10, 0), DTStamp: utc(2024, 1, 1, 12, 0), Warnings: []string{"no UID"}},
		},
		{
			name: "to-do with only DUE starts and ends at DUE",
			file: "vtodo.ics", zone: "UTC", noWarns: true,
			want: Object{UID: "todo@example.com", Kind: "VTODO", Summary: "File taxes", Start: utc(2024, 2, 15, 17, 0),
				End: utc(2024, 2, 15, 17, 0), LastEnd: utc(2024, 2, 15, 17, 0), DTStamp: utc(2024, 1, 1, 12, 0)},
		},
		{
			name: "unknown TZID is floating; a component with another UID is ignored",
			file: "unknown-tzid.ics", zone: "UTC",
			want: Object{UID: "unknown-tz@example.com", Kind: "VEVENT", Summary: "Somewhere", Start: utc(2024, 3, 1, 9, 0),
				End: utc(2024, 3, 1, 10, 0), Floating: true, LastEnd: utc(2024, 3, 1, 10, 0), DTStamp: utc(2024, 1, 1, 12, 0),
				Warnings: []string{`unknown TZID "Mars/Olympus_Mons"`, "1 components with another UID ignored"}},
		},
		{
			name: "truncated object keeps what it has",
			file: "truncated.ics", zone: "UTC",
			want: Object{UID: "truncated@example.com", Kind: "VEVENT", Summary: "Cut short", Start: utc(2024, 3, 1, 9, 0),
				End: utc(2024, 3, 1, 9, 0), LastEnd: utc(2024, 3, 1, 9, 0), Warnings: []string{"END:VEVENT missing"}},
		},
		{
			name: "Outlook object: escaped text, TZID through its VTIMEZONE, UNTIL in UTC",
			file: "outlook-vtimezone.ics", zone: "W. Europe Standard Time", noWarns: true,
			want: Object{UID: "040000008200E00074C5B7101A82E00800000000D0B1D0C5D1F3D901000000000000000010000000", Kind: "VEVENT",
				Summary: "Review", Location: "Teams", Description: "Weekly review\n",
				Start: utc(2024, 3, 18, 8, 0), End: utc(2024, 3, 18, 9, 0), Recurring: true,
				LastEnd: utc(2024, 4, 8, 8, 0), DTStamp: utc(2024, 3, 1, 10, 10).Add(10 * time.Second)},
		},
	}
	_ = berlin
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(readFile(t, c.file))
			if err != nil {
				t.Fatal(err)
			}
			if got.Start.Location().String() != c.zone {
				t.Errorf("Start in %q, want %q", got.Start.Location(), c.zone)
			}
			warns := got.Warnings
			got.Warnings, c.want.Warnings = nil, append([]string(nil), c.want.Warnings...)
			want := c.want
			wantWarns := want.Warnings
			want.Warnings = nil
			if g, w := describe(got), describe(want); g != w {
				t.Errorf("got\n\t%s\nwant\n\t%s", g, w)
			}
			if c.noWarns && len(warns) > 0 {
				t.Errorf("unexpected warnings %q", warns)
			}
			for i, w := range wantWarns {
				if i >= len(warns) || !strings.Contains(warns[i], w) {
					t.Errorf("warnings %q: want %q at %d", warns, w, i)
				}
			}
		})
	}
}

// describe renders an Object with its times as instants, so that the
// Location they are in does not matter to the comparison.
func describe(o Object) string {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02T15:04:05Z")
	}
	return fmt.Sprintf("uid=%q kind=%s summary=%q location=%q description=%q start=%s end=%s allday=%v floating=%v recurring=%v lastend=%s unbounded=%v modified=%s stamp=%s seq=%d",
		o.UID, o.Kind, o.Summary, o.Location, o.Description, ts(o.Start), ts(o.End), o.AllDay, o.Floating, o.Recurring,
		ts(o.LastEnd), o.Unbounded, ts(o.LastModified), ts(o.DTStamp), o.Sequence)
}

func TestParseFailsOnlyWithoutCalendarOrEvent(t *testing.T) {
	cases := []struct {
		name string
		data string
		err  error
	}{
		{"empty", "", ErrNotICalendar},
		{"JSON", `{"error":"unauthorized"}`, ErrNotICalendar},
		{"VEVENT without VCALENDAR", "BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n", ErrNotICalendar},
		{"VCALENDAR with only a VTIMEZONE", string(vcal("BEGIN:VTIMEZONE\nTZID:X\nEND:VTIMEZONE")), ErrNoComponent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Parse([]byte(c.data)); !errors.Is(err, c.err) {
				t.Errorf("err = %v, want %v", err, c.err)
			}
		})
	}
}

func TestParseBoundsOfSeries(t *testing.T) {
	cases := []struct {
		name      string
		body      string
		start     string
		lastEnd   string // "unbounded" or an instant
		warning   string
		recurring bool
	}{
		{
			name:  "override moved before DTSTART is the first occurrence",
			start: "2024-06-30T09:00:00Z", lastEnd: "2024-07-03T10:00:00Z", recurring: true,
			body: `
BEGIN:VEVENT
UID:a
DTSTART:20240701T090000Z
DTEND:20240701T100000Z
RRULE:FREQ=DAILY;COUNT=3
END:VEVENT
BEGIN:VEVENT
UID:a
RECURRENCE-ID:20240702T090000Z
DTSTART:20240630T090000Z
DTEND:20240630T100000Z
END:VEVENT`,
		},
		{
			name:  "excluded DTSTART is not the first occurrence",
			start: "2024-07-02T09:00:00Z", lastEnd: "2024-07-03T09:00:00Z", recurring: true,
			body: `
BEGIN:VEVENT
UID:b
DTSTART:20240701T090000Z
RRULE:FREQ=DAILY;COUNT=3
EXDATE:20240701T090000Z
END:VEVENT`,
		},
		{
			name:  "excluded last instance is not the last occurrence",
			start: "2024-07-01T09:00:00Z", lastEnd: "2024-07-09T10:00:00Z", recurring: true,
			body: `
BEGIN:VEVENT
UID:c
DTSTART:20240701T090000Z
DTEND:20240701T100000Z
RRULE:FREQ=DAILY;UNTIL=20240710T090000Z
EXDATE:20240710T090000Z
END:VEVENT`,
		},
		{
			name:  "every instance excluded: DTSTART, and a warning",
			start: "2024-07-01T09:00:00Z", lastEnd: "2024-07-01T09:00:00Z", recurring: true,
			warning: "no occurrences",
			body: `
BEGIN:VEVENT
UID:d
DTSTART:20240701T090000Z
RRULE:FREQ=DAILY;COUNT=2
EXDATE:20240701T090000Z,20240702T090000Z
END:VEVENT`,
		},
		{
			name:  "more instances than the cap is unbounded, with a warning",
			start: "2024-01-01T00:00:00Z", lastEnd: "unbounded", recurring: true,
			warning: "read as unbounded",
			body: `
BEGIN:VEVENT
UID:e
DTSTART:20240101T000000Z
RRULE:FREQ=MINUTELY;COUNT=200000
END:VEVENT`,
		},
		{
			name:  "UNTIL far away is found without walking the whole series",
			start: "2000-01-01T08:00:00Z", lastEnd: "2199-12-31T08:00:00Z", recurring: true,
			body: `
BEGIN:VEVENT
UID:f
DTSTART:20000101T080000Z
RRULE:FREQ=DAILY;UNTIL=21991231T235959Z
END:VEVENT`,
		},
		{
			name:  "bad RRULE: read as a single event, with a warning",
			start: "2024-01-01T08:00:00Z", lastEnd: "2024-01-01T08:00:00Z",
			warning: "bad RRULE",
			body: `
BEGIN:VEVENT
UID:g
DTSTART:20240101T080000Z
RRULE:FREQ=FORTNIGHTLY
END:VEVENT`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := Parse(vcal(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if got := o.Start.UTC().Format(time.RFC3339); got != c.start {
				t.Errorf("Start = %s, want %s", got, c.start)
			}
			last := o.LastEnd.UTC().Format(time.RFC3339)
			if o.Unbounded {
				last = "unbounded"
			}
			if last != c.lastEnd {
				t.Errorf("LastEnd = %s, want %s", last, c.lastEnd)
			}
			if o.Recurring != c.recurring {
				t.Errorf("Recurring = %v", o.Recurring)
			}
			if w := strings.Join(o.Warnings, "\n"); c.warning == "" && w != "" || !strings.Contains(w, c.warning) {
				t.Errorf("warnings %q, want %q", o.Warnings, c.warning)
			}
		})
	}
}

// attendees builds an event with n attendees, as a mailing-list invitation.
func attendees(n int) []byte {
	var b strings.Builder
	b.WriteString("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:all-hands\r\nDTSTART:20240301T160000Z\r\nDTEND:20240301T170000Z\r\nSUMMARY:All hands\r\n")
	b.WriteString("ORGANIZER;CN=CEO:mailto:ceo@example.com\r\n")
	for i := range n {
		fmt.Fprintf(&b, "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Employee %d;X-NUM-GUESTS=0:\r\n mailto:employee%d@example.com\r\n", i, i)
	}
	b.WriteString("END:VEVENT\r\nEND:VCALENDAR\r\n")
	return []byte(b.String())
}

func TestTenThousandAttendeesParseInBoundedTimeAndMemory(t *testing.T) {
	data := attendees(10_000)
	if len(data) < 1_000_000 {
		t.Fatalf("only %d bytes", len(data))
	}
	start := time.Now()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	o, err := Parse(data)
	runtime.ReadMemStats(&after)
	if err != nil || o.Summary != "All hands" || len(o.Warnings) != 0 {
		t.Fatal(o, err)
	}
	// Attendees are skipped by name: neither a Prop nor a string each.
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 200_000 {
		t.Errorf("Parse allocated %d bytes for a %d-byte object", allocated, len(data))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Parse took %v", d)
	}
	occs, _, err := Expand(data, day(time.UTC, 2024, 3, 1), day(time.UTC, 2024, 3, 2), time.UTC)
	if err != nil || len(occs) != 1 {
		t.Fatal(occs, err)
	}
}

// The calendar engine stores Start and LastEnd (or Unbounded) and asks
// its range queries of them; an occurrence outside those bounds would be
// missing from `cal ls`. Floating and all-day bounds are wall clocks and
// hold within 14 hours for any reader.
func TestParseBoundsHoldEveryOccurrence(t *testing.T) {
	objs := benchCalendar(600)
	files, _ := filepath.Glob("testdata/*.ics")
	for _, f := range files {
		objs = append(objs, readFile(t, filepath.Base(f)))
	}
	zones := []*time.Location{mustLoad(t, "Europe/Berlin"), mustLoad(t, "Pacific/Kiritimati"), mustLoad(t, "Pacific/Pago_Pago")}
	for i, data := range objs {
		o, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := o.Start, o.LastEnd
		if o.AllDay || o.Floating {
			lo, hi = lo.Add(-14*time.Hour), hi.Add(14*time.Hour)
		}
		for _, loc := range zones {
			occs, _, err := Expand(data, time.Date(1999, 1, 1, 0, 0, 0, 0, loc), time.Date(2027, 1, 1, 0, 0, 0, 0, loc), loc)
			if err != nil {
				t.Fatal(err)
			}
			for _, oc := range occs {
				if oc.Start.Before(lo) || !o.Unbounded && oc.End.After(hi) {
					t.Fatalf("object %d, read in %s: occurrence %v – %v outside its bounds %v – %v (unbounded %v)",
						i, loc, oc.Start, oc.End, lo, hi, o.Unbounded)
				}
			}
		}
	}
}
