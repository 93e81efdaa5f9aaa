package ical

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var now = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// lines splits an object into its physical lines.
func lines(b []byte) []string {
	return strings.Split(strings.TrimRight(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n"), "\n")
}

func TestNewEvent(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	cases := []struct {
		name     string
		event    Event
		contains []string // lines the output must have
		window   [2]time.Time
		want     []string // occurrences in window, read in Berlin
	}{
		{
			name: "weekly event in Europe/Berlin keeps 09:00 across DST, with a TZID and a VTIMEZONE",
			event: Event{UID: "new-1@holdover", Summary: "Sync, weekly; \"quoted\"\nsecond line", Location: "Room 2",
				Start: time.Date(2024, 3, 18, 9, 0, 0, 0, berlin), End: time.Date(2024, 3, 18, 9, 30, 0, 0, berlin),
				RRule: "FREQ=WEEKLY;COUNT=3"},
			contains: []string{"PRODID:-//holdover//EN", "VERSION:2.0", "DTSTAMP:20240501T120000Z", "UID:new-1@holdover",
				"DTSTART;TZID=Europe/Berlin:20240318T090000", "DTEND;TZID=Europe/Berlin:20240318T093000",
				"RRULE:FREQ=WEEKLY;COUNT=3", "BEGIN:VTIMEZONE", "TZID:Europe/Berlin", "SEQUENCE:0",
				`SUMMARY:Sync\, weekly\; "quoted"\nsecond line`},
			window: [2]time.Time{day(berlin, 2024, 3, 1), day(berlin, 2024, 5, 1)},
			want: []string{
				"2024-03-18 09:00+01 03-18 09:30+01 Sync, weekly; \"quoted\"\nsecond line",
				"2024-03-25 09:00+01 03-25 09:30+01 Sync, weekly; \"quoted\"\nsecond line",
				"2024-04-01 09:00+02 04-01 09:30+02 Sync, weekly; \"quoted\"\nsecond line",
			},
		},
		{
			name:     "all-day event without an end lasts one day",
			event:    Event{UID: "new-2", Summary: "Holiday", Start: day(berlin, 2024, 5, 9), AllDay: true},
			contains: []string{"DTSTART;VALUE=DATE:20240509", "DTEND;VALUE=DATE:20240510"},
			window:   [2]time.Time{day(berlin, 2024, 5, 1), day(berlin, 2024, 6, 1)},
			want:     []string{"2024-05-09 00:00+02 05-10 00:00+02 all-day Holiday"},
		},
		{
			name: "all-day series: UNTIL written as a DATE",
			event: Event{UID: "new-3", Summary: "Trip", Start: day(berlin, 2024, 5, 9), End: day(berlin, 2024, 5, 11), AllDay: true,
				RRule: "rrule:freq=weekly;until=20240516T000000Z"},
			contains: []string{"RRULE:FREQ=WEEKLY;UNTIL=20240516"},
			window:   [2]time.Time{day(berlin, 2024, 5, 1), day(berlin, 2024, 6, 1)},
			want:     []string{"2024-05-09 00:00+02 05-11 00:00+02 all-day Trip", "2024-05-16 00:00+02 05-18 00:00+02 all-day Trip"},
		},
		{
			name: "timed series: a DATE UNTIL becomes the end of that day in UTC",
			event: Event{UID: "new-4", Summary: "Daily", Start: time.Date(2024, 5, 9, 18, 0, 0, 0, berlin), End: time.Date(2024, 5, 9, 19, 0, 0, 0, berlin),
				RRule: "FREQ=DAILY;UNTIL=20240510"},
			contains: []string{"RRULE:FREQ=DAILY;UNTIL=20240510T215959Z"},
			window:   [2]time.Time{day(berlin, 2024, 5, 1), day(berlin, 2024, 6, 1)},
			want:     []string{"2024-05-09 18:00+02 05-09 19:00+02 Daily", "2024-05-10 18:00+02 05-10 19:00+02 Daily"},
		},
		{
			name:     "UTC start is written in UTC, without a VTIMEZONE",
			event:    Event{UID: "new-5", Summary: "Call", Start: time.Date(2024, 5, 9, 16, 0, 0, 0, time.UTC), End: time.Date(2024, 5, 9, 17, 0, 0, 0, time.UTC)},
			contains: []string{"DTSTART:20240509T160000Z", "DTEND:20240509T170000Z"},
			window:   [2]time.Time{day(berlin, 2024, 5, 1), day(berlin, 2024, 6, 1)},
			want:     []string{"2024-05-09 18:00+02 05-09 19:00+02 Call"},
		},
		{
			name: "a fixed zone, which has no IANA name, is written in UTC",
			event: Event{UID: "new-6", Summary: "Fixed", Start: time.Date(2024, 5, 9, 16, 0, 0, 0, time.FixedZone("X", 3600)),
				End: time.Date(2024, 5, 9, 17, 0, 0, 0, time.FixedZone("X", 3600))},
			contains: []string{"DTSTART:20240509T150000Z"},
			window:   [2]time.Time{day(berlin, 2024, 5, 1), day(berlin, 2024, 6, 1)},
			want:     []string{"2024-05-09 17:00+02 05-09 18:00+02 Fixed"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, err := NewEvent(c.event, now)
			if err != nil {
				t.Fatal(err)
			}
			unfolded := strings.ReplaceAll(string(data), "\r\n ", "")
			for _, want := range c.contains {
				if !slices.Contains(lines([]byte(unfolded)), want) {
					t.Errorf("no line %q in\n%s", want, unfolded)
				}
			}
			for _, l := range lines(data) {
				if len(l) > 75 || !utf8.ValidString(l) {
					t.Errorf("line of %d octets or split UTF-8: %q", len(l), l)
				}
			}
			if bytes.Contains(bytes.ReplaceAll(data, []byte("\r\n"), nil), []byte("\n")) {
				t.Error("a line ends in a bare LF")
			}
			if _, err := goicalDecode(data); err != nil {
				t.Errorf("go-ical cannot read it: %v", err)
			}
			o, err := Parse(data)
			if err != nil || len(o.Warnings) > 0 || o.UID != c.event.UID {
				t.Fatalf("Parse: %+v %v", o, err)
			}
			got, _, err := Expand(data, c.window[0], c.window[1], berlin)
			if err != nil {
				t.Fatal(err)
			}
			var gotLines []string
			for _, o := range got {
				gotLines = append(gotLines, occ(o))
			}
			if strings.Join(gotLines, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(gotLines, "\n\t"), strings.Join(c.want, "\n\t"))
			}
		})
	}
}

func TestNewEventFoldsLongLinesWithoutSplittingCharacters(t *testing.T) {
	summary := strings.Repeat("Grüße → ", 40)
	data, err := NewEvent(Event{UID: "long", Summary: summary, Start: now, End: now.Add(time.Hour)}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines(data) {
		if len(l) > 75 || !utf8.ValidString(l) {
			t.Errorf("bad line %q", l)
		}
	}
	if o, err := Parse(data); err != nil || o.Summary != summary {
		t.Errorf("summary %q, %v", o.Summary, err)
	}
}

func TestNewEventRefusesBadInput(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	start := time.Date(2024, 5, 9, 9, 0, 0, 0, berlin)
	cases := []struct {
		name  string
		event Event
		err   string
	}{
		{"end before start", Event{UID: "x", Start: start, End: start.Add(-time.Hour)}, "must be after start"},
		{"end equal to start", Event{UID: "x", Start: start, End: start}, "must be after start"},
		{"no end", Event{UID: "x", Start: start}, "needs an end"},
		{"all-day ending on its first day", Event{UID: "x", Start: start, End: start, AllDay: true}, "day after the last"},
		{"no UID", Event{Start: start, End: start.Add(time.Hour)}, "UID"},
		{"UID with a line break", Event{UID: "a\nb", Start: start, End: start.Add(time.Hour)}, "UID"},
		{"unknown frequency", Event{UID: "x", Start: start, End: start.Add(time.Hour), RRule: "FREQ=FORTNIGHTLY"}, "bad RRULE"},
		{"unknown part", Event{UID: "x", Start: start, End: start.Add(time.Hour), RRule: "FREQ=DAILY;X-FOO=1"}, "X-FOO not supported"},
		{"COUNT and UNTIL", Event{UID: "x", Start: start, End: start.Add(time.Hour), RRule: "FREQ=DAILY;COUNT=2;UNTIL=20250101T000000Z"}, "both COUNT and UNTIL"},
		{"a rule that yields nothing", Event{UID: "x", Start: start, End: start.Add(time.Hour), RRule: "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "yields no occurrences"},
		{"a rule that would hang rrule-go", Event{UID: "x", Start: start, End: start.Add(time.Hour), RRule: "FREQ=HOURLY;INTERVAL=24;BYHOUR=5"}, "yields no occurrences"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewEvent(c.event, now)
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("err = %v, want %q", err, c.err)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

// changedLines lists the lines of after that are not in before, and the
// lines of before that are gone, as multisets.
func changedLines(before, after []byte) (added, removed []string) {
	count := map[string]int{}
	for _, l := range lines(before) {
		count[l]++
	}
	for _, l := range lines(after) {
		if count[l] > 0 {
			count[l]--
			continue
		}
		added = append(added, l)
	}
	for l, n := range count {
		for range n {
			removed = append(removed, l)
		}
	}
	sort := func(s []string) []string { slices.Sort(s); return s }
	return sort(added), sort(removed)
}

func TestEdit(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	cases := []struct {
		name    string
		file    string
		change  Change
		added   []string
		removed []string
	}{
		{
			name: "new summary on an Outlook object: every other line stays, VTIMEZONE and attendees included",
			file: "outlook-vtimezone.ics", change: Change{Summary: ptr("Quarterly review")},
			added:   []string{"DTSTAMP:20240501T120000Z", "LAST-MODIFIED:20240501T120000Z", "SEQUENCE:1", "SUMMARY:Quarterly review"},
			removed: []string{"DTSTAMP:20240301T101010Z", "SEQUENCE:0", "SUMMARY;LANGUAGE=en-US:Review"},
		},
		{
			name: "moving the start keeps the TZID and its VTIMEZONE, and the duration",
			file: "outlook-vtimezone.ics", change: Change{Start: ptr(time.Date(2024, 3, 18, 10, 30, 0, 0, berlin))},
			added: []string{"DTEND;TZID=W. Europe Standard Time:20240318T113000", "DTSTAMP:20240501T120000Z",
				"DTSTART;TZID=W. Europe Standard Time:20240318T103000", "LAST-MODIFIED:20240501T120000Z", "SEQUENCE:1"},
			removed: []string{"DTEND;TZID=W. Europe Standard Time:20240318T100000", "DTSTAMP:20240301T101010Z",
				"DTSTART;TZID=W. Europe Standard Time:20240318T090000", "SEQUENCE:0"},
		},
		{
			name: "the master of an overridden series is edited, the override is left alone",
			file: "override-moved.ics", change: Change{Location: ptr("Room 7, floor 2")},
			added:   []string{"DTSTAMP:20240501T120000Z", "LAST-MODIFIED:20240501T120000Z", `LOCATION:Room 7\, floor 2`, "SEQUENCE:3"},
			removed: []string{"DTSTAMP:20240101T120000Z", "SEQUENCE:2"},
		},
		{
			name: "moving an all-day series by two days moves its exclusive end too",
			file: "allday-series.ics", change: Change{Start: ptr(day(time.UTC, 2024, 3, 31))},
			added:   []string{"DTEND;VALUE=DATE:20240402", "DTSTAMP:20240501T120000Z", "DTSTART;VALUE=DATE:20240331", "LAST-MODIFIED:20240501T120000Z", "SEQUENCE:1"},
			removed: []string{"DTEND;VALUE=DATE:20240331", "DTSTAMP:20240101T120000Z", "DTSTART;VALUE=DATE:20240329"},
		},
		{
			name: "a new end replaces DURATION by DTEND",
			file: "duration.ics", change: Change{End: ptr(time.Date(2024, 3, 31, 12, 0, 0, 0, berlin))},
			added:   []string{"DTEND;TZID=Europe/Berlin:20240331T120000", "DTSTAMP:20240501T120000Z", "LAST-MODIFIED:20240501T120000Z", "SEQUENCE:1"},
			removed: []string{"DTSTAMP:20240101T120000Z", "DURATION:P1DT1H30M"},
		},
		{
			name: "an empty location removes it; a floating time stays floating",
			file: "override-moved.ics", change: Change{Location: ptr("")},
			added:   []string{"DTSTAMP:20240501T120000Z", "LAST-MODIFIED:20240501T120000Z", "SEQUENCE:3"},
			removed: []string{"DTSTAMP:20240101T120000Z", "SEQUENCE:2"},
		},
		{
			name: "floating start written as the new start's wall clock",
			file: "floating.ics", change: Change{Start: ptr(time.Date(2024, 5, 11, 7, 0, 0, 0, mustLoad(t, "Asia/Tokyo")))},
			added:   []string{"DTEND:20240511T080000", "DTSTAMP:20240501T120000Z", "DTSTART:20240511T070000", "LAST-MODIFIED:20240501T120000Z", "SEQUENCE:1"},
			removed: []string{"DTEND:20240510T100000", "DTSTAMP:20240101T120000Z", "DTSTART:20240510T090000"},
		},
		{
			name: "a bare-LF object gets bare-LF lines",
			file: "folded-lf.ics", change: Change{Description: ptr("short")},
			added: []string{"DESCRIPTION:short", "DTSTAMP:20240501T120000Z", "LAST-MODIFIED:20240501T120000Z", "SEQUENCE:1"},
			removed: []string{" tets, so that any decent producer folds it; this one does, t", " wice over.",
				"DESCRIPTION:A long description that goes on and on, past seventy-five oc", "DTSTAMP:20240101T120000Z"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := readFile(t, c.file)
			after, err := Edit(before, c.change, now)
			if err != nil {
				t.Fatal(err)
			}
			added, removed := changedLines(before, after)
			if strings.Join(added, "\n") != strings.Join(c.added, "\n") {
				t.Errorf("added\n\t%s\nwant\n\t%s", strings.Join(added, "\n\t"), strings.Join(c.added, "\n\t"))
			}
			if strings.Join(removed, "\n") != strings.Join(c.removed, "\n") {
				t.Errorf("removed\n\t%s\nwant\n\t%s", strings.Join(removed, "\n\t"), strings.Join(c.removed, "\n\t"))
			}
			if bytes.Contains(before, []byte("\r\n")) != bytes.Contains(after, []byte("\r\n")) {
				t.Error("line endings changed")
			}
			o, err := Parse(after)
			if err != nil || len(o.Warnings) > 0 {
				t.Fatalf("%+v %v", o, err)
			}
			if c.change.Summary != nil && o.Summary != *c.change.Summary || c.change.Location != nil && o.Location != *c.change.Location {
				t.Errorf("summary %q location %q", o.Summary, o.Location)
			}
			if c.change.Start != nil && !o.Start.Equal(*c.change.Start) && !o.AllDay && !o.Floating {
				t.Errorf("start %v, want %v", o.Start, *c.change.Start)
			}
		})
	}
}

func TestEditKeepsTheFoldedUIDAndRewritesOnlyWhatItChanges(t *testing.T) {
	before := readFile(t, "folded-utf8.ics")
	after, err := Edit(before, Change{Location: ptr("Garden")}, now)
	if err != nil {
		t.Fatal(err)
	}
	// Everything before the first changed line (DTSTAMP), the folded UID
	// included, is byte for byte the same, and so is everything after it
	// up to the lines added at the end.
	i := bytes.Index(before, []byte("DTSTAMP"))
	if !bytes.Equal(before[:i], after[:i]) {
		t.Errorf("prefix changed:\n%s", after)
	}
	rest := before[bytes.Index(before, []byte("dtstart")):bytes.Index(before, []byte("END:VEVENT"))]
	if !bytes.Contains(after, rest) {
		t.Errorf("middle changed:\n%s", after)
	}
	o, err := Parse(after)
	if err != nil || o.UID != "folded@example.com" || o.Location != "Garden" || o.Sequence != 1 {
		t.Errorf("%+v %v", o, err)
	}
}

func TestEditRefusesAnEndBeforeTheStart(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	cases := []struct {
		name   string
		file   string
		change Change
	}{
		{"end before start", "dst-berlin.ics", Change{End: ptr(time.Date(2024, 3, 28, 8, 0, 0, 0, berlin))}},
		{"start after end", "dst-berlin.ics", Change{Start: ptr(time.Date(2024, 3, 28, 10, 0, 0, 0, berlin)), End: ptr(time.Date(2024, 3, 28, 9, 0, 0, 0, berlin))}},
		{"all-day end on the start day", "allday-series.ics", Change{End: ptr(day(time.UTC, 2024, 3, 29))}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Edit(readFile(t, c.file), c.change, now); err == nil || !strings.Contains(err.Error(), "must be after start") {
				t.Errorf("err = %v", err)
			}
		})
	}
}
