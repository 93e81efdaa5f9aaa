package ical

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/teambition/rrule-go"
)

// rrule-go (v1.8.2) does the RFC 5545 arithmetic: it iterates in the
// location of DTSTART, building each instance with time.Date, so 09:00 in
// Europe/Berlin stays 09:00 on both sides of a DST change, and it
// compares UNTIL as an instant. What this file adds around it:
//
//   - Parsing. rrule.StrToROption rejects lower case, an empty part
//     ("FREQ=DAILY;"), RFC 7529's RSCALE/SKIP and x-names, and reads a
//     floating or DATE UNTIL in UTC. Here unknown parts are dropped with a
//     warning (an error for user input) and UNTIL is read against DTSTART:
//     a DATE UNTIL of a timed series ends with that day, a UTC UNTIL of an
//     all-day series is read as the date it names.
//   - Hangs. With HOURLY/MINUTELY/SECONDLY, a BYHOUR/BYMINUTE/BYSECOND
//     the INTERVAL never reaches (FREQ=HOURLY;INTERVAL=24;BYHOUR=5 from
//     09:00) loops forever inside one call; such a rule is found here and
//     yields nothing. A rule whose filters never match (FREQ=DAILY;
//     BYMONTH=2;BYMONTHDAY=30) makes the first call run to the year 9999,
//     a third of a second; here it is first tried on a copy moved by a
//     multiple of 400 years — the Gregorian cycle, same weekdays and leap
//     years — close to 9999, so that the search costs at most 800 years
//     of iteration, and the answer is cached.
//   - Panics. BYDAY=-53MO with MONTHLY (or YEARLY with BYMONTH) indexes
//     outside its masks; such ordinals (more than 5 in a month) can never
//     match and are dropped. BYEASTER (not RFC 5545) indexes by its
//     offset unchecked and is dropped.
//   - The end. Without UNTIL, rrule-go stops at DTSTART plus the largest
//     time.Duration, 292 years: Outlook's VTIMEZONE rules, which start in
//     1601, would end in 1893. Every rule is given an explicit UNTIL at
//     the end of the year 9999 instead.
//   - Overflow. INTERVAL above maxInterval is refused.
//   - The year 0. rrule-go's per-year tables start out marked as built
//     for the year 0, so a DTSTART in it panics; such a rule yields
//     nothing here.
//   - DTSTART. RFC 5545 counts DTSTART as the first instance even when
//     the rule does not match it; rrule-go does not. The caller adds it,
//     and COUNT is lowered by one here when DTSTART is not the rule's
//     first instance.
//   - Cost. The iterator always starts at DTSTART, so a window in 2030 of
//     a minutely rule from 2010 would cost millions of steps. Without
//     COUNT, iterator(hint) starts instead at a whole number of periods
//     after DTSTART (same phase), with the rule's implicit parts (BYDAY
//     of a weekly rule, BYHOUR of a daily one, ...) pinned to DTSTART's.

// maxInterval bounds INTERVAL; rrule-go's arithmetic overflows near 2^63
// and no calendar needs a step of more than a million periods.
const maxInterval = 1_000_000

// recurSpec is an RRULE as written, not yet tied to a DTSTART.
type recurSpec struct {
	opt   rrule.ROption // no Dtstart, no Until
	until untilValue
	parts []string // the parts kept, upper case, UNTIL excluded
	never bool     // the rule can be seen to yield nothing
}

type untilValue struct {
	set  bool
	wall time.Time
	form form
}

var errBadRule = errors.New("bad RRULE")

