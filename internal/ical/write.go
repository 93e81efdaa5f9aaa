package ical

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	goical "github.com/emersion/go-ical"
)

// ProdID is the PRODID of the objects holdover writes.
const ProdID = "-//holdover//EN"

// Event is a new event, as a person asks for it.
type Event struct {
	UID, Summary, Location, Description string
	// Start and End bound the event; End is exclusive. Start's Location
	// decides how times are written: UTC as UTC, an IANA zone as a TZID
	// with a generated VTIMEZONE, anything else (time.Local, a fixed
	// zone) as UTC — exact for the one event, but a series would then not
	// follow DST, so give a recurring event its IANA Location.
	// For an all-day event only the dates count (each in its own
	// Location), End being the day after the last; a zero End means one
	// day.
	Start, End time.Time
	AllDay     bool
	RRule      string // as in RFC 5545 ("FREQ=WEEKLY;BYDAY=MO"); "" for none
}

// NewEvent writes a VCALENDAR holding e. It fails, before anything is
// written, when the UID is empty, the end is not after the start, or the
// RRULE is malformed or yields nothing.
func NewEvent(e Event, now time.Time) ([]byte, error) {
	uid := strings.TrimSpace(e.UID)
	if uid == "" || strings.ContainsAny(uid, "\r\n") {
		return nil, errors.New("an event needs a UID on one line")
	}
	if e.Start.IsZero() {
		return nil, errors.New("an event needs a start")
	}
	ev := goical.NewComponent("VEVENT")
	cal := goical.NewCalendar()
	cal.Props.SetText("PRODID", ProdID)
	cal.Props.SetText("VERSION", "2.0")
	var start, end *goical.Prop
	var iterStart time.Time
	allDay := e.AllDay
	var zone *time.Location // nil: UTC form
	if allDay {
		sd := civilDate(e.Start)
		ed := sd.AddDate(0, 0, 1)
		if !e.End.IsZero() {
			ed = civilDate(e.End)
		}
		if !ed.After(sd) {
			return nil, fmt.Errorf("end %s must be after start %s (the end of an all-day event is the day after the last)",
				ed.Format("2006-01-02"), sd.Format("2006-01-02"))
		}
		start, end = dateProp("DTSTART", sd), dateProp("DTEND", ed)
		iterStart = sd
	} else {
		if e.End.IsZero() {
			return nil, errors.New("an event needs an end")
		}
		if !e.End.After(e.Start) {
			return nil, fmt.Errorf("end %s must be after start %s", e.End.Format(time.RFC3339), e.Start.Format(time.RFC3339))
		}
		if name := e.Start.Location().String(); name != "UTC" && ianaZone(name) != nil {
			zone = ianaZone(name)
		}
		start, end = timeProp("DTSTART", e.Start, zone), timeProp("DTEND", e.End, zone)
		iterStart = e.Start.In(time.UTC)
		if zone != nil {
			iterStart = e.Start.In(zone)
		}
	}
	lastYear := iterStart.Year()
	if e.RRule != "" {
		spec, _, err := parseRecur(e.RRule, true)
		if err != nil {
			return nil, err
		}
		until := ""
		if spec.until.set {
			u := spec.bind(iterStart, allDay).opt.Until
			if allDay {
				until = u.Format("20060102")
			} else {
				until = u.UTC().Format("20060102T150405Z")
			}
			lastYear = u.Year()
		} else {
			lastYear = iterStart.Year() + 10 // as far as a VTIMEZONE of RDATEs goes
		}
		if b := spec.bind(iterStart, allDay); b.never {
			return nil, fmt.Errorf("%w: %s yields no occurrences", errBadRule, e.RRule)
		}
		ev.Props.Set(&goical.Prop{Name: "RRULE", Params: goical.Params{}, Value: spec.text(until)})
	}
	if zone != nil {
		cal.Children = append(cal.Children, vtimezoneFor(zone, iterStart, lastYear))
	}
	stamp := now.UTC().Format("20060102T150405Z")
	ev.Props.Set(&goical.Prop{Name: "UID", Params: goical.Params{}, Value: uid})
	for _, n := range []string{"DTSTAMP", "CREATED", "LAST-MODIFIED"} {
		ev.Props.Set(&goical.Prop{Name: n, Params: goical.Params{}, Value: stamp})
	}
	ev.Props.Set(&goical.Prop{Name: "SEQUENCE", Params: goical.Params{}, Value: "0"})
	ev.Props.Set(start)
	ev.Props.Set(end)
	for _, t := range []struct{ name, value string }{{"SUMMARY", e.Summary}, {"LOCATION", e.Location}, {"DESCRIPTION", e.Description}} {
		if t.value != "" {
			ev.Props.Set(&goical.Prop{Name: t.name, Params: goical.Params{}, Value: escapeText(t.value)})
		}
	}
	cal.Children = append(cal.Children, ev)
	var buf bytes.Buffer
	if err := goical.NewEncoder(&buf).Encode(cal); err != nil {
		return nil, err
	}
	// go-ical's encoder does not fold; RFC 5545 §3.1 wants lines of at
	// most 75 octets.
	var out bytes.Buffer
	for _, line := range strings.SplitAfter(buf.String(), "\r\n") {
		if line != "" {
			foldLine(&out, strings.TrimSuffix(line, "\r\n"), "\r\n")
		}
	}
	return out.Bytes(), nil
}

