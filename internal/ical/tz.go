package ical

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	goical "github.com/emersion/go-ical"
)

// A TZID is resolved, in this order:
//  1. as an IANA name (time.LoadLocation: the full history of the zone);
//  2. through the object's own VTIMEZONE of that TZID, turned into a
//     time.Location (see vtimezoneLocation) — Outlook's "W. Europe
//     Standard Time", Lotus and custom names;
//  3. through the CLDR table of Windows zone names, for objects that
//     use one without a VTIMEZONE;
//  4. as the trailing Area/City of a path-like TZID
//     ("/mozilla.org/20050126_1/Europe/Berlin");
//  5. as the fixed offset of an Outlook display name ("(UTC+01:00)
//     Amsterdam, Berlin, ...") — no DST, and a warning says so;
// and otherwise the time is read as floating, with a warning: the wall
// clock the organizer wrote is the best guess left.
//
// An IANA name wins over a VTIMEZONE of the same name because the
// VTIMEZONEs servers send often hold only the current rules; a VTIMEZONE
// that redefines an IANA name to something else is not honoured.

// zoneResolver resolves the TZIDs of one calendar object.
type zoneResolver struct {
	vtz  map[string]*goical.Component
	memo map[string]*time.Location // nil: unknown, read as floating
	warn func(format string, args ...any)
}

func (z *zoneResolver) resolve(tzid string) *time.Location {
	if loc, ok := z.memo[tzid]; ok {
		return loc
	}
	loc := z.lookup(tzid)
	if z.memo == nil {
		z.memo = map[string]*time.Location{}
	}
	z.memo[tzid] = loc
	return loc
}

func (z *zoneResolver) lookup(tzid string) *time.Location {
	name := strings.Trim(strings.TrimSpace(tzid), `"`)
	if loc := ianaZone(name); loc != nil {
		return loc
	}
	if comp := z.vtz[tzid]; comp != nil {
		loc, err := vtimezoneLocation(tzid, comp)
		if err == nil {
			return loc
		}
		z.warn("VTIMEZONE %q unusable (%v)", tzid, err)
	}
	if iana, ok := windowsZones[name]; ok {
		if loc := ianaZone(iana); loc != nil {
			z.warn("TZID %q has no VTIMEZONE; read as %s", tzid, iana)
			return loc
		}
	}
	if strings.Contains(name, "/") {
		parts := strings.Split(strings.Trim(name, "/"), "/")
		for k := 3; k >= 2; k-- {
			if len(parts) > k {
				if loc := ianaZone(strings.Join(parts[len(parts)-k:], "/")); loc != nil {
					return loc
				}
			}
		}
	}
	if off, ok := displayNameOffset(name); ok {
		z.warn("TZID %q has no VTIMEZONE; read as a fixed offset, without DST", tzid)
		return time.FixedZone(name[1:10], off)
	}
	z.warn("unknown TZID %q: read as floating time", tzid)
	return nil
}

// displayNameOffset reads the offset of "(UTC+01:00) Amsterdam, ...".
func displayNameOffset(name string) (int, bool) {
	if len(name) < 11 || !(strings.HasPrefix(name, "(UTC") || strings.HasPrefix(name, "(GMT")) || name[10] != ')' || name[7] != ':' {
		return 0, false
	}
	return parseUTCOffset(name[4:7] + name[8:10])
}

// The caches below are shared by all calls: loading a zone reads a file
// and building one from a VTIMEZONE expands its rules, and the same few
// zones recur in every object of a calendar. They are bounded, cleared
// when full, so hostile input cannot grow them without end.
const zoneCacheMax = 512

var zoneCache = struct {
	sync.Mutex
	iana map[string]*time.Location // nil value: not an IANA name
	vtz  map[string]vtzEntry
}{iana: map[string]*time.Location{}, vtz: map[string]vtzEntry{}}

type vtzEntry struct {
	loc *time.Location
	err error
}

// ianaZone loads an IANA zone, or returns nil.
func ianaZone(name string) *time.Location {
	if name == "" || name == "Local" || len(name) > 64 || strings.ContainsAny(name, " \t\\\x00") {
		return nil // Local would make output depend on the machine
	}
	zoneCache.Lock()
	loc, ok := zoneCache.iana[name]
	zoneCache.Unlock()
	if ok {
		return loc
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = nil
	}
	zoneCache.Lock()
	if len(zoneCache.iana) >= zoneCacheMax {
		clear(zoneCache.iana)
	}
	zoneCache.iana[name] = loc
	zoneCache.Unlock()
	return loc
}

