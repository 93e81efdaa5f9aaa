package ical

import (
	"os"
	"strings"
	"testing"
	"time"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vcal wraps VEVENT (and VTIMEZONE) lines in a VCALENDAR with CRLF.
func vcal(body string) []byte {
	body = strings.TrimSpace(body)
	s := "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n" + body + "\nEND:VCALENDAR\n"
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

// occ renders an occurrence compactly: start–end on the reader's clock
// with the UTC offset, then what sets it apart.
func occ(o Occurrence) string {
	s := o.Start.Format("2006-01-02 15:04-07") + " " + o.End.Format("01-02 15:04-07")
	if o.AllDay {
		s += " all-day"
	}
	if o.Override {
		s += " override(" + o.RecurrenceID.Format("01-02 15:04") + ")"
	}
	return s + " " + o.Summary
}

func day(loc *time.Location, y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

func TestExpand(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	tokyo := mustLoad(t, "Asia/Tokyo")
	newYork := mustLoad(t, "America/New_York")
	cases := []struct {
		name     string
		data     []byte
		from, to time.Time
		loc      *time.Location
		want     []string
		warning  string // a substring one warning must contain
	}{
		{
			name: "weekly series skips its EXDATEs, one given with the series' TZID and one in UTC",
			data: readFile(t, "weekly-exdate.ics"), from: day(berlin, 2024, 1, 1), to: day(berlin, 2024, 4, 1), loc: berlin,
			want: []string{
				"2024-01-08 10:00+01 01-08 11:00+01 Team sync",
				"2024-01-22 10:00+01 01-22 11:00+01 Team sync",
				"2024-02-05 10:00+01 02-05 11:00+01 Team sync",
				"2024-02-12 10:00+01 02-12 11:00+01 Team sync",
			},
		},
		{
			name: "overridden instance is listed once, at its new time with its new summary",
			data: readFile(t, "override-moved.ics"), from: day(berlin, 2024, 1, 1), to: day(berlin, 2024, 2, 1), loc: berlin,
			want: []string{
				"2024-01-02 14:00+01 01-02 15:00+01 Planning",
				"2024-01-10 16:30+01 01-10 17:30+01 override(01-09 14:00) Planning (moved)",
				"2024-01-16 14:00+01 01-16 15:00+01 Planning",
				"2024-01-23 14:00+01 01-23 15:00+01 Planning",
			},
		},
		{
			name: "override moved into the window from outside it is listed",
			data: readFile(t, "override-moved.ics"), from: day(berlin, 2024, 1, 10), to: day(berlin, 2024, 1, 11), loc: berlin,
			want: []string{"2024-01-10 16:30+01 01-10 17:30+01 override(01-09 14:00) Planning (moved)"},
		},
		{
			name: "override with STATUS:CANCELLED removes its instance",
			data: readFile(t, "cancelled-override.ics"), from: day(time.UTC, 2024, 1, 1), to: day(time.UTC, 2024, 2, 1), loc: time.UTC,
			want: []string{
				"2024-01-05 08:00+00 01-05 08:30+00 Standup",
				"2024-01-07 08:00+00 01-07 08:30+00 Standup",
				"2024-01-08 08:00+00 01-08 08:30+00 Standup",
			},
		},
		{
			name: "all-day series has exclusive DATE ends and starts at the reader's midnight",
			data: readFile(t, "allday-series.ics"), from: day(berlin, 2024, 3, 1), to: day(berlin, 2024, 5, 1), loc: berlin,
			want: []string{
				"2024-03-29 00:00+01 03-31 00:00+01 all-day Offsite (two days)",
				"2024-04-05 00:00+02 04-07 00:00+02 all-day Offsite (two days)",
				"2024-04-12 00:00+02 04-14 00:00+02 all-day Offsite (two days)",
			},
		},
		{
			name: "all-day series is on the same dates for a reader in New York",
			data: readFile(t, "allday-series.ics"), from: day(newYork, 2024, 4, 12), to: day(newYork, 2024, 4, 13), loc: newYork,
			want: []string{"2024-04-12 00:00-04 04-14 00:00-04 all-day Offsite (two days)"},
		},
		{
			name: "daily 09:00 in Europe/Berlin stays 09:00 across the spring DST change",
			data: readFile(t, "dst-berlin.ics"), from: day(berlin, 2024, 3, 1), to: day(berlin, 2024, 5, 1), loc: berlin,
			want: []string{
				"2024-03-28 09:00+01 03-28 09:30+01 Morning call",
				"2024-03-29 09:00+01 03-29 09:30+01 Morning call",
				"2024-03-30 09:00+01 03-30 09:30+01 Morning call",
				"2024-03-31 09:00+02 03-31 09:30+02 Morning call",
				"2024-04-01 09:00+02 04-01 09:30+02 Morning call",
				"2024-04-02 09:00+02 04-02 09:30+02 Morning call",
			},
		},
		{
			name: "daily 09:00 in Europe/Berlin moves from 08:00 to 07:00 UTC",
			data: readFile(t, "dst-berlin.ics"), from: day(time.UTC, 2024, 3, 30), to: day(time.UTC, 2024, 4, 1), loc: time.UTC,
			want: []string{
				"2024-03-30 08:00+00 03-30 08:30+00 Morning call",
				"2024-03-31 07:00+00 03-31 07:30+00 Morning call",
			},
		},
		{
			name: "Outlook TZID is resolved through the object's VTIMEZONE, DST included",
			data: readFile(t, "outlook-vtimezone.ics"), from: day(time.UTC, 2024, 3, 1), to: day(time.UTC, 2024, 5, 1), loc: time.UTC,
			want: []string{
				"2024-03-18 08:00+00 03-18 09:00+00 Review",
				"2024-03-25 08:00+00 03-25 09:00+00 Review",
				"2024-04-01 07:00+00 04-01 08:00+00 Review",
				"2024-04-08 07:00+00 04-08 08:00+00 Review",
			},
		},
		{
			name: "custom TZID follows its VTIMEZONE's own rules, not any IANA zone's",
			data: readFile(t, "custom-vtimezone.ics"), from: day(time.UTC, 2024, 3, 1), to: day(time.UTC, 2024, 4, 1), loc: time.UTC,
			want: []string{
				"2024-03-08 06:00+00 03-08 07:00+00 Head office call",
				"2024-03-15 05:00+00 03-15 06:00+00 Head office call",
			},
		},
		{
			name: "IANA TZID without a VTIMEZONE uses the zone's rules",
			data: readFile(t, "iana-no-vtimezone.ics"), from: day(newYork, 2024, 3, 1), to: day(newYork, 2024, 4, 1), loc: time.UTC,
			want: []string{
				"2024-03-08 14:00+00 03-08 15:00+00 New York breakfast",
				"2024-03-10 13:00+00 03-10 14:00+00 New York breakfast",
				"2024-03-12 13:00+00 03-12 14:00+00 New York breakfast",
			},
		},
		{
			name: "Windows TZID without a VTIMEZONE goes through the CLDR table",
			data: readFile(t, "windows-no-vtimezone.ics"), from: day(time.UTC, 2024, 7, 1), to: day(time.UTC, 2024, 8, 1), loc: time.UTC,
			want:    []string{"2024-07-04 07:00+00 07-04 08:00+00 Paris"},
			warning: `"Romance Standard Time" has no VTIMEZONE; read as Europe/Paris`,
		},
		{
			name: "floating time is read on a Berlin reader's clock",
			data: readFile(t, "floating.ics"), from: day(berlin, 2024, 5, 1), to: day(berlin, 2024, 6, 1), loc: berlin,
			want: []string{"2024-05-10 09:00+02 05-10 10:00+02 Yoga wherever I am"},
		},
		{
			name: "floating time is read on a Tokyo reader's clock",
			data: readFile(t, "floating.ics"), from: day(tokyo, 2024, 5, 1), to: day(tokyo, 2024, 6, 1), loc: tokyo,
			want: []string{"2024-05-10 09:00+09 05-10 10:00+09 Yoga wherever I am"},
		},
		{
			name: "UNTIL in UTC bounds a series with a TZID, the instance at UNTIL included",
			data: readFile(t, "until-utc.ics"), from: day(berlin, 2024, 3, 1), to: day(berlin, 2024, 5, 1), loc: berlin,
			want: []string{
				"2024-03-29 09:00+01 03-29 09:15+01 Until Monday",
				"2024-03-30 09:00+01 03-30 09:15+01 Until Monday",
				"2024-03-31 09:00+02 03-31 09:15+02 Until Monday",
				"2024-04-01 09:00+02 04-01 09:15+02 Until Monday",
			},
		},
		{
			name: "COUNT counts instances, and a monthly 31st skips shorter months",
			data: readFile(t, "count.ics"), from: day(time.UTC, 2024, 1, 1), to: day(time.UTC, 2025, 1, 1), loc: time.UTC,
			want: []string{
				"2024-01-31 12:00+00 01-31 13:00+00 Month end (31st only)",
				"2024-03-31 12:00+00 03-31 13:00+00 Month end (31st only)",
				"2024-05-31 12:00+00 05-31 13:00+00 Month end (31st only)",
				"2024-07-31 12:00+00 07-31 13:00+00 Month end (31st only)",
			},
		},
		{
			name: "RDATE adds instances, a PERIOD with its own length",
			data: readFile(t, "rdate.ics"), from: day(berlin, 2024, 6, 1), to: day(berlin, 2024, 7, 1), loc: berlin,
			want: []string{
				"2024-06-03 18:00+02 06-03 19:00+02 Choir",
				"2024-06-10 18:00+02 06-10 19:00+02 Choir",
				"2024-06-17 19:00+02 06-17 20:00+02 Choir",
				"2024-06-24 18:00+02 06-24 21:00+02 Choir",
			},
		},
		{
			name: "never-ending RRULE expands a week 290 years after DTSTART (Wednesday to Tuesday)",
			data: readFile(t, "unbounded.ics"), from: day(berlin, 2290, 6, 4), to: day(berlin, 2290, 6, 11), loc: berlin,
			want: []string{
				"2290-06-04 08:30+02 06-04 08:45+02 Commute",
				"2290-06-05 08:30+02 06-05 08:45+02 Commute",
				"2290-06-06 08:30+02 06-06 08:45+02 Commute",
				"2290-06-09 08:30+02 06-09 08:45+02 Commute",
				"2290-06-10 08:30+02 06-10 08:45+02 Commute",
			},
		},
		{
			name: "minutely series from 2010 expands an hour in 2024",
			data: readFile(t, "minutely.ics"), from: time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC), to: time.Date(2024, 6, 1, 12, 30, 0, 0, time.UTC), loc: time.UTC,
			want: []string{
				"2024-06-01 12:03+00 06-01 12:04+00 Heartbeat",
				"2024-06-01 12:10+00 06-01 12:11+00 Heartbeat",
				"2024-06-01 12:17+00 06-01 12:18+00 Heartbeat",
				"2024-06-01 12:24+00 06-01 12:25+00 Heartbeat",
			},
		},
		{
			name: "RRULE that yields nothing lists DTSTART alone, with a warning",
			data: readFile(t, "never.ics"), from: day(berlin, 2024, 1, 1), to: day(berlin, 2025, 1, 1), loc: berlin,
			want:    []string{"2024-01-30 00:00+01 01-31 00:00+01 all-day The thirtieth of February"},
			warning: "RRULE yields no occurrences",
		},
		{
			name: "hourly RRULE whose BYHOUR its INTERVAL never reaches does not hang",
			data: readFile(t, "hourly-unreachable.ics"), from: day(time.UTC, 2024, 1, 1), to: day(time.UTC, 2024, 2, 1), loc: time.UTC,
			want:    []string{"2024-01-01 09:00+00 01-01 09:00+00 Never at five"},
			warning: "RRULE yields no occurrences",
		},
		{
			name: "DURATION counts its days on the wall clock across a DST change",
			data: readFile(t, "duration.ics"), from: day(berlin, 2024, 3, 30), to: day(berlin, 2024, 4, 2), loc: berlin,
			want: []string{"2024-03-30 22:00+01 03-31 23:30+02 Across the spring change"},
		},
		{
			name: "folded lines are unfolded, a UTF-8 sequence split by a fold included",
			data: readFile(t, "folded-utf8.ics"), from: day(berlin, 2024, 7, 20), to: day(berlin, 2024, 7, 21), loc: berlin,
			want: []string{"2024-07-20 15:00+02 07-20 23:00+02 Sommerfest mit Grüßen → alle"},
		},
		{
			name: "bare LF line ends read like CRLF",
			data: readFile(t, "folded-lf.ics"), from: day(berlin, 2024, 7, 20), to: day(berlin, 2024, 7, 21), loc: berlin,
			want: []string{"2024-07-20 15:00+02 07-20 23:00+02 Sommerfest mit Grüßen → alle"},
		},
		{
			name: "unknown TZID is read as floating time, with a warning",
			data: readFile(t, "unknown-tzid.ics"), from: day(tokyo, 2024, 3, 1), to: day(tokyo, 2024, 3, 2), loc: tokyo,
			want:    []string{"2024-03-01 09:00+09 03-01 10:00+09 Somewhere"},
			warning: `unknown TZID "Mars/Olympus_Mons"`,
		},
		{
			name: "DTSTART that the rule does not match is the first instance and counts toward COUNT",
			data: vcal(`
BEGIN:VEVENT
UID:unsynced
DTSTART:20240102T100000Z
RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=3
SUMMARY:Tuesday then Mondays
END:VEVENT`), from: day(time.UTC, 2024, 1, 1), to: day(time.UTC, 2024, 3, 1), loc: time.UTC,
			want: []string{
				"2024-01-02 10:00+00 01-02 10:00+00 Tuesday then Mondays",
				"2024-01-08 10:00+00 01-08 10:00+00 Tuesday then Mondays",
				"2024-01-15 10:00+00 01-15 10:00+00 Tuesday then Mondays",
			},
		},
		{
			name: "RECURRENCE-ID in UTC replaces the instance written with a TZID",
			data: vcal(`
BEGIN:VEVENT
UID:rid-utc
DTSTART;TZID=Europe/Berlin:20240701T100000
DTEND;TZID=Europe/Berlin:20240701T110000
RRULE:FREQ=DAILY;COUNT=3
SUMMARY:Daily
END:VEVENT
BEGIN:VEVENT
UID:rid-utc
RECURRENCE-ID:20240702T080000Z
DTSTART:20240702T120000Z
DTEND:20240702T130000Z
SUMMARY:Later today
END:VEVENT`), from: day(berlin, 2024, 7, 1), to: day(berlin, 2024, 7, 5), loc: berlin,
			want: []string{
				"2024-07-01 10:00+02 07-01 11:00+02 Daily",
				"2024-07-02 14:00+02 07-02 15:00+02 override(07-02 10:00) Later today",
				"2024-07-03 10:00+02 07-03 11:00+02 Daily",
			},
		},
		{
			name: "EXDATE with a DATE removes that day's instance of a timed series, and its override",
			data: vcal(`
BEGIN:VEVENT
UID:exdate-date
DTSTART;TZID=Europe/Berlin:20240701T100000
RRULE:FREQ=DAILY;COUNT=3
EXDATE;VALUE=DATE:20240702
SUMMARY:Daily
END:VEVENT
BEGIN:VEVENT
UID:exdate-date
RECURRENCE-ID;TZID=Europe/Berlin:20240702T100000
DTSTART;TZID=Europe/Berlin:20240702T110000
SUMMARY:Excluded anyway
END:VEVENT`), from: day(berlin, 2024, 7, 1), to: day(berlin, 2024, 7, 5), loc: berlin,
			want: []string{
				"2024-07-01 10:00+02 07-01 10:00+02 Daily",
				"2024-07-03 10:00+02 07-03 10:00+02 Daily",
			},
		},
		{
			name: "override without SUMMARY keeps the master's; window edges are half-open",
			data: vcal(`
BEGIN:VEVENT
UID:edges
DTSTART:20240701T090000Z
DTEND:20240701T100000Z
RRULE:FREQ=DAILY;COUNT=4
SUMMARY:Edges
LOCATION:Hall
END:VEVENT
BEGIN:VEVENT
UID:edges
RECURRENCE-ID:20240703T090000Z
DTSTART:20240703T093000Z
DTEND:20240703T103000Z
END:VEVENT`), from: time.Date(2024, 7, 2, 10, 0, 0, 0, time.UTC), to: time.Date(2024, 7, 4, 9, 0, 0, 0, time.UTC), loc: time.UTC,
			want: []string{"2024-07-03 09:30+00 07-03 10:30+00 override(07-03 09:00) Edges"},
		},
		{
			name: "zero-length event at the window's start is in it",
			data: readFile(t, "vtodo.ics"), from: time.Date(2024, 2, 15, 17, 0, 0, 0, time.UTC), to: time.Date(2024, 2, 15, 18, 0, 0, 0, time.UTC), loc: time.UTC,
			want: []string{"2024-02-15 17:00+00 02-15 17:00+00 File taxes"},
		},
		{
			name: "secondly series is cut off with a warning rather than run for long",
			data: vcal(`
BEGIN:VEVENT
UID:secondly
DTSTART:20240101T000000Z
RRULE:FREQ=SECONDLY;COUNT=5000000
SUMMARY:Tick
END:VEVENT`), from: day(time.UTC, 2024, 1, 3), to: day(time.UTC, 2024, 1, 4), loc: time.UTC,
			want:    nil,
			warning: "cut off after 100000 instances",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			got, warns, err := Expand(c.data, c.from, c.to, c.loc)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			var lines []string
			for _, o := range got {
				lines = append(lines, occ(o))
			}
			if strings.Join(lines, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(lines, "\n\t"), strings.Join(c.want, "\n\t"))
			}
			if c.warning != "" && !strings.Contains(strings.Join(warns, "\n"), c.warning) {
				t.Errorf("warnings %q lack %q", warns, c.warning)
			}
			if c.warning == "" && len(warns) > 0 {
				t.Errorf("unexpected warnings %q", warns)
			}
		})
	}
}