// civilDate is t's date in its own Location, as midnight UTC.
func civilDate(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func dateProp(name string, d time.Time) *goical.Prop {
	return &goical.Prop{Name: name, Params: goical.Params{"VALUE": {"DATE"}}, Value: d.Format("20060102")}
}

// timeProp writes t with a TZID of zone, or in UTC when zone is nil.
func timeProp(name string, t time.Time, zone *time.Location) *goical.Prop {
	if zone == nil {
		return &goical.Prop{Name: name, Params: goical.Params{}, Value: t.UTC().Format("20060102T150405Z")}
	}
	return &goical.Prop{Name: name, Params: goical.Params{"TZID": {zone.String()}}, Value: t.In(zone).Format("20060102T150405")}
}

// foldLine writes line with its terminator, folded after 75 octets and
// never inside a UTF-8 sequence.
func foldLine(b *bytes.Buffer, line, eol string) {
	limit := 75
	for len(line) > limit {
		cut := limit
		for cut > 1 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		b.WriteString(line[:cut])
		b.WriteString(eol)
		b.WriteByte(' ')
		line = line[cut:]
		limit = 74 // the leading space counts
	}
	b.WriteString(line)
	b.WriteString(eol)
}

// propLine renders a property as one unfolded content line.
func propLine(p *goical.Prop) string {
	var b strings.Builder
	b.WriteString(p.Name)
	names := make([]string, 0, len(p.Params))
	for n := range p.Params {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b.WriteString(";" + n + "=")
		for i, v := range p.Params[n] {
			if i > 0 {
				b.WriteByte(',')
			}
			v = strings.ReplaceAll(v, `"`, "")
			if strings.ContainsAny(v, ";:,") {
				v = `"` + v + `"`
			}
			b.WriteString(v)
		}
	}
	b.WriteByte(':')
	b.WriteString(p.Value)
	return b.String()
}

// vtimezoneFor describes loc from the year of from to lastYear as a
// VTIMEZONE, which RFC 5545 requires for every TZID. When the zone
// changes twice a year on the same weekday rule (all of Europe and North
// America), the two observances carry that rule as an RRULE and hold for
// every later year; otherwise each change is listed as an RDATE, for ten
// years at most. Readers that know the IANA name (most do) use their own
// rules anyway.
func vtimezoneFor(loc *time.Location, from time.Time, lastYear int) *goical.Component {
	y := from.In(loc).Year()
	vtz := goical.NewComponent("VTIMEZONE")
	vtz.Props.Set(&goical.Prop{Name: "TZID", Params: goical.Params{}, Value: loc.String()})
	observance := func(t zoneChange) *goical.Component {
		name := "STANDARD"
		if t.dst {
			name = "DAYLIGHT"
		}
		ob := goical.NewComponent(name)
		set := func(n, v string) { ob.Props.Set(&goical.Prop{Name: n, Params: goical.Params{}, Value: v}) }
		set("DTSTART", t.wall().Format("20060102T150405"))
		set("TZOFFSETFROM", offsetString(t.from))
		set("TZOFFSETTO", offsetString(t.to))
		set("TZNAME", t.name)
		return ob
	}
	changes := zoneChanges(loc, y, y+4)
	if len(changes) == 0 {
		name, off := from.In(loc).Zone()
		vtz.Children = append(vtz.Children, observance(zoneChange{at: time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), from: off, to: off, name: name}))
		return vtz
	}
	if rules, ok := yearlyRules(changes, y); ok {
		for i, c := range changes[:2] {
			ob := observance(c)
			ob.Props.Set(&goical.Prop{Name: "RRULE", Params: goical.Params{}, Value: rules[i]})
			vtz.Children = append(vtz.Children, ob)
		}
		return vtz
	}
	changes = zoneChanges(loc, y, min(max(lastYear, y), y+10))
	byKind := map[string]*goical.Component{}
	for _, c := range changes {
		key := fmt.Sprint(c.from, c.to, c.dst, c.name)
		if ob, ok := byKind[key]; ok {
			ob.Props.Add(&goical.Prop{Name: "RDATE", Params: goical.Params{}, Value: c.wall().Format("20060102T150405")})
			continue
		}
		byKind[key] = observance(c)
		vtz.Children = append(vtz.Children, byKind[key])
	}
	return vtz
}

