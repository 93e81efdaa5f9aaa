// Package calsync is the calendar engine: it mirrors an account's CalDAV
// calendars into the store, takes the user's offline edits, and replays
// them conditionally through the outbox, deciding conflicts by policy.
//
// Invariants:
//   - An unchanged account costs one request: the calendar listing
//     carries each calendar's sync-token (or ctag); a calendar whose token
//     equals the stored one is skipped.
//   - Incremental work costs what changed: a sync-collection REPORT names
//     the changed and removed hrefs; only objects whose ETag differs from
//     the stored one are fetched (calendar-multiget, in batches). A
//     refused token falls back to one PROPFIND of every ETag, and still
//     fetches only what differs; so does a server without sync-token,
//     after its ctag changed.
//   - The server's version never overwrites or removes an object with a
//     queued local change (store.StoreServerObject): the replay's
//     precondition (If-Match with the ETag the change was based on, or
//     If-None-Match: * for a create) finds out whether the server changed
//     it, and the conflict policy decides (see exec.go).
//   - A create's href and UID are fixed when it is queued, so a replay
//     after a crash can never make a second event: If-None-Match: * fails
//     on the first attempt's object, which is recognised by its UID.
//   - Data the server sends is stored exactly as received, even when it
//     cannot be parsed (marked bad, with a warning): one bad object never
//     blocks the rest of its calendar.
package calsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/holdover/holdover/internal/ical"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// Options configure an Engine.
type Options struct {
	Account string
	DB      *store.DB
	Remote  hsync.CalendarRemote
	Log     *slog.Logger
	// Batch is how many fetched objects are committed together (at most
	// 8 MB of them).
	Batch int
}

// Stats count what a sync pass did.
type Stats struct {
	Calendars        int // synced
	Skipped          int // unchanged
	Fetched          int // objects downloaded
	Removed          int // objects removed because the server removed them
	Bad              int // objects stored raw because they could not be parsed
	CalendarsRemoved int
	FullCompares     int // ETag listings (no or refused sync-token)
}

func (s *Stats) add(o Stats) {
	s.Calendars += o.Calendars
	s.Skipped += o.Skipped
	s.Fetched += o.Fetched
	s.Removed += o.Removed
	s.Bad += o.Bad
	s.CalendarsRemoved += o.CalendarsRemoved
	s.FullCompares += o.FullCompares
}

// Engine mirrors one account's calendars. One goroutine owns it.
type Engine struct {
	opts Options
	log  *slog.Logger
}

