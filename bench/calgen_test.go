//go:build linux

package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	_ "time/tzdata" // the generated events' zones, whatever the machine has
	"unicode/utf8"
)

// The generated calendars: name and share of the events.
var benchCalendars = []struct {
	Name  string
	Share float64
}{{"work", 0.6}, {"personal", 0.4}}

// calYear is the year the generated events are spread over (genNow's).
const calYear = 2026

// vtimezones are the VTIMEZONE blocks of the zones events use, as common
// clients write them.
var vtimezones = map[string]string{
	"Europe/Berlin": "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nX-LIC-LOCATION:Europe/Berlin\r\n" +
		"BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n" +
		"BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n" +
		"END:VTIMEZONE\r\n",
	"America/New_York": "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\nX-LIC-LOCATION:America/New_York\r\n" +
		"BEGIN:DAYLIGHT\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nTZNAME:EDT\r\nDTSTART:20070311T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nEND:DAYLIGHT\r\n" +
		"BEGIN:STANDARD\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nTZNAME:EST\r\nDTSTART:20071104T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nEND:STANDARD\r\n" +
		"END:VTIMEZONE\r\n",
}

// calEvent is one generated calendar object (one .ics file).
type calEvent struct {
	Calendar  string
	UID       string
	Start     time.Time // of the first occurrence
	Recurring bool
	Overrides int    // RECURRENCE-ID instances in the object
	Zone      string // TZID with a VTIMEZONE block, or "" (UTC, floating or all-day)
	Data      []byte
	// Occ are the event's occurrences until calHorizon, as a correct
	// expansion gives them (floating and all-day times in UTC).
	Occ []span
}

// span is one occurrence.
type span struct{ Start, End time.Time }

// calHorizon bounds the occurrences of never-ending series in Occ.
var calHorizon = time.Date(calYear+2, 1, 1, 0, 0, 0, 0, time.UTC)

// File is the event's file name in its calendar directory (its href's
// last segment on the server).
func (e *calEvent) File() string { return e.UID + ".ics" }

// calGen generates deterministic, realistic calendar objects.
type calGen struct {
	*gen
	n int // events generated, part of every UID
}

func newCalGen(seed uint64) *calGen { return &calGen{gen: newGen(seed)} }

// when is how an event's times are written.
type when int

const (
	whenUTC when = iota
	whenZone
	whenFloating
	whenAllDay
)

// fmtTime writes property name (DTSTART, DTEND, EXDATE, RECURRENCE-ID)
// for t in the event's form.
func fmtTime(name string, t time.Time, w when, zone string) string {
	switch w {
	case whenZone:
		return fmt.Sprintf("%s;TZID=%s:%s", name, zone, t.Format("20060102T150405"))
	case whenFloating:
		return name + ":" + t.Format("20060102T150405")
	case whenAllDay:
		return name + ";VALUE=DATE:" + t.Format("20060102")
	}
	return name + ":" + t.UTC().Format("20060102T150405Z")
}

// recurrence is an RRULE and how to find its k-th occurrence.
type recurrence struct {
	rule    string
	count   int  // occurrences k < count exist (for EXDATE and overrides)
	endless bool // the rule has no COUNT nor UNTIL: count is only a bound for EXDATE and overrides
	nth     func(t time.Time, k int) time.Time
}