// zoneChange is one change of offset of a zone.
type zoneChange struct {
	at       time.Time // the instant
	from, to int       // offsets before and after
	dst      bool
	name     string
}

// wall is the local time of the change before it happens, which is how
// a VTIMEZONE writes an onset.
func (c zoneChange) wall() time.Time { return c.at.UTC().Add(time.Duration(c.from) * time.Second) }

// zoneChanges lists the changes of loc in the years y0..y1.
func zoneChanges(loc *time.Location, y0, y1 int) []zoneChange {
	var out []zoneChange
	t := time.Date(y0, 1, 1, 0, 0, 0, 0, loc)
	stop := time.Date(y1+1, 1, 1, 0, 0, 0, 0, loc)
	for i := 0; i < 200; i++ {
		_, next := t.ZoneBounds()
		if next.IsZero() || !next.Before(stop) {
			break
		}
		_, from := next.Add(-time.Second).Zone()
		name, to := next.Zone()
		if from != to {
			out = append(out, zoneChange{at: next, from: from, to: to, dst: next.IsDST(), name: name})
		}
		t = next
	}
	return out
}

// yearlyRules finds, for the first two changes, the yearly rules
// (FREQ=YEARLY;BYMONTH=m;BYDAY=nDD) that give every change listed, all
// of which are in the years from y on.
func yearlyRules(changes []zoneChange, y int) ([2]string, bool) {
	var rules [2]string
	if len(changes) < 2 || len(changes)%2 != 0 {
		return rules, false
	}
	weekday := [7]string{"SU", "MO", "TU", "WE", "TH", "FR", "SA"}
	type rule struct {
		month time.Month
		n     int
		wd    time.Weekday
		clock time.Duration
	}
	ruleOf := func(c zoneChange) rule {
		w := c.wall()
		n := (w.Day()-1)/7 + 1
		if w.Day()+7 > time.Date(w.Year(), w.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day() {
			n = -1
		}
		return rule{w.Month(), n, w.Weekday(), w.Sub(civilDate(w))}
	}
	first := [2]rule{ruleOf(changes[0]), ruleOf(changes[1])}
	for i, c := range changes {
		if ruleOf(c) != first[i%2] || c.at.Year() != y+i/2 && c.wall().Year() != y+i/2 {
			return rules, false
		}
	}
	for i, r := range first {
		rules[i] = fmt.Sprintf("FREQ=YEARLY;BYMONTH=%d;BYDAY=%d%s", r.month, r.n, weekday[r.wd])
	}
	return rules, true
}