// Limits of a zone built from a VTIMEZONE. Transitions are generated up
// to vtzLastYear; later times keep the offset of the last transition.
const (
	vtzLastYear       = 2200
	vtzMaxOnsets      = 1200 // per observance: 1601..2200 twice a year fits
	vtzMaxTransitions = 4000
	vtzMaxZones       = 64
)

// vtimezoneLocation turns a VTIMEZONE into a time.Location: every onset
// of every STANDARD and DAYLIGHT observance (DTSTART, RRULE, RDATE) up to
// vtzLastYear becomes a transition of a TZif file that the time package
// then loads. Offsets are exactly the VTIMEZONE's; what it does not say
// (history before its first onset, rule changes it does not list) is not
// invented: before the first onset the first TZOFFSETFROM holds.
func vtimezoneLocation(tzid string, comp *goical.Component) (*time.Location, error) {
	key := vtzKey(tzid, comp)
	zoneCache.Lock()
	e, ok := zoneCache.vtz[key]
	zoneCache.Unlock()
	if ok {
		return e.loc, e.err
	}
	loc, err := buildVTimezone(tzid, comp)
	zoneCache.Lock()
	if len(zoneCache.vtz) >= zoneCacheMax {
		clear(zoneCache.vtz)
	}
	zoneCache.vtz[key] = vtzEntry{loc, err}
	zoneCache.Unlock()
	return loc, err
}

func vtzKey(tzid string, comp *goical.Component) string {
	var b strings.Builder
	b.WriteString(tzid)
	for _, ch := range comp.Children {
		b.WriteString("\x00")
		b.WriteString(ch.Name)
		for _, n := range []string{"DTSTART", "TZOFFSETFROM", "TZOFFSETTO", "TZNAME", "RRULE", "RDATE"} {
			for _, p := range ch.Props.Values(n) {
				b.WriteString("\x01")
				b.WriteString(n)
				b.WriteString(p.Value)
			}
		}
	}
	return b.String()
}

type onset struct {
	at   int64 // Unix seconds
	from int
	to   int
	dst  bool
	name string
}

func buildVTimezone(tzid string, comp *goical.Component) (*time.Location, error) {
	var onsets []onset
	for _, ob := range comp.Children {
		if ob.Name != "STANDARD" && ob.Name != "DAYLIGHT" {
			continue
		}
		list, err := observanceOnsets(ob)
		if err != nil {
			continue // one bad observance; the others may still serve
		}
		onsets = append(onsets, list...)
		if len(onsets) > vtzMaxTransitions {
			onsets = onsets[:vtzMaxTransitions]
			break
		}
	}
	if len(onsets) == 0 {
		return nil, errors.New("no usable STANDARD or DAYLIGHT")
	}
	sort.SliceStable(onsets, func(i, j int) bool { return onsets[i].at < onsets[j].at })
	data, err := tzif(onsets)
	if err != nil {
		return nil, err
	}
	return time.LoadLocationFromTZData(tzid, data)
}

// observanceOnsets lists the onsets of one STANDARD or DAYLIGHT.
func observanceOnsets(ob *goical.Component) ([]onset, error) {
	text := func(n string) string {
		if p := ob.Props.Get(n); p != nil {
			return p.Value
		}
		return ""
	}
	to, ok := parseUTCOffset(text("TZOFFSETTO"))
	if !ok {
		return nil, errors.New("no TZOFFSETTO")
	}
	from, ok := parseUTCOffset(text("TZOFFSETFROM"))
	if !ok {
		from = to
	}
	start, f, err := parseStamp(text("DTSTART"))
	if err != nil {
		return nil, err
	}
	base := onset{from: from, to: to, dst: ob.Name == "DAYLIGHT", name: abbreviation(text("TZNAME"), to)}
	// Onsets are written in the local time before the change
	// (TZOFFSETFROM); a UTC value, against the RFC, is taken as written.
	instant := func(wall time.Time, f form) int64 {
		if f == formUTC {
			return wall.Unix()
		}
		return wall.Unix() - int64(from)
	}
	out := []onset{base}
	out[0].at = instant(start, f)
	if p := ob.Props.Get("RRULE"); p != nil {
		if spec, _, err := parseRecur(p.Value, false); err == nil {
			// The rule runs on wall clocks (in UTC); UNTIL, a UTC instant
			// by the RFC, is compared with the onset's instant.
			until := spec.until
			spec.until = untilValue{}
			last := time.Date(vtzLastYear, 12, 31, 23, 59, 59, 0, time.UTC)
			for next := spec.bind(start, false).iterator(time.Time{}); len(out) < vtzMaxOnsets; {
				t, ok := next()
				if !ok || t.After(last) {
					break
				}
				o := base
				o.at = instant(t, formFloating)
				if until.set && (until.form == formUTC && o.at > until.wall.Unix() || until.form != formUTC && t.After(until.wall)) {
					break
				}
				out = append(out, o)
			}
		}
	}
	for _, p := range ob.Props.Values("RDATE") {
		for _, v := range strings.Split(p.Value, ",") {
			v, _, _ = strings.Cut(v, "/")
			if t, f, err := parseStamp(v); err == nil && len(out) < vtzMaxOnsets {
				o := base
				o.at = instant(t, f)
				out = append(out, o)
			}
		}
	}
	return out, nil
}