// parseRecur reads an RRULE value. strict (user input) turns every oddity
// into an error; otherwise what can be dropped is, with a warning.
func parseRecur(value string, strict bool) (*recurSpec, []string, error) {
	v := strings.ToUpper(strings.TrimSpace(value))
	v = strings.TrimPrefix(v, "RRULE:")
	s := &recurSpec{}
	var warnings []string
	oddity := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		if strict {
			return fmt.Errorf("%w: %s", errBadRule, msg)
		}
		warnings = append(warnings, "RRULE: "+msg)
		return nil
	}
	for _, part := range strings.Split(v, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok || val == "" {
			if err := oddity("%q has no value", part); err != nil {
				return nil, nil, err
			}
			continue
		}
		switch k {
		case "FREQ", "INTERVAL", "COUNT", "WKST", "BYSETPOS", "BYMONTH", "BYMONTHDAY",
			"BYYEARDAY", "BYWEEKNO", "BYDAY", "BYHOUR", "BYMINUTE", "BYSECOND":
			s.parts = append(s.parts, k+"="+val)
		case "UNTIL":
			wall, f, err := parseStamp(val)
			if err != nil {
				if err := oddity("UNTIL %q unreadable, ignored", val); err != nil {
					return nil, nil, err
				}
				continue
			}
			s.until = untilValue{true, wall, f}
		default:
			if err := oddity("%s not supported, ignored", k); err != nil {
				return nil, nil, err
			}
		}
	}
	opt, err := rrule.StrToROption(strings.Join(s.parts, ";"))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errBadRule, err)
	}
	if opt.Interval > maxInterval {
		return nil, nil, fmt.Errorf("%w: INTERVAL above %d", errBadRule, maxInterval)
	}
	if opt.Interval < 0 || opt.Count < 0 {
		return nil, nil, fmt.Errorf("%w: negative INTERVAL or COUNT", errBadRule)
	}
	if strings.Contains(";"+strings.Join(s.parts, ";"), ";COUNT=") && opt.Count == 0 {
		if err := oddity("COUNT=0"); err != nil {
			return nil, nil, err
		}
		s.never = true
	}
	if strict && s.until.set && opt.Count > 0 {
		return nil, nil, fmt.Errorf("%w: both COUNT and UNTIL", errBadRule)
	}
	probe := *opt
	probe.Dtstart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := rrule.NewRRule(probe); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errBadRule, err)
	}
	// Ordinals beyond the fifth in a month never match, and index
	// outside rrule-go's masks.
	if opt.Freq == rrule.MONTHLY || opt.Freq == rrule.YEARLY && len(opt.Bymonth) > 0 {
		kept := opt.Byweekday[:0:0]
		for _, w := range opt.Byweekday {
			if n := w.N(); n >= -5 && n <= 5 {
				kept = append(kept, w)
			}
		}
		if len(kept) < len(opt.Byweekday) {
			if len(kept) == 0 {
				s.never = true
			}
			opt.Byweekday = kept
		}
	}
	s.opt = *opt
	return s, warnings, nil
}

// text renders the rule for writing, UNTIL as given.
func (s *recurSpec) text(until string) string {
	parts := append([]string(nil), s.parts...)
	if until != "" {
		parts = append(parts, "UNTIL="+until)
	}
	return strings.Join(parts, ";")
}

// boundRule is a rule tied to its DTSTART.
type boundRule struct {
	opt   rrule.ROption // Dtstart, Until, Count set; implicit parts pinned
	never bool          // yields nothing at all: worth a warning
	none  bool          // yields nothing beyond DTSTART (COUNT=1)
}

// bind ties s to dtstart, an instant in the location the rule iterates
// in (the event's zone, or the reader's for floating and all-day ones).
func (s *recurSpec) bind(dtstart time.Time, allDay bool) *boundRule {
	dtstart = dtstart.Truncate(time.Second)
	loc := dtstart.Location()
	b := &boundRule{opt: pin(s.opt, dtstart), never: s.never}
	b.opt.Dtstart = dtstart
	if s.until.set {
		u := s.until
		switch {
		case u.form == formDate && !allDay:
			b.opt.Until = time.Date(u.wall.Year(), u.wall.Month(), u.wall.Day(), 23, 59, 59, 0, loc)
		case u.form == formUTC && !allDay:
			b.opt.Until = u.wall
		default:
			b.opt.Until = inZone(u.wall, loc)
		}
	}
	// rrule-go marks its per-year tables as built for "year 0" before it
	// builds any, so a series in the year 0 indexes empty tables.
	if y := dtstart.Year(); y < 1 || y > rrule.MAXYEAR {
		b.never = true
		return b
	}
	if b.never || unreachable(b.opt) || probeNever(b.opt) {
		b.never = true
		return b
	}
	if b.opt.Count > 0 {
		r, err := rrule.NewRRule(b.opt)
		if err != nil {
			b.never = true
			return b
		}
		first, ok := r.Iterator()()
		if ok && !first.Equal(dtstart) {
			b.opt.Count-- // DTSTART, added by the caller, was the first
		}
		b.none = !ok || b.opt.Count == 0
	}
	return b
}

