package ical

import (
	"sort"
	"time"

	"github.com/teambition/rrule-go"
)

// Occurrence is one instance of an object in a window.
type Occurrence struct {
	Start, End time.Time // in the reader's Location
	AllDay     bool
	// RecurrenceID is the instance's original start, which identifies it
	// (RECURRENCE-ID); zero for an object that does not recur.
	RecurrenceID time.Time
	Override     bool // comes from a RECURRENCE-ID component
	Summary      string
	Location     string
}

// Expand lists the occurrences of an object that overlap [from, to),
// sorted by start. All-day and floating times are read on loc's wall
// clock (nil: UTC). An occurrence overlaps when it starts before to and
// ends after from; one of zero length, when it starts in the window.
//
// Overrides replace the instance they name, cancelled ones (STATUS:
// CANCELLED) and EXDATEs remove it; an override whose RECURRENCE-ID
// matches no instance is still listed. The work is bounded: a series
// with more than maxInstances instances up to the window's end is cut
// off, and a warning says so. The warnings are Parse's, plus that one.
func Expand(data []byte, from, to time.Time, loc *time.Location) ([]Occurrence, []string, error) {
	if loc == nil {
		loc = time.UTC
	}
	c, err := parseCalendar(data, loc)
	if err != nil {
		return nil, nil, err
	}
	var out []Occurrence
	add := func(in inst) {
		if !in.start.Before(to) {
			return
		}
		if in.end.After(from) || in.end.Equal(in.start) && !in.start.Before(from) {
			out = append(out, c.occurrence(in, loc))
		}
	}
	if to.After(from) {
		if m := c.master; m != nil && m.hasStart && !m.cancelled {
			first := m.startAt()
			hint := from.Add(-m.endFor(first).Sub(first) - 48*time.Hour)
			s := c.newSeries(hint)
			for {
				in, ok := s.nextOccurrence()
				if !ok || !in.start.Before(to) {
					break
				}
				add(in)
			}
			if s.cut {
				c.warn("expansion cut off after %d instances", maxInstances)
			}
		}
		for _, ov := range c.overrides {
			if in, ok := c.overrideInst(ov); ok {
				add(in)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start)
		}
		if !a.End.Equal(b.End) {
			return a.End.Before(b.End)
		}
		return a.Summary < b.Summary
	})
	return out, c.allWarnings(), nil
}

func (c *calendar) occurrence(in inst, loc *time.Location) Occurrence {
	m := c.master
	comp := in.over
	if comp == nil {
		comp = m
	}
	o := Occurrence{
		Start:    in.start.In(loc),
		End:      in.end.In(loc),
		AllDay:   comp.hasStart && comp.start.form == formDate || !comp.hasStart && m != nil && m.start.form == formDate,
		Override: in.over != nil,
		Summary:  comp.summary,
		Location: comp.location,
	}
	if !in.rid.IsZero() {
		o.RecurrenceID = in.rid.In(loc)
	}
	if in.over != nil && m != nil {
		// An override that leaves out SUMMARY or LOCATION keeps the
		// master's: replacing them with nothing is never what was meant.
		if o.Summary == "" {
			o.Summary = m.summary
		}
		if o.Location == "" {
			o.Location = m.location
		}
	}
	return o
}

// inst is one occurrence being computed.
type inst struct {
	start, end time.Time
	rid        time.Time  // original start; zero when not recurring
	over       *component // the override it comes from, if any
}

// series walks the master's recurrence set — DTSTART, the RRULE's
// instances, RDATEs — in order of start, without repeats.
type series struct {
	c         *calendar
	m         *component
	recurring bool
	loc       *time.Location
	rule      rrule.Next
	pending   time.Time
	hasPend   bool
	ruleDone  bool
	dt        time.Time
	dtDone    bool
	rdates    []inst
	ri        int
	last      time.Time
	started   bool
	steps     int
	cut       bool // stopped at maxInstances
	ex        map[int64]bool
	exDays    map[int]bool // DATE EXDATEs of a timed series
	over      map[int64]bool
	overDays  map[int]bool
}

func dayKey(t time.Time) int {
	y, m, d := t.Date()
	return y*10000 + int(m)*100 + d
}

// newSeries starts the master's series; with hint set, instances that
// start before hint may be skipped (see boundRule.iterator).
func (c *calendar) newSeries(hint time.Time) *series {
	m := c.master
	s := &series{c: c, m: m, loc: m.loc(), ruleDone: true}
	s.dt = m.start.at(c.view).In(s.loc)
	timed := m.start.form != formDate
	if m.rule != nil {
		b := m.rule.bind(s.dt, !timed)
		if b.never {
			c.warn("RRULE yields no occurrences; only DTSTART is listed")
		}
		s.rule, s.ruleDone = b.iterator(hint), false
		s.recurring = true
	}
	for _, p := range m.rdates {
		st := p.start.at(c.view).In(s.loc)
		in := inst{start: st, rid: st}
		switch {
		case p.end != nil:
			in.end = p.end.at(c.view)
		case p.dur != nil && !p.dur.negative():
			in.end = p.dur.add(st)
		default:
			in.end = m.endFor(st)
		}
		if in.end.Before(in.start) {
			in.end = in.start
		}
		s.rdates = append(s.rdates, in)
		s.recurring = true
	}
	sort.SliceStable(s.rdates, func(i, j int) bool { return s.rdates[i].start.Before(s.rdates[j].start) })
	// The maps stay nil (and free) for the many series without EXDATEs
	// or overrides; reading a nil map is fine.
	for _, p := range m.exdates {
		if p.start.form == formDate && timed {
			s.exDays = setKey(s.exDays, dayKey(p.start.wall))
		} else {
			s.ex = setKey(s.ex, p.start.at(c.view).Unix())
		}
	}
	for _, ov := range c.overrides {
		if ov.recurID.form == formDate && timed {
			s.overDays = setKey(s.overDays, dayKey(ov.recurID.wall))
		} else {
			s.over = setKey(s.over, ov.recurID.at(c.view).Unix())
		}
	}
	return s
}

