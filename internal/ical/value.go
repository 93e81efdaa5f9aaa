package ical

import (
	"errors"
	"fmt"
	"strings"
	"time"

	goical "github.com/emersion/go-ical"
)

// form is how a DATE or DATE-TIME value was written (RFC 5545 §3.3.4-5).
type form uint8

const (
	formDate     form = iota + 1 // 20240101: a day, all-day
	formFloating                 // 20240101T090000: wall clock wherever the reader is
	formUTC                      // 20240101T080000Z
	formZoned                    // TZID=...:20240101T090000
)

// when is a parsed DATE or DATE-TIME value.
type when struct {
	form form
	wall time.Time      // the written fields, in UTC; midnight for a date
	loc  *time.Location // formZoned: the resolved zone
	tzid string         // the TZID as written, even when it could not be resolved
}

// at returns the instant of w for a reader in view: dates and floating
// times take view's wall clock, the others are absolute.
func (w when) at(view *time.Location) time.Time {
	switch w.form {
	case formUTC:
		return w.wall
	case formZoned:
		return inZone(w.wall, w.loc)
	default:
		return inZone(w.wall, view)
	}
}

// inZone returns the instant at which the clock in loc shows wall's fields.
func inZone(wall time.Time, loc *time.Location) time.Time {
	y, m, d := wall.Date()
	h, mi, s := wall.Clock()
	return time.Date(y, m, d, h, mi, s, 0, loc)
}

// asWall returns the fields t shows in loc, as a UTC wall value.
func asWall(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	y, m, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, m, d, h, mi, s, 0, time.UTC)
}

var errBadValue = errors.New("not a DATE or DATE-TIME")

// parseStamp parses "20060102", "20060102T150405" or "20060102T150405Z"
// strictly: fields out of range are an error, not normalized into the
// next month as time.Date would.
func parseStamp(s string) (wall time.Time, f form, err error) {
	s = strings.TrimSpace(s)
	num := func(b string) (int, bool) {
		n := 0
		for i := 0; i < len(b); i++ {
			c := b[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	if len(s) < 8 {
		return wall, 0, errBadValue
	}
	y, ok1 := num(s[0:4])
	mo, ok2 := num(s[4:6])
	d, ok3 := num(s[6:8])
	if !ok1 || !ok2 || !ok3 {
		return wall, 0, errBadValue
	}
	var h, mi, sec int
	switch {
	case len(s) == 8:
		f = formDate
	case (len(s) == 15 || len(s) == 16) && (s[8] == 'T' || s[8] == 't'):
		var ok4, ok5, ok6 bool
		h, ok4 = num(s[9:11])
		mi, ok5 = num(s[11:13])
		sec, ok6 = num(s[13:15])
		if !ok4 || !ok5 || !ok6 {
			return wall, 0, errBadValue
		}
		f = formFloating
		if len(s) == 16 {
			if s[15] != 'Z' && s[15] != 'z' {
				return wall, 0, errBadValue
			}
			f = formUTC
		}
	default:
		return wall, 0, errBadValue
	}
	if sec == 60 {
		sec = 59 // a leap second; time.Time has none
	}
	if mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59 {
		return wall, 0, errBadValue
	}
	wall = time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC)
	if wall.Day() != d {
		return time.Time{}, 0, errBadValue // February 30th
	}
	return wall, f, nil
}

// parseWhen reads one DATE or DATE-TIME written with prop's parameters.
func (c *calendar) parseWhen(s string, params goical.Params) (when, error) {
	wall, f, err := parseStamp(s)
	if err != nil {
		return when{}, fmt.Errorf("%q: %w", s, err)
	}
	if strings.EqualFold(params.Get("VALUE"), "DATE") && f != formDate {
		// VALUE=DATE with a time part: keep the day.
		wall, f = time.Date(wall.Year(), wall.Month(), wall.Day(), 0, 0, 0, 0, time.UTC), formDate
	}
	w := when{form: f, wall: wall}
	if f == formFloating {
		if tzid := params.Get("TZID"); tzid != "" {
			w.tzid = tzid // kept when unresolved, for Edit to write back
			if loc := c.zones.resolve(tzid); loc != nil {
				w.form, w.loc = formZoned, loc
			}
		}
	}
	return w, nil
}

// propWhen reads the first value of the named property of comp.
func (c *calendar) propWhen(comp *goical.Component, name string) (when, bool) {
	p := comp.Props.Get(name)
	if p == nil {
		return when{}, false
	}
	v := p.Value
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i] // DTSTART has one value; be lenient with a list
	}
	w, err := c.parseWhen(v, p.Params)
	if err != nil {
		c.warn("%s %s unreadable: %v", comp.Name, name, err)
		return when{}, false
	}
	return w, true
}

