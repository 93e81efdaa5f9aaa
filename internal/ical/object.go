package ical

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goical "github.com/emersion/go-ical"
)

// ErrNotICalendar is returned for data without a VCALENDAR.
var ErrNotICalendar = errors.New("not iCalendar data: no BEGIN:VCALENDAR")

// ErrNoComponent is returned for a VCALENDAR without a VEVENT or VTODO.
var ErrNoComponent = errors.New("no VEVENT or VTODO in the calendar")

// maxInstances bounds the instances one call looks at for one object.
// A series with more before the end of the window is cut off there, with
// a warning; for Parse, one with more in total is treated as unbounded.
const maxInstances = 100_000

// Object is one calendar object resource: one VCALENDAR whose VEVENTs or
// VTODOs share a UID, a master and RECURRENCE-ID overrides.
type Object struct {
	UID  string
	Kind string // "VEVENT" or "VTODO"

	Summary, Location, Description string

	// Start and End are those of the first occurrence, whether of the
	// master or of an override. End defaults as RFC 5545 says: a day
	// after a DATE start, Start itself for a DATE-TIME without DTEND or
	// DURATION. A VTODO with only DUE starts and ends at DUE; one with
	// neither has zero times.
	//
	// Times with a zone are in that zone's Location. All-day (DATE) and
	// floating times have no instant of their own: they are given as the
	// wall clock in UTC, so a range query over them must widen its
	// window by 14 hours each way (or expand with the reader's zone).
	Start, End time.Time
	AllDay     bool // DTSTART is a DATE
	Floating   bool // DTSTART is a DATE-TIME without Z or TZID, or with a TZID that could not be resolved

	Recurring bool // RRULE, RDATE or overrides
	// LastEnd is the end of the last occurrence; Unbounded instead when
	// the RRULE has neither COUNT nor UNTIL, or more than maxInstances
	// instances.
	LastEnd   time.Time
	Unbounded bool

	LastModified, DTStamp time.Time // zero when absent
	Sequence              int

	// Warnings says what was odd but survivable, one sentence each.
	Warnings []string
}

// Parse reads one calendar object resource. It fails only for data that
// is not iCalendar at all or holds no VEVENT or VTODO; anything else odd
// is repaired or skipped and said in Warnings.
func Parse(data []byte) (Object, error) {
	c, err := parseCalendar(data, time.UTC)
	if err != nil {
		return Object{}, err
	}
	o := Object{UID: c.uid, Kind: c.kind}
	head := c.master
	if head == nil {
		head = c.overrides[0]
		for _, ov := range c.overrides[1:] {
			if ov.startAt().Before(head.startAt()) {
				head = ov
			}
		}
	}
	o.Summary, o.Location, o.Description = head.summary, head.location, head.description
	o.AllDay = head.hasStart && head.start.form == formDate
	o.Floating = head.hasStart && head.start.form == formFloating
	o.Recurring = len(c.overrides) > 0 || c.master != nil && (c.master.rule != nil || len(c.master.rdates) > 0)
	o.Sequence = head.sequence
	o.LastModified = c.stamp(head.comp, "LAST-MODIFIED")
	o.DTStamp = c.stamp(head.comp, "DTSTAMP")
	c.bounds(&o, head)
	o.Warnings = c.allWarnings()
	return o, nil
}

// calendar is a parsed object, read for a reader whose wall clock is in
// view: all-day and floating times become instants there.
type calendar struct {
	view      *time.Location
	zones     zoneResolver
	warnings  []string
	kind, uid string
	master    *component
	overrides []*component
}

// component is one VEVENT or VTODO.
type component struct {
	cal       *calendar
	comp      *goical.Component
	start     when
	hasStart  bool
	end       when // DTEND, or DUE of a VTODO
	hasEnd    bool
	dur       duration
	hasDur    bool
	recurID   when
	isOver    bool // has a RECURRENCE-ID
	rule      *recurSpec
	rdates    []period
	exdates   []period
	cancelled bool
	sequence  int

	summary, location, description string
}