// pin makes the parts rrule-go derives from DTSTART explicit, so that the
// rule can be started later (iterator) and still mean the same.
func pin(o rrule.ROption, dt time.Time) rrule.ROption {
	if len(o.Byweekno) == 0 && len(o.Byyearday) == 0 && len(o.Bymonthday) == 0 &&
		len(o.Byweekday) == 0 && len(o.Byeaster) == 0 {
		switch o.Freq {
		case rrule.YEARLY:
			if len(o.Bymonth) == 0 {
				o.Bymonth = []int{int(dt.Month())}
			}
			o.Bymonthday = []int{dt.Day()}
		case rrule.MONTHLY:
			o.Bymonthday = []int{dt.Day()}
		case rrule.WEEKLY:
			o.Byweekday = []rrule.Weekday{weekdays[dt.Weekday()]}
		}
	}
	if len(o.Byhour) == 0 && o.Freq < rrule.HOURLY {
		o.Byhour = []int{dt.Hour()}
	}
	if len(o.Byminute) == 0 && o.Freq < rrule.MINUTELY {
		o.Byminute = []int{dt.Minute()}
	}
	if len(o.Bysecond) == 0 && o.Freq < rrule.SECONDLY {
		o.Bysecond = []int{dt.Second()}
	}
	return o
}

var weekdays = [7]rrule.Weekday{rrule.SU, rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA}