func setKey[K comparable](m map[K]bool, k K) map[K]bool {
	if m == nil {
		m = map[K]bool{}
	}
	m[k] = true
	return m
}

// excludes reports whether an EXDATE removes the instance starting at t.
func (s *series) excludes(t time.Time) bool {
	return s.ex[t.Unix()] || len(s.exDays) > 0 && s.exDays[dayKey(t.In(s.loc))]
}

func (s *series) overridden(t time.Time) bool {
	return s.over[t.Unix()] || len(s.overDays) > 0 && s.overDays[dayKey(t.In(s.loc))]
}

// nextRaw returns the next instance of the set, excluded or not.
func (s *series) nextRaw() (inst, bool) {
	for {
		if !s.hasPend && !s.ruleDone {
			if s.steps >= maxInstances {
				s.cut, s.ruleDone = true, true
			} else {
				s.steps++
				s.pending, s.hasPend = s.rule()
				s.ruleDone = !s.hasPend
			}
		}
		var best time.Time
		which := 0 // 1 DTSTART, 2 rule, 3 RDATE
		if !s.dtDone {
			best, which = s.dt, 1
		}
		if s.hasPend && (which == 0 || s.pending.Before(best)) {
			best, which = s.pending, 2
		}
		if s.ri < len(s.rdates) && (which == 0 || s.rdates[s.ri].start.Before(best)) {
			which = 3
		}
		var in inst
		switch which {
		case 0:
			return inst{}, false
		case 1:
			s.dtDone = true
			in = inst{start: s.dt, end: s.m.endFor(s.dt)}
		case 2:
			s.hasPend = false
			in = inst{start: s.pending, end: s.m.endFor(s.pending)}
		case 3:
			in = s.rdates[s.ri]
			s.ri++
		}
		if s.started && !in.start.After(s.last) {
			continue // the same instant from two sources
		}
		s.started, s.last = true, in.start
		if s.recurring {
			in.rid = in.start
		}
		return in, true
	}
}

// nextOccurrence returns the next instance neither excluded nor replaced
// by an override.
func (s *series) nextOccurrence() (inst, bool) {
	for {
		in, ok := s.nextRaw()
		if !ok {
			return inst{}, false
		}
		if !s.excludes(in.start) && !s.overridden(in.start) {
			return in, true
		}
	}
}

// overrideInst computes an override's occurrence; ok is false when it is
// cancelled or its instance is excluded by an EXDATE of the master.
func (c *calendar) overrideInst(ov *component) (inst, bool) {
	if ov.cancelled {
		return inst{}, false
	}
	rid := ov.recurID.at(c.view)
	if m := c.master; m != nil && m.hasStart {
		for _, p := range m.exdates {
			if p.start.at(c.view).Equal(rid) || p.start.form == formDate && m.start.form != formDate && dayKey(p.start.wall) == dayKey(ov.recurID.wall) {
				return inst{}, false
			}
		}
	}
	in := inst{rid: rid, over: ov}
	switch {
	case ov.hasStart:
		in.start = ov.startAt()
		in.end = ov.endFor(in.start)
	case c.master != nil && c.master.hasStart:
		in.start = rid
		in.end = c.master.endFor(rid)
	default:
		in.start, in.end = rid, rid
	}
	return in, true
}

// span finds the first and last occurrences of the object, for Parse.
func (c *calendar) span() (first, last inst, found, unbounded bool) {
	consider := func(in inst) {
		if !found || in.start.Before(first.start) {
			first = in
		}
		if !found || in.end.After(last.end) {
			last = in
		}
		found = true
	}
	for _, ov := range c.overrides {
		if in, ok := c.overrideInst(ov); ok {
			consider(in)
		}
	}
	m := c.master
	if m == nil || !m.hasStart || m.cancelled {
		return
	}
	s := c.newSeries(time.Time{})
	if in, ok := s.nextOccurrence(); ok {
		consider(in)
	}
	if m.rule != nil {
		b := m.rule.bind(s.dt, m.start.form == formDate)
		if !b.never && !b.none && b.opt.Count == 0 && b.opt.Until.IsZero() {
			return first, last, found, true
		}
	}
	// The last one: from a late start when UNTIL allows it, else from the
	// beginning; the instances all last as long, so the last to start is
	// the last to end (RDATE periods and overrides are all looked at).
	for _, hint := range []time.Time{c.untilHint(s), {}} {
		s := c.newSeries(hint)
		seen := false
		for {
			in, ok := s.nextOccurrence()
			if !ok {
				break
			}
			consider(in)
			// DTSTART always comes first, whatever the hint: only an
			// instance from the hint on shows the late start found the end.
			seen = seen || !in.start.Before(hint)
		}
		if s.cut {
			c.warn("more than %d instances: read as unbounded", maxInstances)
			return first, last, found, true
		}
		if seen || hint.IsZero() {
			break
		}
	}
	return first, last, found, false
}

// untilHint is a point shortly before the last instance of a series
// bounded by UNTIL, or zero.
func (c *calendar) untilHint(s *series) time.Time {
	m := c.master
	if m.rule == nil || !m.rule.until.set {
		return time.Time{}
	}
	u := m.rule.bind(s.dt, m.start.form == formDate).opt.Until
	if u.IsZero() {
		return time.Time{}
	}
	return u.Add(-48 * time.Hour)
}
