package calsync_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/store"
)

// Malformed iCalendar from the server is stored as received and marked,
// listed with a warning, and never blocks the rest of the calendar.
func TestMalformedDataFromTheServerIsKeptAndNeverBlocksTheCalendar(t *testing.T) {
	e := newEnv(t, "")
	e.seed(t, "work", 8, day)
	attendees := strings.Repeat("ATTENDEE:mailto:someone@example.com\r\n", 10000)
	e.remote.corrupt = map[string][]byte{
		e.href("work", "work-0@test.ics"): []byte("this is not iCalendar at all"),
		e.href("work", "work-1@test.ics"): []byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20261201T090000Z\r\nSUMMARY:no uid\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"),
		e.href("work", "work-2@test.ics"): []byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:tz@test\r\nDTSTART;TZID=Mars/Olympus_Mons:20261201T090000\r\nSUMMARY:unknown zone\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"),
		e.href("work", "work-3@test.ics"): []byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:forever@test\r\nDTSTART:20261201T090000Z\r\nRRULE:FREQ=SECONDLY\r\nSUMMARY:never ends\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"),
		e.href("work", "work-4@test.ics"): []byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:nothing@test\r\nDTSTART:20261201T090000Z\r\nRRULE:FREQ=DAILY;UNTIL=20251201T000000Z\r\nSUMMARY:yields nothing\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"),
		e.href("work", "work-5@test.ics"): []byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:crowd@test\r\nDTSTART:20261201T090000Z\r\nSUMMARY:all hands\r\n" + attendees + "END:VEVENT\r\nEND:VCALENDAR\r\n"),
		e.href("work", "work-6@test.ics"): []byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:work-7@test\r\nDTSTART:20261201T090000Z\r\nSUMMARY:same UID as another href\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"),
	}
	start := time.Now()
	st := e.sync(t)
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("sync with malformed objects took %v", took)
	}
	if st.Fetched != 8 || st.Bad < 1 {
		t.Fatalf("sync = %+v, want all 8 stored and the unreadable one counted", st)
	}
	objs, err := e.db.CalObjectsInRange(context.Background(), store.CalRange{Account: "work", From: day.AddDate(0, 0, -30), To: day.AddDate(0, 0, 30)})
	if err != nil {
		t.Fatal(err)
	}
	byHref := map[string]store.CalObject{}
	for _, o := range objs {
		byHref[o.Href] = o
	}
	for href, data := range e.remote.corrupt {
		o, ok := byHref[href]
		if !ok {
			t.Errorf("%s: not listed", href)
			continue
		}
		full, _ := e.db.CalObjectByID(context.Background(), o.ID)
		if string(full.Data) != string(data) {
			t.Errorf("%s: not stored as received", href)
		}
	}
	if o := byHref[e.href("work", "work-0@test.ics")]; !o.Bad || len(o.Warnings) == 0 {
		t.Errorf("not iCalendar: %+v, want marked bad with a warning", o)
	}
	for _, name := range []string{"work-1@test.ics", "work-2@test.ics"} { // (work-4: DTSTART always counts, so it yields one)
		if o := byHref[e.href("work", name)]; len(o.Warnings) == 0 {
			t.Errorf("%s: no warning (%+v)", name, o)
		}
	}
	if o := byHref[e.href("work", "work-3@test.ics")]; !o.Unbounded {
		t.Errorf("a series that never ends: %+v", o)
	}
	if o := byHref[e.href("work", "work-7@test.ics")]; o.Summary != "work event 7" {
		t.Errorf("the healthy object after the bad ones: %+v", o)
	}
}