// abbreviation sanitizes a TZNAME for the TZif table, or makes one from
// the offset ("+0130").
func abbreviation(name string, off int) string {
	name = strings.TrimSpace(name)
	ok := len(name) >= 1 && len(name) <= 8
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '-'
	}
	if ok {
		return name
	}
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	s := fmt.Sprintf("%s%02d%02d", sign, off/3600, off/60%60)
	if off%60 != 0 {
		s += fmt.Sprintf("%02d", off%60)
	}
	return s
}

// tzif encodes sorted onsets as a version 2 TZif file (RFC 8536) with an
// empty footer: after the last transition its offset holds.
func tzif(onsets []onset) ([]byte, error) {
	type zone struct {
		off  int
		dst  bool
		name string
	}
	// Zone 0 is in effect before the first onset and used by no
	// transition, which is how the time package knows to use it there.
	zones := []zone{{onsets[0].from, false, abbreviation("", onsets[0].from)}}
	var times []int64
	var idx []uint8
	for _, o := range onsets {
		z := zone{o.to, o.dst, o.name}
		i := -1
		for j := 1; j < len(zones); j++ {
			if zones[j] == z {
				i = j
				break
			}
		}
		if i < 0 {
			if len(zones) >= vtzMaxZones {
				return nil, errors.New("too many distinct offsets")
			}
			zones = append(zones, z)
			i = len(zones) - 1
		}
		if len(times) > 0 && times[len(times)-1] == o.at {
			idx[len(idx)-1] = uint8(i) // two onsets at once: the later listed wins
			continue
		}
		times = append(times, o.at)
		idx = append(idx, uint8(i))
	}
	var abbrev []byte
	nameAt := map[string]int{}
	for _, z := range zones {
		if _, ok := nameAt[z.name]; !ok {
			nameAt[z.name] = len(abbrev)
			abbrev = append(abbrev, z.name...)
			abbrev = append(abbrev, 0)
		}
	}
	if len(abbrev) > 255 {
		return nil, errors.New("too many zone names")
	}
	var b []byte
	header := func(timecnt, typecnt, charcnt int) {
		b = append(b, "TZif2"...)
		b = append(b, make([]byte, 15)...)
		for _, n := range []int{0, 0, 0, timecnt, typecnt, charcnt} { // isut, isstd, leap, time, type, char
			b = binary.BigEndian.AppendUint32(b, uint32(n))
		}
	}
	header(0, 0, 0) // the 32-bit block, empty: readers of version 2 skip it
	header(len(times), len(zones), len(abbrev))
	for _, t := range times {
		b = binary.BigEndian.AppendUint64(b, uint64(t))
	}
	b = append(b, idx...)
	for _, z := range zones {
		b = binary.BigEndian.AppendUint32(b, uint32(int32(z.off)))
		dst := byte(0)
		if z.dst {
			dst = 1
		}
		b = append(b, dst, byte(nameAt[z.name]))
	}
	b = append(b, abbrev...)
	b = append(b, "\n\n"...)
	return b, nil
}

// offsetString formats a UTC offset for TZOFFSETFROM/TO.
func offsetString(off int) string {
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	s := sign + twoDigits(off/3600) + twoDigits(off/60%60)
	if off%60 != 0 {
		s += twoDigits(off % 60)
	}
	return s
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}