// unreachable reports a sub-daily rule that can be seen never to yield:
// one whose BYHOUR/BYMINUTE/BYSECOND the INTERVAL never steps onto from
// DTSTART's clock (rrule-go would loop forever looking for it), or whose
// BYSETPOS lies outside every set (each period of a sub-daily rule has
// only the times below it; rrule-go would search to the year 9999). o
// has its implicit parts pinned.
func unreachable(o rrule.ROption) bool {
	if o.Freq < rrule.HOURLY {
		return false
	}
	if len(o.Bysetpos) > 0 {
		size := 1
		switch o.Freq {
		case rrule.HOURLY:
			size = max(len(o.Byminute), 1) * max(len(o.Bysecond), 1)
		case rrule.MINUTELY:
			size = max(len(o.Bysecond), 1)
		}
		fits := false
		for _, p := range o.Bysetpos {
			fits = fits || p >= -size && p <= size
		}
		if !fits {
			return true
		}
	}
	in := func(list []int, v int) bool {
		if len(list) == 0 {
			return true
		}
		for _, x := range list {
			if x == v {
				return true
			}
		}
		return false
	}
	var cycle, unit int
	switch o.Freq {
	case rrule.HOURLY:
		if len(o.Byhour) == 0 {
			return false
		}
		cycle, unit = 24, 3600
	case rrule.MINUTELY:
		if len(o.Byhour) == 0 && len(o.Byminute) == 0 {
			return false
		}
		cycle, unit = 1440, 60
	default:
		if len(o.Byhour) == 0 && len(o.Byminute) == 0 && len(o.Bysecond) == 0 {
			return false
		}
		cycle, unit = 86400, 1
	}
	h, m, s := o.Dtstart.Clock()
	p0 := (h*3600 + m*60 + s) / unit
	step := gcd(max(o.Interval, 1)%cycle, cycle)
	for p := p0 % step; p < cycle; p += step {
		sec := p * unit
		if in(o.Byhour, sec/3600) && (o.Freq < rrule.MINUTELY || in(o.Byminute, sec/60%60)) &&
			(o.Freq < rrule.SECONDLY || in(o.Bysecond, sec%60)) {
			return false
		}
	}
	return true
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

var probeCache = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

// probeNever reports whether the rule yields nothing at all (see the top
// of the file for why it runs on a copy near the year 9999).
func probeNever(o rrule.ROption) bool {
	if obviouslyYields(o) {
		return false
	}
	o.Until, o.Count = time.Time{}, 0
	dt := o.Dtstart
	key := o.RRuleString() + "|" + dt.Format("2006-01-02T15:04:05") + "|" + dt.Location().String()
	probeCache.Lock()
	never, ok := probeCache.m[key]
	probeCache.Unlock()
	if ok {
		return never
	}
	if y := dt.Year(); y < 9200 {
		y += (9200 - y + 399) / 400 * 400
		h, mi, s := dt.Clock()
		o.Dtstart = time.Date(y, dt.Month(), dt.Day(), h, mi, s, 0, dt.Location())
	}
	never = true
	o.Until = endOfTime(o.Dtstart.Location())
	if r, err := rrule.NewRRule(o); err == nil {
		_, ok := r.Iterator()()
		never = !ok
	}
	probeCache.Lock()
	if len(probeCache.m) >= 4096 {
		clear(probeCache.m)
	}
	probeCache.m[key] = never
	probeCache.Unlock()
	return never
}

// obviouslyYields recognises the everyday rules that match every period
// they visit, so they need no probe. o has its implicit parts pinned.
func obviouslyYields(o rrule.ROption) bool {
	if len(o.Bysetpos) > 0 || len(o.Byweekno) > 0 || len(o.Byyearday) > 0 || len(o.Byeaster) > 0 {
		return false
	}
	if o.Freq >= rrule.HOURLY {
		return false
	}
	for _, d := range o.Bymonthday {
		if d > 28 || d < -28 {
			return false
		}
	}
	switch o.Freq {
	case rrule.YEARLY:
		return len(o.Byweekday) == 0 // BYMONTH and days 1..28: every year
	case rrule.MONTHLY:
		if len(o.Bymonth) > 0 || len(o.Bymonthday) > 0 && len(o.Byweekday) > 0 {
			return false
		}
		for _, w := range o.Byweekday {
			if w.N() > 4 || w.N() < -4 {
				return false
			}
		}
		return true
	case rrule.WEEKLY:
		if len(o.Bymonth) > 0 || len(o.Bymonthday) > 0 {
			return false
		}
		for _, w := range o.Byweekday {
			if w.N() != 0 {
				return false
			}
		}
		return true
	default: // DAILY
		return o.Interval <= 1 && len(o.Bymonth) == 0 && len(o.Bymonthday) == 0 && len(o.Byweekday) == 0
	}
}

// iterator returns the rule's instances in order, starting at DTSTART or,
// when hint is set and the rule has no COUNT, at a later point from which
// every instance at or after hint is still produced.
func (b *boundRule) iterator(hint time.Time) rrule.Next {
	if b.never || b.none {
		return func() (time.Time, bool) { return time.Time{}, false }
	}
	o := b.opt
	if !hint.IsZero() && o.Count == 0 && hint.After(o.Dtstart) {
		if s, ok := fastForward(o, hint); ok {
			o.Dtstart = s
		}
	}
	if o.Until.IsZero() {
		o.Until = endOfTime(o.Dtstart.Location())
	}
	r, err := rrule.NewRRule(o)
	if err != nil {
		return func() (time.Time, bool) { return time.Time{}, false }
	}
	return r.Iterator()
}

// endOfTime is the UNTIL of a rule that has none: the last second
// rrule-go can iterate to.
func endOfTime(loc *time.Location) time.Time {
	return time.Date(rrule.MAXYEAR, 12, 31, 23, 59, 59, 0, loc)
}

// fastForward returns the start of the last period of the rule, a whole
// number of INTERVALs after DTSTART, that begins at least one period
// before hint; ok is false when that is DTSTART's own period.
func fastForward(o rrule.ROption, hint time.Time) (time.Time, bool) {
	d := o.Dtstart
	loc := d.Location()
	// Positions are counted on the wall clock, where rrule-go steps; a
	// wall time in a DST gap becomes a later instant, so an instance
	// before hint's wall time can still fall after hint. A day of margin
	// covers every gap there is.
	h := hint.Add(-26 * time.Hour).In(loc)
	step := int64(max(o.Interval, 1))
	day := func(t time.Time) int64 {
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400
	}
	// at returns the instant the wall clock in loc shows the given day
	// and second of day, and whether it shows it at all (a DST gap).
	at := func(days, secs int64) (time.Time, bool) {
		c := time.Unix(days*86400+secs, 0).UTC()
		t := time.Date(c.Year(), c.Month(), c.Day(), c.Hour(), c.Minute(), c.Second(), 0, loc)
		return t, asWall(t, loc).Equal(c)
	}
	// A start of a day, week, month or year period is taken at noon: the
	// whole first period lies before hint, so its time of day does not
	// matter (the rule's times are pinned), while midnight may not exist
	// and time.Date may then move it to the day before, which would shift
	// the weekday. A day that does not exist at all (Pacific/Apia,
	// 2011-12-30) cannot be a start.
	atDay := func(days int64) (time.Time, bool) { return at(days, 12*3600) }
	ym := func(y int, m time.Month) int64 { return day(time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)) }
	// periods counts whole periods from d's to h's, less one for margin.
	// A start in a DST gap would be moved by time.Date; for sub-daily
	// rules that shifts the phase, so such a start is not used either.
	var periods int64
	var start func(k int64) (time.Time, bool)
	switch o.Freq {
	case rrule.YEARLY:
		periods = int64(h.Year()-d.Year()) - 1
		start = func(k int64) (time.Time, bool) { return atDay(ym(d.Year()+int(k), 1)) }
	case rrule.MONTHLY:
		dm := int64(d.Year())*12 + int64(d.Month()) - 1
		periods = int64(h.Year())*12 + int64(h.Month()) - 1 - dm - 1
		start = func(k int64) (time.Time, bool) {
			m := dm + k
			return atDay(ym(int(m/12), time.Month(m%12+1)))
		}
	case rrule.WEEKLY:
		wkst := int64(o.Wkst.Day()) // 0 = Monday
		weekStart := func(t time.Time) int64 {
			wd := int64((int(t.Weekday()) + 6) % 7)
			return day(t) - (wd-wkst+7)%7
		}
		w0 := weekStart(d)
		periods = (weekStart(h)-w0)/7 - 1
		start = func(k int64) (time.Time, bool) { return atDay(w0 + 7*k) }
	case rrule.DAILY:
		periods = day(h) - day(d) - 1
		start = func(k int64) (time.Time, bool) { return atDay(day(d) + k) }
	default:
		unit := int64(1)
		switch o.Freq {
		case rrule.HOURLY:
			unit = 3600
		case rrule.MINUTELY:
			unit = 60
		}
		pos := func(t time.Time) int64 {
			hh, mm, ss := t.Clock()
			return (day(t)*86400 + int64(hh*3600+mm*60+ss)) / unit
		}
		p0 := pos(d)
		periods = pos(h) - p0 - 1
		start = func(k int64) (time.Time, bool) {
			s := (p0 + k) * unit
			return at(s/86400, s%86400)
		}
	}
	for k := periods / step; k > 0; k-- {
		if t, ok := start(k * step); ok {
			return t, true
		}
	}
	return time.Time{}, false
}

// String is for test failure messages.
func (b *boundRule) String() string {
	return b.opt.RRuleString() + " from " + b.opt.Dtstart.String() + " never=" + strconv.FormatBool(b.never)
}