// New returns an engine.
func New(opts Options) *Engine {
	if opts.Batch <= 0 {
		opts.Batch = 200
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{opts: opts, log: log.With("account", opts.Account, "service", "caldav")}
}

// SyncOnce follows the server's calendar list and syncs every calendar.
func (e *Engine) SyncOnce(ctx context.Context) (Stats, error) {
	var st Stats
	if h, ok := e.opts.Remote.(hsync.CalendarHinter); ok {
		// What the last pass saw lets a new process ask only for what it
		// needs (no getctag when every calendar has a sync-token).
		stored, err := e.opts.DB.Calendars(ctx, e.opts.Account)
		if err != nil {
			return st, err
		}
		all := len(stored) > 0
		for _, c := range stored {
			all = all && c.SyncToken != ""
		}
		h.HintSyncTokens(all)
	}
	remote, err := e.opts.Remote.Calendars(ctx)
	if err != nil {
		return st, err
	}
	cals, err := e.syncCalendarList(ctx, remote, &st)
	if err != nil {
		return st, err
	}
	var errs []error
	for _, c := range cals {
		cs, err := e.syncCalendar(ctx, c.stored, c.remote)
		st.add(cs)
		if err == nil {
			continue
		}
		if errors.Is(err, hsync.ErrCalendarGone) {
			continue // removed between the listing and now: the next pass follows
		}
		if ctx.Err() != nil || hsync.KindOf(err) != hsync.Permanent {
			return st, fmt.Errorf("calendar %s: %w", c.stored.Href, err)
		}
		e.log.Warn("calendar not synced", "calendar", c.stored.Href, "err", err)
		errs = append(errs, fmt.Errorf("calendar %s: %w", c.stored.Href, err))
	}
	return st, errors.Join(errs...)
}

type calPair struct {
	stored store.Calendar
	remote hsync.RemoteCalendar
}

// syncCalendarList records the server's calendars (those that hold
// events) and removes the ones it no longer lists.
func (e *Engine) syncCalendarList(ctx context.Context, remote []hsync.RemoteCalendar, st *Stats) ([]calPair, error) {
	local, err := e.opts.DB.Calendars(ctx, e.opts.Account)
	if err != nil {
		return nil, err
	}
	byHref := map[string]hsync.RemoteCalendar{}
	ids := map[string]int64{}
	err = e.opts.DB.Write(ctx, func(tx *store.Tx) error {
		for _, rc := range remote {
			if len(rc.Components) > 0 && !slices.Contains(rc.Components, "VEVENT") {
				continue // a task list or address book: not mirrored
			}
			name := rc.Name
			if name == "" {
				name = lastSegment(rc.Href)
			}
			id, err := tx.UpsertCalendar(ctx, store.Calendar{Account: e.opts.Account, Href: rc.Href, Name: name, Color: rc.Color, Components: rc.Components})
			if err != nil {
				return err
			}
			byHref[rc.Href], ids[rc.Href] = rc, id
		}
		for _, c := range local {
			if _, ok := byHref[c.Href]; ok {
				continue
			}
			// Local changes queued for a calendar the server removed can
			// never be replayed: they end with it (the outbox rows fail
			// as gone and stay listed).
			if err := tx.DeleteCalendar(ctx, c.ID); err != nil {
				return err
			}
			e.log.Info("calendar removed on the server", "calendar", c.Href)
			st.CalendarsRemoved++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	all, err := e.opts.DB.Calendars(ctx, e.opts.Account)
	if err != nil {
		return nil, err
	}
	var out []calPair
	for _, c := range all {
		if rc, ok := byHref[c.Href]; ok {
			out = append(out, calPair{stored: c, remote: rc})
		}
	}
	return out, nil
}

func lastSegment(href string) string {
	s := strings.TrimSuffix(href, "/")
	return s[strings.LastIndex(s, "/")+1:]
}

// syncCalendar brings one calendar up to date: by sync-token when the
// server offers it, else by ctag and a full ETag comparison.
func (e *Engine) syncCalendar(ctx context.Context, c store.Calendar, rc hsync.RemoteCalendar) (Stats, error) {
	var st Stats
	synced := !c.SyncedAt.IsZero()
	switch {
	case rc.SyncToken != "" && synced && rc.SyncToken == c.SyncToken,
		rc.SyncToken == "" && rc.CTag != "" && synced && rc.CTag == c.CTag:
		st.Skipped++
		return st, nil
	}
	st.Calendars++
	token := rc.SyncToken
	if rc.SyncToken != "" {
		var err error
		token, err = e.changes(ctx, c, &st)
		if errors.Is(err, hsync.ErrInvalidSyncToken) {
			e.log.Info("sync token refused; comparing every ETag", "calendar", c.Href)
			token = rc.SyncToken // read before the listing below: safe to resume from
			err = e.compareAll(ctx, c, &st)
		}
		if err != nil {
			return st, err
		}
	} else if err := e.compareAll(ctx, c, &st); err != nil {
		return st, err
	}
	return st, e.opts.DB.Write(ctx, func(tx *store.Tx) error { return tx.SetCalendarState(ctx, c.ID, rc.CTag, token) })
}

// changes applies sync-collection reports from the stored token (all
// objects on the first pass) and returns the new token.
func (e *Engine) changes(ctx context.Context, c store.Calendar, st *Stats) (string, error) {
	token := c.SyncToken
	if c.SyncedAt.IsZero() {
		token = "" // never synced: an initial report lists everything
	}
	for {
		ch, err := e.opts.Remote.Changes(ctx, c.Href, token)
		if err != nil {
			return "", err
		}
		stored, err := e.opts.DB.CalVersions(ctx, c.ID)
		if err != nil {
			return "", err
		}
		if err := e.apply(ctx, c, stored, ch.Changed, ch.Removed, st); err != nil {
			return "", err
		}
		token = ch.SyncToken
		if !ch.Truncated {
			return token, nil
		}
	}
}

// compareAll lists every ETag of a calendar and brings the store in line:
// the fallback without (or with a refused) sync-token.
func (e *Engine) compareAll(ctx context.Context, c store.Calendar, st *Stats) error {
	st.FullCompares++
	refs, err := e.opts.Remote.ETags(ctx, c.Href)
	if err != nil {
		return err
	}
	stored, err := e.opts.DB.CalVersions(ctx, c.ID)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, r := range refs {
		seen[r.Href] = true
	}
	var removed []string
	for h, v := range stored {
		// A local create is not on the server yet; it is not "removed".
		if !seen[h] && v.LocalState != store.CalCreated {
			removed = append(removed, h)
		}
	}
	slices.Sort(removed)
	return e.apply(ctx, c, stored, refs, removed, st)
}

// apply fetches the changed objects whose ETag differs from the stored
// one (stored: the calendar's versions, read by the caller) and removes
// the removed ones.
func (e *Engine) apply(ctx context.Context, c store.Calendar, stored map[string]store.CalVersion, changed []hsync.ObjectRef, removed []string, st *Stats) error {
	var fetch []string
	for _, r := range changed {
		v, ok := stored[r.Href]
		if ok && r.ETag != "" && v.ETag == r.ETag {
			continue
		}
		if ok && v.LocalState != store.CalSynced {
			continue // a queued local change wins until its replay
		}
		fetch = append(fetch, r.Href)
	}
	if len(removed) > 0 {
		err := e.opts.DB.Write(ctx, func(tx *store.Tx) error {
			n, err := tx.DeleteServerObjects(ctx, c.ID, removed)
			st.Removed += n
			return err
		})
		if err != nil {
			return err
		}
	}
	if len(fetch) == 0 {
		return nil
	}
	// One multiget stream (the connector sends as few REPORTs as it can:
	// round trips, not bytes, decide the time over a real link), committed
	// every Batch objects; no write transaction is open while reading.
	var objs []hsync.CalObject
	var size int
	flush := func() error {
		if len(objs) == 0 {
			return nil
		}
		err := e.opts.DB.Write(ctx, func(tx *store.Tx) error {
			for _, o := range objs {
				f := Fields(o.Data)
				if f.Bad {
					st.Bad++
					e.log.Warn("calendar object stored as received: it cannot be read", "href", o.Href, "warnings", strings.Join(f.Warnings, "; "))
				}
				if _, err := tx.StoreServerObject(ctx, c.ID, o.Href, o.ETag, o.Data, f); err != nil {
					return err
				}
				st.Fetched++
			}
			return nil
		})
		objs, size = objs[:0], 0
		return err
	}
	err := e.opts.Remote.Multiget(ctx, c.Href, fetch, func(o hsync.CalObject) error {
		objs = append(objs, o)
		if size += len(o.Data); len(objs) >= e.opts.Batch || size >= 8<<20 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// Fields derives the stored listing fields of iCalendar data; data that
// cannot be parsed gives Bad with the reason as a warning.
func Fields(data []byte) store.CalFields {
	o, err := ical.Parse(data)
	if err != nil {
		return store.CalFields{Bad: true, Kind: "VEVENT", Warnings: []string{err.Error()}}
	}
	return store.CalFields{
		UID: o.UID, Kind: o.Kind, Summary: o.Summary, Start: o.Start, End: o.End,
		LastEnd: o.LastEnd, Unbounded: o.Unbounded, AllDay: o.AllDay, Recurring: o.Recurring,
		Warnings: o.Warnings,
	}
}