func (g *calGen) recurrence(start time.Time, w when) recurrence {
	weekly := func(t time.Time, k int) time.Time { return t.AddDate(0, 0, 7*k) }
	days := []string{"SU", "MO", "TU", "WE", "TH", "FR", "SA"}
	byday := days[start.Weekday()]
	switch p := g.r.Float64(); {
	case w == whenAllDay || p < 0.05: // a birthday or anniversary
		return recurrence{"FREQ=YEARLY", 5, true, func(t time.Time, k int) time.Time { return t.AddDate(k, 0, 0) }}
	case p < 0.45:
		n := 10 + g.r.IntN(31)
		return recurrence{fmt.Sprintf("FREQ=WEEKLY;BYDAY=%s;COUNT=%d", byday, n), n, false, weekly}
	case p < 0.60: // a standing meeting that never ends
		return recurrence{"FREQ=WEEKLY;BYDAY=" + byday, 60, true, weekly}
	case p < 0.75:
		n := 5 + g.r.IntN(11)
		return recurrence{fmt.Sprintf("FREQ=DAILY;COUNT=%d", n), n, false, func(t time.Time, k int) time.Time { return t.AddDate(0, 0, k) }}
	case p < 0.90:
		n := 6 + g.r.IntN(14)
		// UNTIL is in UTC, but floating with a floating start.
		until := start.AddDate(0, 0, 14*(n-1)).UTC().Format("20060102T150405Z")
		if w == whenFloating {
			until = start.AddDate(0, 0, 14*(n-1)).Format("20060102T150405")
		}
		return recurrence{fmt.Sprintf("FREQ=WEEKLY;INTERVAL=2;BYDAY=%s;UNTIL=%s", byday, until), n, false,
			func(t time.Time, k int) time.Time { return t.AddDate(0, 0, 14*k) }}
	default: // the event's day is at most the 28th
		n := 6 + g.r.IntN(7)
		return recurrence{fmt.Sprintf("FREQ=MONTHLY;BYMONTHDAY=%d;COUNT=%d", start.Day(), n), n, false,
			func(t time.Time, k int) time.Time { return t.AddDate(0, k, 0) }}
	}
}

// event generates the next event. About 10 % recur (with EXDATEs and
// RECURRENCE-ID overrides on some), about half carry a TZID with its
// VTIMEZONE, a few are all-day or floating; the others are single timed
// events in UTC, all spread over calYear.
func (g *calGen) event() *calEvent {
	g.n++
	e := &calEvent{UID: fmt.Sprintf("bench-%05d-%08x@holdover.example", g.n, g.r.Uint32())}
	x, acc := g.r.Float64(), 0.0
	for _, c := range benchCalendars {
		if acc += c.Share; x < acc || e.Calendar == "" && c.Name == benchCalendars[len(benchCalendars)-1].Name {
			e.Calendar = c.Name
			break
		}
	}
	w := whenUTC
	loc := time.UTC
	switch p := g.r.Float64(); {
	case p < 0.06:
		w = whenAllDay
	case p < 0.08:
		w = whenFloating
	case p < 0.35:
		w, e.Zone = whenZone, "Europe/Berlin"
	case p < 0.50:
		w, e.Zone = whenZone, "America/New_York"
	}
	if e.Zone != "" {
		var err error
		if loc, err = time.LoadLocation(e.Zone); err != nil {
			panic(err)
		}
	}
	day := time.Date(calYear, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, g.r.IntN(365))
	e.Recurring = g.chance(0.10)
	if e.Recurring && day.Day() > 28 {
		day = day.AddDate(0, 0, -3) // a monthly series: every month has the day
	}
	start := time.Date(day.Year(), day.Month(), day.Day(), 8+g.r.IntN(10), 15*g.r.IntN(4), 0, 0, loc)
	end := start.Add(time.Duration([]int{30, 30, 45, 60, 60, 60, 90, 120}[g.r.IntN(8)]) * time.Minute)
	if w == whenAllDay {
		start = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
		end = start.AddDate(0, 0, 1+g.r.IntN(3)/2)
	}
	e.Start = start
	var rec recurrence
	if e.Recurring {
		rec = g.recurrence(start, w)
	}

	stamp := genNow.Add(-time.Duration(g.r.IntN(300*24)) * time.Hour).UTC().Format("20060102T150405Z")
	var b strings.Builder
	b.WriteString("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//holdover//bench calendar generator//EN\r\nCALSCALE:GREGORIAN\r\n")
	if e.Zone != "" {
		b.WriteString(vtimezones[e.Zone])
	}
	summary := g.summary()
	excluded := -1
	g.vevent(&b, e, summary, stamp, fmtTime("DTSTART", start, w, e.Zone), fmtTime("DTEND", end, w, e.Zone), func() {
		if !e.Recurring {
			return
		}
		fold(&b, "RRULE:"+rec.rule)
		if g.chance(0.3) { // the last instance cancelled (never overridden below)
			excluded = rec.count - 1
			fold(&b, fmtTime("EXDATE", rec.nth(start, excluded), w, e.Zone))
		}
	})
	moved := map[int]time.Duration{}
	// Overrides: one or two instances moved by an hour (a day for all-day
	// series) and renamed, as a client writes them: same UID, a
	// RECURRENCE-ID naming the original start.
	if e.Recurring && rec.count >= 6 && g.chance(0.3) {
		n := 1 + g.r.IntN(2)
		for i := 0; i < n; i++ {
			k := 1 + i*(rec.count/2) + g.r.IntN(rec.count/2-2) // 1 <= k <= count-2, distinct
			orig := rec.nth(start, k)
			shift := time.Hour
			if w == whenAllDay {
				shift = 24 * time.Hour
			}
			moved[k] = shift
			g.vevent(&b, e, summary+" (moved)", stamp, fmtTime("DTSTART", orig.Add(shift), w, e.Zone),
				fmtTime("DTEND", orig.Add(shift).Add(end.Sub(start)), w, e.Zone), func() {
					fold(&b, fmtTime("RECURRENCE-ID", orig, w, e.Zone))
				})
			e.Overrides++
		}
	}
	b.WriteString("END:VCALENDAR\r\n")
	e.Data = []byte(b.String())

	// Floating and all-day times are read in UTC (cal ls runs with TZ=UTC).
	wall := func(t time.Time) time.Time {
		if w == whenFloating || w == whenAllDay {
			return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), 0, 0, time.UTC)
		}
		return t
	}
	if !e.Recurring {
		e.Occ = []span{{wall(start), wall(end)}}
		return e
	}
	for k := 0; ; k++ {
		s := rec.nth(start, k)
		if !rec.endless && k >= rec.count || rec.endless && !s.Before(calHorizon) {
			break
		}
		if k == excluded {
			continue
		}
		s = s.Add(moved[k])
		e.Occ = append(e.Occ, span{wall(s), wall(s.Add(end.Sub(start)))})
	}
	return e
}

