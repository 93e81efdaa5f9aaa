package ical

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

const outlookVTimezone = `BEGIN:VTIMEZONE
TZID:W. Europe Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE`

const berlinVTimezone = `BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE`

// benchCalendar generates n objects over 2024-2025, like a few years of
// a working calendar: one in ten recurring (some with overrides and
// EXDATEs), one in ten all-day, most with a VTIMEZONE, a few attendees.
func benchCalendar(n int) [][]byte {
	r := rand.New(rand.NewPCG(7, 11))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	objs := make([][]byte, 0, n)
	for i := range n {
		var b strings.Builder
		b.WriteString("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n")
		start := base.Add(time.Duration(r.IntN(730*24)) * time.Hour).Truncate(time.Hour)
		if r.IntN(2) == 0 {
			start = start.Add(30 * time.Minute)
		}
		dur := time.Duration(1+r.IntN(6)) * 30 * time.Minute
		var dtstart, dtend string
		zone := r.IntN(10)
		switch {
		case r.IntN(10) == 0: // all-day
			dtstart = "DTSTART;VALUE=DATE:" + start.Format("20060102")
			dtend = "DTEND;VALUE=DATE:" + start.AddDate(0, 0, 1+r.IntN(3)).Format("20060102")
		case zone < 6:
			b.WriteString(berlinVTimezone + "\r\n")
			dtstart = "DTSTART;TZID=Europe/Berlin:" + start.Format("20060102T150405")
			dtend = "DTEND;TZID=Europe/Berlin:" + start.Add(dur).Format("20060102T150405")
		case zone < 7:
			b.WriteString(outlookVTimezone + "\r\n")
			dtstart = "DTSTART;TZID=W. Europe Standard Time:" + start.Format("20060102T150405")
			dtend = "DTEND;TZID=W. Europe Standard Time:" + start.Add(dur).Format("20060102T150405")
		case zone < 9:
			dtstart = "DTSTART:" + start.Format("20060102T150405Z")
			dtend = "DTEND:" + start.Add(dur).Format("20060102T150405Z")
		default:
			dtstart = "DTSTART:" + start.Format("20060102T150405")
			dtend = "DTEND:" + start.Add(dur).Format("20060102T150405")
		}
		uid := fmt.Sprintf("bench-%d@example.com", i)
		event := func(extra string) {
			fmt.Fprintf(&b, "BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20240101T000000Z\r\n%s\r\n%s\r\nSUMMARY:Event %d\r\nLOCATION:Room %d\r\n", uid, dtstart, dtend, i, i%40)
			b.WriteString("DESCRIPTION:Agenda: review the numbers\\, agree on next steps\\, and close.\r\n")
			for a := range 3 {
				fmt.Fprintf(&b, "ATTENDEE;CN=Person %d;PARTSTAT=ACCEPTED:mailto:p%d@example.com\r\n", a, a)
			}
			b.WriteString(extra)
			b.WriteString("END:VEVENT\r\n")
		}
		if i%10 != 0 {
			event("")
		} else {
			rule := []string{"FREQ=WEEKLY", "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", "FREQ=MONTHLY;BYDAY=2TU",
				"FREQ=WEEKLY;INTERVAL=2;COUNT=20", "FREQ=YEARLY", "FREQ=DAILY;UNTIL=20251231T000000Z"}[r.IntN(6)]
			extra := "RRULE:" + rule + "\r\n"
			if r.IntN(3) == 0 {
				extra += "EXDATE:" + start.AddDate(0, 0, 7).Format("20060102T150405Z") + "\r\n"
			}
			event(extra)
			if r.IntN(3) == 0 { // an override, moved by an hour
				rid := strings.Replace(strings.Replace(dtstart, "DTSTART", "RECURRENCE-ID", 1), start.Format("20060102"), start.AddDate(0, 0, 14).Format("20060102"), 1)
				fmt.Fprintf(&b, "BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20240101T000000Z\r\n%s\r\nDTSTART:%s\r\nDURATION:PT1H\r\nSUMMARY:Moved\r\nEND:VEVENT\r\n",
					uid, rid, start.AddDate(0, 0, 14).Add(time.Hour).Format("20060102T150405Z"))
			}
		}
		b.WriteString("END:VCALENDAR\r\n")
		objs = append(objs, []byte(b.String()))
	}
	return objs
}

// BenchmarkExpandMonth lists one month of a 5,000-object calendar. "all"
// expands every object; "bounded" first drops the objects whose stored
// bounds (Parse's Start and LastEnd, widened by 14 hours for floating and
// all-day ones) miss the month, as the calendar engine's range query
// does, and expands the rest.
func BenchmarkExpandMonth(b *testing.B) {
	berlin := mustLoad(b, "Europe/Berlin")
	objs := benchCalendar(5000)
	from, to := time.Date(2025, 3, 1, 0, 0, 0, 0, berlin), time.Date(2025, 4, 1, 0, 0, 0, 0, berlin)
	var candidates [][]byte
	for _, data := range objs {
		o, err := Parse(data)
		if err != nil || len(o.Warnings) > 0 {
			b.Fatalf("%v %q\n%s", err, o.Warnings, data)
		}
		lo, hi := o.Start, o.LastEnd
		if o.AllDay || o.Floating {
			lo, hi = lo.Add(-14*time.Hour), hi.Add(14*time.Hour)
		}
		if lo.Before(to) && (o.Unbounded || hi.After(from)) {
			candidates = append(candidates, data)
		}
	}
	for _, bc := range []struct {
		name string
		objs [][]byte
	}{{"all", objs}, {"bounded", candidates}} {
		b.Run(bc.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				n = 0
				for _, data := range bc.objs {
					occs, _, err := Expand(data, from, to, berlin)
					if err != nil {
						b.Fatal(err)
					}
					n += len(occs)
				}
			}
			b.ReportMetric(float64(n), "occurrences")
			b.ReportMetric(float64(len(bc.objs)), "objects")
		})
	}
}

// BenchmarkParse5000 is the cost of reading a whole calendar at sync.
func BenchmarkParse5000(b *testing.B) {
	objs := benchCalendar(5000)
	for b.Loop() {
		for _, data := range objs {
			if _, err := Parse(data); err != nil {
				b.Fatal(err)
			}
		}
	}
}
