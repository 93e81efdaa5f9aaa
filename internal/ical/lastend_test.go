package ical

import (
	"testing"
	"time"
)

// The last instance of a series whose final slot is excluded is found
// although the search from near UNTIL meets only DTSTART (which always
// comes first): found by the calendar benchmark, where `cal ls` left out
// a series whose range the store had cut short.
func TestLastEndOfASeriesWhoseLastSlotIsExcluded(t *testing.T) {
	data := []byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTAMP:20261026T160000Z\r\n" +
		"DTSTART;TZID=America/New_York:20260105T084500\r\nDTEND;TZID=America/New_York:20260105T091500\r\n" +
		"RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;UNTIL=20260622T124500Z\r\nEXDATE;TZID=America/New_York:20260622T084500\r\n" +
		"SUMMARY:s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
	o, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	if want := time.Date(2026, 6, 8, 9, 15, 0, 0, ny); !o.LastEnd.Equal(want) || o.Unbounded {
		t.Fatalf("LastEnd = %v (unbounded %v), want %v", o.LastEnd, o.Unbounded, want)
	}
}