// vevent writes one VEVENT; extra writes the recurrence properties.
func (g *calGen) vevent(b *strings.Builder, e *calEvent, summary, stamp, dtstart, dtend string, extra func()) {
	b.WriteString("BEGIN:VEVENT\r\n")
	fold(b, "UID:"+e.UID)
	b.WriteString("DTSTAMP:" + stamp + "\r\nCREATED:" + stamp + "\r\nLAST-MODIFIED:" + stamp + "\r\nSEQUENCE:0\r\n")
	fold(b, dtstart)
	fold(b, dtend)
	extra()
	fold(b, "SUMMARY:"+icalText(summary))
	if g.chance(0.5) {
		fold(b, "LOCATION:"+icalText(g.location()))
	}
	if g.chance(0.6) {
		fold(b, "DESCRIPTION:"+icalText(strings.Join(g.paragraphs(150+g.r.IntN(700)), "\n")))
	}
	if g.chance(0.35) {
		org := g.pick(people)
		fold(b, fmt.Sprintf("ORGANIZER;CN=%s:mailto:%s@%s", icalParam(org), strings.ToLower(strings.Fields(org)[0]), g.pick(domains)))
		for n := 2 + g.r.IntN(7); n > 0; n-- {
			p := g.pick(people)
			fold(b, fmt.Sprintf("ATTENDEE;CN=%s;ROLE=REQ-PARTICIPANT;PARTSTAT=%s;RSVP=TRUE:mailto:%s@%s",
				icalParam(p), g.pick([]string{"ACCEPTED", "ACCEPTED", "TENTATIVE", "NEEDS-ACTION", "DECLINED"}),
				strings.ToLower(strings.Fields(p)[0]), g.pick(domains)))
		}
	}
	if g.chance(0.2) {
		fold(b, "CATEGORIES:"+g.pick([]string{"Work", "Travel", "Family", "Project", "Health"}))
	}
	b.WriteString("STATUS:CONFIRMED\r\nTRANSP:OPAQUE\r\n")
	if g.chance(0.3) {
		b.WriteString("BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT" +
			g.pick([]string{"10M", "15M", "30M", "1H"}) + "\r\nEND:VALARM\r\n")
	}
	b.WriteString("END:VEVENT\r\n")
}