// period is one RDATE value: a start and, for VALUE=PERIOD, its own end.
type period struct {
	start when
	end   *when
	dur   *duration
}

// propList reads every value of every named property (RDATE, EXDATE:
// comma-separated lists, possibly several lines).
func (c *calendar) propList(comp *goical.Component, name string) []period {
	var out []period
	bad := 0
	for _, p := range comp.Props.Values(name) {
		for _, v := range strings.Split(p.Value, ",") {
			v = strings.TrimSpace(v)
			if v == "" {
				continue
			}
			var pr period
			startText, endText, isPeriod := strings.Cut(v, "/")
			w, err := c.parseWhen(startText, p.Params)
			if err != nil {
				bad++
				continue
			}
			pr.start = w
			if isPeriod {
				if strings.HasPrefix(strings.TrimLeft(endText, "+-"), "P") {
					d, err := parseDuration(endText)
					if err == nil {
						pr.dur = &d
					}
				} else if e, err := c.parseWhen(endText, p.Params); err == nil {
					pr.end = &e
				}
			}
			out = append(out, pr)
		}
	}
	if bad > 0 {
		c.warn("%d unreadable %s values ignored", bad, name)
	}
	return out
}

// duration is an iCalendar DURATION: days (and weeks) are nominal, following
// the wall clock across a DST change; hours, minutes and seconds are
// exact (RFC 5545 §3.3.6). go-ical's Prop.Duration turns a day into 24
// hours, which is an hour off across a DST change.
type duration struct {
	days int
	secs int64
}

// Bounds that keep every addition far from overflowing time.Time.
const (
	maxDurationDays = 3_660_000 // ten thousand years
	maxDurationSecs = maxDurationDays * 86400
)

func parseDuration(s string) (duration, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	bad := fmt.Errorf("bad duration %q", s)
	if !strings.HasPrefix(s, "P") || len(s) < 3 {
		return duration{}, bad
	}
	s = s[1:]
	var d duration
	inTime := false
	for s != "" {
		if s[0] == 'T' {
			if inTime {
				return duration{}, bad
			}
			inTime = true
			s = s[1:]
			continue
		}
		i := 0
		n := int64(0)
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			n = n*10 + int64(s[i]-'0')
			if n > maxDurationSecs {
				return duration{}, bad
			}
			i++
		}
		if i == 0 || i == len(s) {
			return duration{}, bad
		}
		unit := s[i]
		s = s[i+1:]
		switch {
		case !inTime && unit == 'W':
			d.days += int(n) * 7
		case !inTime && unit == 'D':
			d.days += int(n)
		case inTime && unit == 'H':
			d.secs += n * 3600
		case inTime && unit == 'M':
			d.secs += n * 60
		case inTime && unit == 'S':
			d.secs += n
		default:
			return duration{}, bad
		}
		if d.days > maxDurationDays || d.secs > maxDurationSecs {
			return duration{}, bad
		}
	}
	if neg {
		d.days, d.secs = -d.days, -d.secs
	}
	return d, nil
}

// add returns t plus d, the days counted on the wall clock of t's zone.
func (d duration) add(t time.Time) time.Time {
	if d.days != 0 {
		y, m, day := t.Date()
		h, mi, s := t.Clock()
		t = time.Date(y, m, day+d.days, h, mi, s, t.Nanosecond(), t.Location())
	}
	return t.Add(time.Duration(d.secs) * time.Second)
}

func (d duration) negative() bool { return d.days < 0 || d.days == 0 && d.secs < 0 }

// parseUTCOffset parses a UTC-OFFSET value ("+0100", "-053000").
func parseUTCOffset(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if len(s) != 5 && len(s) != 7 || s[0] != '+' && s[0] != '-' {
		return 0, false
	}
	n := 0
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int(s[1]-'0')*10 + int(s[2]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if len(s) == 7 {
		n = int(s[5]-'0')*10 + int(s[6]-'0')
	}
	if h > 23 || m > 59 || n > 59 {
		return 0, false
	}
	off := h*3600 + m*60 + n
	if s[0] == '-' {
		off = -off
	}
	return off, true
}
