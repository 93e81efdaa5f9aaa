package ical

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	goical "github.com/emersion/go-ical"
)

// Change is an edit of an object's master component; nil fields are left
// as they are. An empty Location or Description removes the property.
type Change struct {
	Summary, Location, Description *string
	// Start moves the event; without End, the end moves with it (the
	// duration is kept). Times are written in the form the object
	// already uses: a DATE stays a DATE (Start's date in its own
	// Location), a TZID stays that TZID, UTC stays UTC, a floating time
	// takes Start's wall clock.
	Start, End *time.Time
}

// Edit applies ch to the master component (or, for an object that has
// only overrides, to the first of them), increments SEQUENCE and sets
// LAST-MODIFIED and DTSTAMP to now. It rewrites only the lines it
// changes: every other line — VTIMEZONEs, overrides, alarms, attendees,
// X- properties, the line endings — is kept byte for byte, so that what
// holdover did not mean to change, it does not. Moving a series does not
// move its overrides or EXDATEs, which name instances by their original
// start.
func Edit(data []byte, ch Change, now time.Time) ([]byte, error) {
	d, err := decode(data, decodeOptions{spans: true})
	if err != nil {
		return nil, err
	}
	view := time.UTC
	if ch.Start != nil {
		view = ch.Start.Location()
	} else if ch.End != nil {
		view = ch.End.Location()
	}
	c, err := fromTree(d, view)
	if err != nil {
		return nil, err
	}
	target := c.master
	if target == nil {
		target = c.overrides[0]
	}
	sp := d.spans[target.comp]
	if sp == nil {
		return nil, errors.New("cannot locate the component to edit")
	}
	set := map[string]*goical.Prop{} // replacement lines; nil value: remove
	text := func(name string, v *string) {
		if v == nil {
			return
		}
		if *v == "" && name != "SUMMARY" {
			set[name] = nil
			return
		}
		set[name] = &goical.Prop{Name: name, Value: escapeText(*v)}
	}
	text("SUMMARY", ch.Summary)
	text("LOCATION", ch.Location)
	text("DESCRIPTION", ch.Description)
	if err := c.editTimes(target, ch, set); err != nil {
		return nil, err
	}
	stamp := now.UTC().Format("20060102T150405Z")
	set["SEQUENCE"] = &goical.Prop{Name: "SEQUENCE", Value: strconv.Itoa(target.sequence + 1)}
	set["LAST-MODIFIED"] = &goical.Prop{Name: "LAST-MODIFIED", Value: stamp}
	set["DTSTAMP"] = &goical.Prop{Name: "DTSTAMP", Value: stamp}

	eol := "\n"
	if bytes.Contains(data, []byte("\r\n")) {
		eol = "\r\n"
	}
	data = newLineReader(data).data // the offsets are past any BOM
	var out bytes.Buffer
	out.Grow(len(data) + 256)
	cursor := sp.begin
	out.Write(data[:cursor])
	done := map[string]bool{}
	for _, p := range sp.props {
		repl, managed := set[p.name]
		if !managed {
			continue // copied with the next gap
		}
		out.Write(data[cursor:p.start])
		cursor = p.end
		if repl != nil && !done[p.name] {
			foldLine(&out, propLine(repl), eol)
		}
		done[p.name] = true
	}
	out.Write(data[cursor:sp.endStart])
	if out.Len() > 0 && out.Bytes()[out.Len()-1] != '\n' {
		out.WriteString(eol)
	}
	for _, name := range []string{"SUMMARY", "LOCATION", "DESCRIPTION", "DTSTART", "DTEND", "DUE", "SEQUENCE", "LAST-MODIFIED", "DTSTAMP"} {
		if repl := set[name]; repl != nil && !done[name] {
			foldLine(&out, propLine(repl), eol)
		}
	}
	if sp.endStart == len(data) { // the component was never closed
		out.WriteString("END:" + target.comp.Name + eol)
	}
	out.Write(data[sp.endStart:])
	return out.Bytes(), nil
}

// editTimes adds to set the DTSTART, DTEND (DUE) and DURATION lines that
// ch asks for, after checking that the end stays after the start.
func (c *calendar) editTimes(t *component, ch Change, set map[string]*goical.Prop) error {
	if ch.Start == nil && ch.End == nil {
		return nil
	}
	endName := "DTEND"
	if t.comp.Name == "VTODO" {
		endName = "DUE"
	}
	startForm := t.start
	if !t.hasStart {
		startForm = when{form: formUTC}
	}
	endForm := startForm
	if t.hasEnd {
		endForm = t.end
	}
	oldStart := t.startAt()
	oldEnd := t.endFor(oldStart)
	newStart, newEnd := oldStart, oldEnd
	if ch.Start != nil {
		newStart = *ch.Start
		if startForm.form == formDate {
			// Move by whole days, so an all-day event stays one.
			days := int(civilDate(newStart).Sub(civilDate(oldStart.In(c.view))).Hours() / 24)
			newEnd = duration{days: days}.add(oldEnd.In(c.view))
		} else {
			newEnd = oldEnd.Add(newStart.Sub(oldStart))
		}
	}
	if ch.End != nil {
		newEnd = *ch.End
	}
	writeEnd := ch.End != nil || ch.Start != nil && t.hasEnd
	if startForm.form == formDate {
		if writeEnd && !civilDate(newEnd.In(c.view)).After(civilDate(newStart.In(c.view))) {
			return fmt.Errorf("end %s must be after start %s (the end of an all-day event is the day after the last)",
				newEnd.In(c.view).Format("2006-01-02"), newStart.In(c.view).Format("2006-01-02"))
		}
	} else if writeEnd && !newEnd.After(newStart) {
		return fmt.Errorf("end %s must be after start %s", newEnd.Format(time.RFC3339), newStart.Format(time.RFC3339))
	}
	if ch.Start != nil {
		set["DTSTART"] = c.formatAs("DTSTART", startForm, newStart)
	}
	if writeEnd {
		set[endName] = c.formatAs(endName, endForm, newEnd)
		if t.hasDur {
			set["DURATION"] = nil // DTEND replaces it
		}
	}
	return nil
}

// formatAs writes t in the form of w (DATE, UTC, TZID or floating).
func (c *calendar) formatAs(name string, w when, t time.Time) *goical.Prop {
	p := &goical.Prop{Name: name, Params: goical.Params{}}
	switch w.form {
	case formDate:
		p.Params.Set("VALUE", "DATE")
		p.Value = t.In(c.view).Format("20060102")
	case formZoned:
		p.Params.Set("TZID", w.tzid)
		p.Value = t.In(w.loc).Format("20060102T150405")
	case formFloating:
		if w.tzid != "" {
			p.Params.Set("TZID", w.tzid) // unknown to us; keep it for others
		}
		p.Value = t.In(c.view).Format("20060102T150405")
	default:
		p.Value = t.UTC().Format("20060102T150405Z")
	}
	return p
}
