// Package ical reads calendar object resources (RFC 5545 iCalendar, as a
// CalDAV server serves them), expands their recurrences into the
// occurrences of a time window, and writes new events and edits. It is
// pure: it does no I/O but for time zone data, keeps no state but
// bounded caches of zones and rule analyses, and is safe for concurrent
// use.
//
// The calendar engine stores each object raw and, from Parse, its UID,
// summary and time bounds; `holdover cal ls` calls Expand on the objects
// whose bounds meet the window it lists. NewEvent and Edit produce what
// the outbox replays to the server.
//
// Invariants:
//   - Data from a server never makes this package panic, hang or fail
//     the whole object for one bad part. Parse errs only for data that is
//     not iCalendar (ErrNotICalendar) or has no VEVENT or VTODO
//     (ErrNoComponent); everything else — lines folded wrong, a missing
//     END, an unknown TZID, no UID, an RRULE that yields nothing or never
//     ends — is repaired or skipped, and said in a warning. FuzzParse and
//     FuzzExpand hold this.
//   - Work is bounded. Reading is linear in the input and nesting is
//     capped; one call looks at no more than maxInstances instances of a
//     series (more in a window: cut off with a warning; more in total:
//     Parse says Unbounded); a rule that never matches is recognised in
//     bounded time.
//   - Parse's bounds hold every occurrence: Start is the earliest start,
//     LastEnd the latest end (or Unbounded), so a range query on them
//     loses nothing. All-day and floating bounds are wall clocks written
//     in UTC; a query widens them by 14 hours.
//   - Occurrence times are exact: a zoned series keeps its wall clock
//     across DST changes (09:00 in Berlin stays 09:00, its UTC offset
//     changes), UNTIL, EXDATE and RECURRENCE-ID match by instant whatever
//     zone each is written in, and all-day and floating times are read
//     on the reader's wall clock.
//   - Edit changes only the lines it means to: every other byte of the
//     object (VTIMEZONEs, overrides, alarms, attendees, X- properties,
//     folding, line endings) is kept, so an edit made offline can be
//     replayed without losing what another client wrote.
//   - User input is checked before anything is written: NewEvent refuses
//     an end not after the start, a malformed RRULE or one that yields
//     nothing, each with a one-line error.
//
// Libraries: github.com/emersion/go-ical provides the component types
// and the encoder of NewEvent, github.com/teambition/rrule-go the RRULE
// arithmetic. Where they fall short for data from the wild, this package
// works around them, and says why where it does: lex.go (go-ical's
// decoder), value.go (DATE and DURATION values), tz.go (TZIDs that are
// not IANA names), recur.go (rrule-go).
//
// Limits:
//   - A VTIMEZONE is expanded up to the year 2200 and read as its rules
//     say; history it does not state is not invented. A VTIMEZONE that
//     redefines an IANA name is ignored in favour of the IANA zone.
//   - RECURRENCE-ID;RANGE=THISANDFUTURE changes one instance only (with a
//     warning); EXRULE (deprecated) is ignored; RSCALE is not supported.
//   - Instances are computed to the second; rrule-go's years end at 9999.
//   - A rule with an INTERVAL whose pattern repeats over more than 400
//     years and first matches after 400 to 800 years is taken to yield
//     nothing (the emptiness probe's window).
//   - Edit moves a series' DTSTART but not its overrides or EXDATEs,
//     which name instances by their original start.
package ical