func (g *calGen) summary() string {
	switch p := g.r.Float64(); {
	case p < 0.3:
		return "1:1 " + g.pick(people)
	case p < 0.5:
		return strings.ToUpper(g.pick(workWords)[:1]) + g.pick(workWords)[1:] + " " + g.pick([]string{"review", "sync", "planning", "kick-off", "retro"})
	case p < 0.6:
		return "Dentist"
	case p < 0.7:
		return "Flight to " + g.pick([]string{"Berlin", "New York", "Zürich", "Köln", "Lisbon"})
	}
	var w []string
	for n := 2 + g.r.IntN(4); n > 0; n-- {
		w = append(w, g.word())
	}
	s := strings.Join(w, " ")
	return strings.ToUpper(s[:1]) + s[1:]
}

func (g *calGen) location() string {
	return g.pick([]string{"Room 4.12", "Main office, 3rd floor", "Café Central", "https://meet.example.com/" + fmt.Sprint(g.r.IntN(1e6)),
		"Hauptstraße 5, 10115 Berlin", "Zoom", "Conference room \"Atlantic\""})
}

// icalText escapes a TEXT value (RFC 5545 §3.3.11).
func icalText(s string) string {
	return strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\n", `\n`).Replace(s)
}

// icalParam quotes a parameter value.
func icalParam(s string) string { return `"` + s + `"` }

// fold writes one content line folded at 75 octets, never inside a UTF-8
// sequence (RFC 5545 §3.1).
func fold(b *strings.Builder, line string) {
	limit := 75
	for len(line) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		b.WriteString(line[:cut])
		b.WriteString("\r\n ")
		line = line[cut:]
		limit = 74 // the leading space counts
	}
	b.WriteString(line)
	b.WriteString("\r\n")
}

// generateCalendars generates n events into the calendars' directories
// (dirs maps a calendar name to its directory on the server's disk).
func generateCalendars(g *calGen, dirs map[string]string, n int) ([]*calEvent, int64, error) {
	var all []*calEvent
	var size int64
	for i := 0; i < n; i++ {
		e := g.event()
		if err := writeEvent(dirs[e.Calendar], e); err != nil {
			return nil, 0, err
		}
		all = append(all, e)
		size += int64(len(e.Data))
	}
	return all, size, nil
}

// writeEvent writes an event's file atomically (a temporary dot file,
// which Radicale ignores, renamed into place).
func writeEvent(dir string, e *calEvent) error {
	tmp := filepath.Join(dir, ".tmp-"+e.File())
	if err := os.WriteFile(tmp, e.Data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, e.File()))
}

// edit changes an event as a client on another device would: a new
// summary, SEQUENCE and LAST-MODIFIED/DTSTAMP in its first VEVENT (the
// master of a series).
func (e *calEvent) edit(round int, now time.Time) {
	stamp := now.UTC().Format("20060102T150405Z")
	d := e.Data
	d = setProp(d, "SUMMARY", func(v string) string { return fmt.Sprintf("%s (edit %d)", v, round) })
	d = setProp(d, "SEQUENCE", func(string) string { return fmt.Sprint(round) })
	d = setProp(d, "LAST-MODIFIED", func(string) string { return stamp })
	d = setProp(d, "DTSTAMP", func(string) string { return stamp })
	e.Data = d
}

// setProp replaces the value of the first unfolded line "NAME:value" of
// data by f(value).
func setProp(data []byte, name string, f func(string) string) []byte {
	key := []byte("\r\n" + name + ":")
	i := bytes.Index(data, key)
	if i < 0 {
		panic("setProp: no " + name)
	}
	v := i + len(key)
	end := v + bytes.Index(data[v:], []byte("\r\n"))
	out := append([]byte{}, data[:v]...)
	out = append(out, f(string(data[v:end]))...)
	return append(out, data[end:]...)
}
