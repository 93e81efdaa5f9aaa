package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	gocaldav "github.com/emersion/go-webdav/caldav"

	"github.com/holdover/holdover/internal/davmem"
	"github.com/holdover/holdover/internal/ical"
	"github.com/holdover/holdover/sync/calsync"
)

// calProvider is the demo's calendar provider: an in-memory CalDAV server
// (go-webdav) on loopback, with Basic auth.
type calProvider struct {
	backend  *davmem.Backend
	password string
	srv      *http.Server
	ln       net.Listener
}

const demoCalendar = "/alice/calendars/work/"

func startCalDAV(user, password string) (*calProvider, error) {
	p := &calProvider{password: password, backend: davmem.New(gocaldav.Calendar{Path: demoCalendar, Name: "Work", SupportedComponentSet: []string{"VEVENT"}})}
	var err error
	if p.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	p.srv = &http.Server{Handler: p.backend.Handler(user, password), ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(p.ln)
	return p, nil
}

func (p *calProvider) addr() string { return p.ln.Addr().String() }

func (p *calProvider) close() { p.srv.Close() }

// seed puts a few events of the coming days in the calendar.
func (p *calProvider) seed(now time.Time) error {
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	for i, s := range []string{"Team stand-up", "Budget review", "Customer call"} {
		start := day.AddDate(0, 0, i+1).Add(9*time.Hour + time.Duration(i)*time.Hour)
		ics := fmt.Sprintf("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//holdover demo//EN\r\nBEGIN:VEVENT\r\nUID:demo-event-%d@example.com\r\nDTSTAMP:%s\r\nDTSTART:%s\r\nDTEND:%s\r\nSUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
			i, now.UTC().Format("20060102T150405Z"), start.Format("20060102T150405Z"), start.Add(time.Hour).Format("20060102T150405Z"), s)
		if _, err := p.backend.Put(fmt.Sprintf("%sdemo-event-%d.ics", demoCalendar, i), []byte(ics)); err != nil {
			return err
		}
	}
	return nil
}

// check asks the provider whether the offline calendar changes arrived:
// the new event exactly once, the renamed one renamed.
func (p *calProvider) check(added, renamed string) error {
	n, found := 0, false
	for _, data := range p.backend.Objects(demoCalendar) {
		if bytes.Contains(data, []byte("SUMMARY:"+added)) {
			n++
		}
		found = found || bytes.Contains(data, []byte("SUMMARY:"+renamed))
	}
	if n != 1 {
		return fmt.Errorf("demo: the provider has %q %d times, want once", added, n)
	}
	if !found {
		return errors.New("demo: the provider lacks the renamed event " + strings.TrimSpace(renamed))
	}
	return nil
}

// The demo's offline calendar changes.
const (
	plannedSummary = "Offsite planning"
	renamedSummary = "Budget review (moved online)"
)

// planOffline adds an event and renames another while the provider is
// away, through the calendar's local-change API (as `holdover cal add`
// and `cal edit` do).
func (d *demo) planOffline(ctx context.Context) error {
	l := &calsync.Local{DB: d.db, Notify: d.nudge}
	cals, err := d.db.Calendars(ctx, "demo")
	if err != nil || len(cals) != 1 {
		return fmt.Errorf("demo: calendars %v, %v", cals, err)
	}
	y, m, dd := time.Now().Date()
	start := time.Date(y, m, dd+2, 14, 0, 0, 0, time.Local)
	if _, err := l.Add(ctx, cals[0].ID, ical.Event{Summary: plannedSummary, Start: start, End: start.Add(2 * time.Hour)}); err != nil {
		return err
	}
	d.say("  added %q on %s to the calendar", plannedSummary, start.Local().Format("Mon 15:04"))
	objs, err := d.db.CalObjectsByUID(ctx, "demo", "demo-event-1@example.com")
	if err != nil || len(objs) != 1 {
		return fmt.Errorf("demo: the budget review: %v", err)
	}
	title := renamedSummary
	if err := l.Edit(ctx, objs[0].ID, ical.Change{Summary: &title}); err != nil {
		return err
	}
	d.say("  renamed %q to %q", objs[0].Summary, renamedSummary)
	return nil
}