func (c *calendar) warn(format string, args ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
}

func (c *calendar) allWarnings() []string {
	var out []string
	for _, w := range c.warnings {
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

func parseCalendar(data []byte, view *time.Location) (*calendar, error) {
	if view == nil {
		view = time.UTC
	}
	d, err := decode(data, decodeOptions{})
	if err != nil {
		return nil, err
	}
	return fromTree(d, view)
}

func fromTree(d *decoded, view *time.Location) (*calendar, error) {
	c := &calendar{view: view, warnings: d.warnings}
	c.zones = zoneResolver{vtz: map[string]*goical.Component{}, warn: c.warn}
	var comps []*goical.Component
	for _, ch := range d.root.Children {
		switch ch.Name {
		case "VTIMEZONE":
			if p := ch.Props.Get("TZID"); p != nil {
				c.zones.vtz[p.Value] = ch
			}
		case "VEVENT", "VTODO":
			comps = append(comps, ch)
		}
	}
	if len(comps) == 0 {
		return nil, ErrNoComponent
	}
	c.kind = comps[0].Name
	c.uid = strings.TrimSpace(textProp(comps[0], "UID"))
	if c.uid == "" {
		c.warn("no UID")
	}
	var otherKind, otherUID, extraMaster int
	for _, ch := range comps {
		switch {
		case ch.Name != c.kind:
			otherKind++
		case strings.TrimSpace(textProp(ch, "UID")) != c.uid:
			otherUID++
		default:
			comp := c.readComponent(ch)
			switch {
			case comp.isOver:
				c.overrides = append(c.overrides, comp)
			case c.master == nil:
				c.master = comp
			default:
				extraMaster++
			}
		}
	}
	if otherKind > 0 {
		c.warn("%d components of another kind than %s ignored", otherKind, c.kind)
	}
	if otherUID > 0 {
		c.warn("%d components with another UID ignored", otherUID)
	}
	if extraMaster > 0 {
		c.warn("%d more components without RECURRENCE-ID ignored", extraMaster)
	}
	return c, nil
}

func textProp(comp *goical.Component, name string) string {
	if p := comp.Props.Get(name); p != nil {
		return unescapeText(p.Value)
	}
	return ""
}

func (c *calendar) readComponent(ch *goical.Component) *component {
	comp := &component{cal: c, comp: ch}
	comp.summary = textProp(ch, "SUMMARY")
	comp.location = textProp(ch, "LOCATION")
	comp.description = textProp(ch, "DESCRIPTION")
	comp.start, comp.hasStart = c.propWhen(ch, "DTSTART")
	endName := "DTEND"
	if ch.Name == "VTODO" {
		endName = "DUE"
	}
	comp.end, comp.hasEnd = c.propWhen(ch, endName)
	if p := ch.Props.Get("DURATION"); p != nil && !comp.hasEnd {
		d, err := parseDuration(p.Value)
		if err != nil {
			c.warn("%s DURATION unreadable: %v", ch.Name, err)
		} else if d.negative() {
			c.warn("%s DURATION negative; taken as zero", ch.Name)
		} else {
			comp.dur, comp.hasDur = d, true
		}
	}
	if !comp.hasStart && comp.hasEnd && ch.Name == "VTODO" {
		comp.start, comp.hasStart = comp.end, true // a to-do with only DUE
	}
	if !comp.hasStart && ch.Name == "VEVENT" {
		c.warn("VEVENT without a readable DTSTART")
	}
	comp.recurID, comp.isOver = c.propWhen(ch, "RECURRENCE-ID")
	if comp.isOver {
		if p := ch.Props.Get("RECURRENCE-ID"); p != nil && strings.EqualFold(p.Params.Get("RANGE"), "THISANDFUTURE") {
			c.warn("RECURRENCE-ID;RANGE=THISANDFUTURE read as changing one instance only")
		}
	}
	if rules := ch.Props.Values("RRULE"); len(rules) > 0 && !comp.isOver {
		spec, warns, err := parseRecur(rules[0].Value, false)
		c.warnings = append(c.warnings, warns...)
		if err != nil {
			c.warn("%v; the event is read as not recurring", err)
		} else {
			comp.rule = spec
		}
		if len(rules) > 1 {
			c.warn("%d more RRULEs ignored", len(rules)-1)
		}
	}
	if len(ch.Props.Values("EXRULE")) > 0 {
		c.warn("EXRULE (deprecated) ignored")
	}
	if !comp.isOver {
		comp.rdates = c.propList(ch, "RDATE")
		comp.exdates = c.propList(ch, "EXDATE")
	}
	comp.cancelled = strings.EqualFold(strings.TrimSpace(textProp(ch, "STATUS")), "CANCELLED")
	if s := strings.TrimSpace(textProp(ch, "SEQUENCE")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			c.warn("SEQUENCE %q unreadable", s)
		}
		comp.sequence = n
	}
	return comp
}

// stamp reads a UTC DATE-TIME property (DTSTAMP, LAST-MODIFIED).
func (c *calendar) stamp(comp *goical.Component, name string) time.Time {
	w, ok := c.propWhen(comp, name)
	if !ok {
		return time.Time{}
	}
	return w.at(time.UTC).UTC()
}

// startAt is the component's start for the calendar's reader.
func (comp *component) startAt() time.Time {
	if !comp.hasStart {
		if comp.isOver {
			return comp.recurID.at(comp.cal.view)
		}
		return time.Time{}
	}
	return comp.start.at(comp.cal.view)
}

// loc is where the component's recurrences are computed: its zone, UTC
// for a UTC start, the reader's zone for floating and all-day ones.
func (comp *component) loc() *time.Location {
	switch comp.start.form {
	case formZoned:
		return comp.start.loc
	case formUTC:
		return time.UTC
	}
	return comp.cal.view
}

// endFor returns the end of an instance of comp starting at s.
func (comp *component) endFor(s time.Time) time.Time {
	s = s.In(comp.loc())
	switch {
	case comp.hasEnd && comp.hasStart:
		if comp.start.form == formDate && comp.end.form == formDate {
			days := int(comp.end.wall.Sub(comp.start.wall).Hours() / 24)
			if days < 0 {
				days = 0
			}
			return duration{days: days}.add(s)
		}
		// RFC 5545 §3.8.5.3: the exact duration of the first instance
		// applies to all of them.
		d := comp.end.at(comp.cal.view).Sub(comp.start.at(comp.cal.view))
		if d < 0 {
			d = 0
		}
		return s.Add(d)
	case comp.hasDur:
		return comp.dur.add(s)
	case comp.hasStart && comp.start.form == formDate:
		return duration{days: 1}.add(s)
	}
	return s
}

// bounds fills Start, End, LastEnd and Unbounded.
func (c *calendar) bounds(o *Object, head *component) {
	if !head.hasStart && !head.isOver {
		return
	}
	if head.hasEnd && head.hasStart && head.end.at(c.view).Before(head.start.at(c.view)) {
		c.warn("%s ends before it starts; read as ending when it starts", head.comp.Name)
	}
	first, last, found, unbounded := c.span()
	if !found {
		first.start = head.startAt()
		first.end = head.endFor(first.start)
		last = first
		if len(c.overrides) > 0 || c.master != nil && len(c.master.exdates) > 0 {
			c.warn("no occurrences: every instance is excluded or cancelled")
		}
	}
	o.Start, o.End = c.present(head, first.start), c.present(head, first.end)
	if unbounded {
		o.Unbounded = true
		return
	}
	o.LastEnd = c.present(head, last.end)
}

// present gives t in the zone of head's start, or as a UTC wall clock for
// floating and all-day times (view is UTC for Parse).
func (c *calendar) present(head *component, t time.Time) time.Time {
	if head.hasStart && head.start.form == formZoned {
		return t.In(head.start.loc)
	}
	return t.UTC()
}