func TestExpandRecurrenceIDsAreSetOnlyForRecurringObjects(t *testing.T) {
	got, _, err := Expand(readFile(t, "floating.ics"), day(time.UTC, 2024, 1, 1), day(time.UTC, 2025, 1, 1), time.UTC)
	if err != nil || len(got) != 1 {
		t.Fatal(got, err)
	}
	if !got[0].RecurrenceID.IsZero() {
		t.Errorf("RecurrenceID = %v for a single event", got[0].RecurrenceID)
	}
	got, _, err = Expand(readFile(t, "dst-berlin.ics"), day(time.UTC, 2024, 1, 1), day(time.UTC, 2025, 1, 1), time.UTC)
	if err != nil || len(got) != 6 {
		t.Fatal(got, err)
	}
	for _, o := range got {
		if !o.RecurrenceID.Equal(o.Start) {
			t.Errorf("RecurrenceID %v != Start %v", o.RecurrenceID, o.Start)
		}
	}
}

func TestExpandRejectsWhatIsNotACalendar(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":                   nil,
		"HTML error page":         []byte("<html><body>502 Bad Gateway</body></html>"),
		"vCard":                   []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bob\r\nEND:VCARD\r\n"),
		"calendar without events": vcal("BEGIN:VJOURNAL\nUID:j\nEND:VJOURNAL"),
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := Expand(data, day(time.UTC, 2024, 1, 1), day(time.UTC, 2025, 1, 1), nil); err == nil {
				t.Error("no error")
			}
		})
	}
}
