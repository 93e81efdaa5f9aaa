package demo

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"
)

// clientSummary is the event a calendar app creates through holdover's
// CalDAV endpoint during the outage.
const clientSummary = "Dentist (from a calendar app)"

// putThroughCalDAV is a calendar app (Thunderbird, vdirsyncer, ...)
// creating an event with a PUT to holdover's local CalDAV endpoint while
// the provider is down: the 201 comes from the local store.
func (d *demo) putThroughCalDAV(ctx context.Context) error {
	cals, err := d.db.Calendars(ctx, "demo")
	if err != nil || len(cals) != 1 {
		return fmt.Errorf("demo: calendars %v, %v", cals, err)
	}
	start := time.Now().UTC().AddDate(0, 0, 3).Truncate(time.Hour)
	ics := fmt.Sprintf("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//a calendar app//EN\r\nBEGIN:VEVENT\r\nUID:dentist@calendar-app.example\r\nDTSTAMP:%s\r\nDTSTART:%s\r\nDTEND:%s\r\nSUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
		time.Now().UTC().Format("20060102T150405Z"), start.Format("20060102T150405Z"), start.Add(time.Hour).Format("20060102T150405Z"), clientSummary)
	url := fmt.Sprintf("http://%s/demo/calendars/%d/dentist.ics", d.localCalDAV, cals[0].ID)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader([]byte(ics)))
	if err != nil {
		return err
	}
	req.SetBasicAuth("you", "demo-local-password")
	req.Header.Set("Content-Type", "text/calendar; charset=utf-8")
	req.Header.Set("If-None-Match", "*")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("demo: PUT to the CalDAV endpoint: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("demo: PUT to the CalDAV endpoint: %s", resp.Status)
	}
	d.say("  a calendar app created %q through holdover's CalDAV endpoint (%s): 201, ETag %s", clientSummary, d.localCalDAV, resp.Header.Get("ETag"))
	return nil
}
