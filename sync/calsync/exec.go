package calsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/holdover/holdover/internal/ical"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/outbox"
)

// The conflict rules, enforced by Executor:
//
//   - A replay is always conditional: a PUT of an edit carries If-Match
//     with the ETag the local version was based on, a create
//     If-None-Match: *, a DELETE If-Match. The server answering 412 (or
//     the object being gone) is a conflict, never an overwrite.
//   - A create that finds its href taken by an object with its own UID is
//     its own earlier attempt (a crash after the PUT, before the outcome
//     was recorded): it is done, never created twice.
//   - On a conflict the server's version is read and the account's policy
//     decides:
//     ask (default): the server's version is applied locally, the local
//     one is kept in conflicts, and the action waits (state conflict)
//     for `holdover conflicts resolve`;
//     server-wins: the server's version is applied, the action ends done,
//     the conflict is recorded as resolved;
//     local-wins: the local version is sent again against the server's
//     new ETag (still conditional: a third change in between is a new
//     conflict, retried);
//     newest: the version with the later LAST-MODIFIED wins (then
//     DTSTAMP, then SEQUENCE; a tie goes to the server).

// Policies.
const (
	PolicyAsk        = "ask"
	PolicyServerWins = "server-wins"
	PolicyLocalWins  = "local-wins"
	PolicyNewest     = "newest"
)

// Executor replays cal.put and cal.delete actions on the CalDAV server.
type Executor struct {
	DB      *store.DB
	Account string
	Remote  hsync.CalendarRemote
	Policy  string // "" means ask
}

// Close implements outbox.Executor; HTTP keeps no session.
func (e *Executor) Close() error { return nil }

func encodeJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // payloads are plain structs
	}
	return b
}

// Execute implements outbox.Executor.
func (e *Executor) Execute(ctx context.Context, row store.OutboxRow) (func(*store.Tx) error, error) {
	var p PutPayload // a DeletePayload has the same fields
	if err := json.Unmarshal(row.Payload, &p); err != nil {
		return nil, hsync.Errorf(hsync.Permanent, "outbox", fmt.Errorf("bad payload: %w", err))
	}
	o, err := e.DB.CalObjectByID(ctx, p.Object)
	if errors.Is(err, store.ErrNotFound) {
		// Gone locally (its calendar was removed, or a conflict applied
		// the server's deletion): nothing left to send.
		return nil, &outbox.Settled{State: store.OutboxCancelled, Err: hsync.Errorf(hsync.Permanent, "outbox", errors.New("the event no longer exists locally"))}
	}
	if err != nil {
		return nil, err
	}
	switch row.Kind {
	case outbox.KindCalPut:
		return e.put(ctx, row, o)
	case outbox.KindCalDelete:
		return e.delete(ctx, row, o)
	}
	return nil, hsync.Errorf(hsync.Permanent, "outbox", fmt.Errorf("kind %q is not a calendar action", row.Kind))
}

func (e *Executor) put(ctx context.Context, row store.OutboxRow, o store.CalObject) (func(*store.Tx) error, error) {
	if o.LocalState == store.CalSynced || o.LocalState == store.CalDeleted {
		return nil, nil // sent by an earlier attempt, or superseded by a deletion queued after it
	}
	cond := hsync.PutCondition{IfMatch: o.ETag, Create: o.ETag == ""}
	etag, err := e.Remote.Put(ctx, o.Href, o.Data, cond)
	if err == nil {
		return e.synced(ctx, o.ID, etag, o.Data), nil
	}
	if hsync.KindOf(err) != hsync.Conflict {
		return nil, err
	}
	server, gone, err := e.serverVersion(ctx, o.Href)
	if err != nil {
		return nil, err
	}
	if cond.Create && !gone && sameUID(server.Data, o.UID) && !sameVersion(o.Data, server.Data) {
		// Our own earlier create reached the server (a kill right after
		// it), but the event was edited here since: the server holds an
		// older version of ours. Marking it synced would lose the edit
		// (the edit's own action would then find nothing to send), so
		// the current version goes up over the one the server has.
		etag, err := e.Remote.Put(ctx, o.Href, o.Data, hsync.PutCondition{IfMatch: server.ETag})
		if err == nil {
			return e.synced(ctx, o.ID, etag, o.Data), nil
		}
		if hsync.KindOf(err) != hsync.Conflict {
			return nil, err
		}
		if server, gone, err = e.serverVersion(ctx, o.Href); err != nil {
			return nil, err
		}
	}
	if !gone && sameVersion(o.Data, server.Data) {
		// An edit whose PUT reached the server before the outcome was
		// recorded (a kill right after it): the server holds exactly our
		// version (servers re-serialise, so it is compared as an event).
		return e.synced(ctx, o.ID, server.ETag, o.Data), nil
	}
	return e.conflict(ctx, row, o, server, gone, func(etag string) (string, error) {
		c := hsync.PutCondition{IfMatch: etag, Create: etag == ""}
		return e.Remote.Put(ctx, o.Href, o.Data, c)
	})
}

func (e *Executor) delete(ctx context.Context, row store.OutboxRow, o store.CalObject) (func(*store.Tx) error, error) {
	if o.LocalState != store.CalDeleted {
		return nil, nil // undone by a conflict resolution: nothing to delete
	}
	remove := func(tx *store.Tx) error { return tx.DeleteCalObject(ctx, o.ID) }
	if o.ETag == "" {
		return remove, nil // never reached the server
	}
	err := e.Remote.Delete(ctx, o.Href, o.ETag)
	if err == nil {
		return remove, nil
	}
	if hsync.KindOf(err) != hsync.Conflict {
		return nil, err
	}
	server, gone, err := e.serverVersion(ctx, o.Href)
	if err != nil {
		return nil, err
	}
	if gone {
		return remove, nil // deleted on both sides
	}
	return e.conflict(ctx, row, o, server, false, func(etag string) (string, error) {
		return "", e.Remote.Delete(ctx, o.Href, etag)
	})
}

// synced records a successful PUT.
func (e *Executor) synced(ctx context.Context, id int64, etag string, sent []byte) func(*store.Tx) error {
	return func(tx *store.Tx) error { return tx.SetCalSynced(ctx, id, etag, sent) }
}

// serverVersion reads the server's current object; gone when it has none.
func (e *Executor) serverVersion(ctx context.Context, href string) (hsync.CalObject, bool, error) {
	obj, err := e.Remote.Get(ctx, href)
	if err == nil {
		return obj, false, nil
	}
	if errors.Is(err, hsync.ErrObjectNotFound) {
		return hsync.CalObject{}, true, nil
	}
	return obj, false, err
}

// sameVersion reports whether two iCalendar objects are the same version
// of the same event: UID, SEQUENCE, LAST-MODIFIED and DTSTAMP (which an
// edit here sets to its own time) and the fields a person edits.
func sameVersion(a, b []byte) bool {
	x, errX := ical.Parse(a)
	y, errY := ical.Parse(b)
	if errX != nil || errY != nil || x.UID == "" {
		return false
	}
	return x.UID == y.UID && x.Sequence == y.Sequence && x.LastModified.Equal(y.LastModified) && x.DTStamp.Equal(y.DTStamp) &&
		x.Summary == y.Summary && x.Location == y.Location && x.Description == y.Description &&
		x.Start.Equal(y.Start) && x.End.Equal(y.End) && x.AllDay == y.AllDay && x.Recurring == y.Recurring
}

func sameUID(data []byte, uid string) bool {
	o, err := ical.Parse(data)
	return err == nil && uid != "" && o.UID == uid
}

// conflict applies the policy to a local change the server refused.
// retry sends the local side again against the server's ETag.
func (e *Executor) conflict(ctx context.Context, row store.OutboxRow, o store.CalObject, server hsync.CalObject, gone bool, retry func(etag string) (string, error)) (func(*store.Tx) error, error) {
	policy := e.Policy
	if policy == "" {
		policy = PolicyAsk
	}
	local := o.Data
	if row.Kind == outbox.KindCalDelete {
		local = nil
	}
	winner := policy
	if policy == PolicyNewest {
		winner = PolicyServerWins
		if newer(local, server.Data) {
			winner = PolicyLocalWins
		}
	}
	rec := store.Conflict{
		Account: e.Account, Kind: "calendar", TargetKey: row.TargetKey, OutboxID: row.ID,
		LocalVersion: local, LocalMeta: meta(o.CalendarID, o.Href, local, o.ETag),
		Policy: policy,
	}
	if !gone {
		rec.RemoteVersion, rec.RemoteMeta = server.Data, meta(o.CalendarID, o.Href, server.Data, server.ETag)
	} else {
		rec.RemoteMeta = meta(o.CalendarID, o.Href, nil, "")
	}
	applyServer := func(tx *store.Tx) error {
		if gone {
			return tx.DeleteCalObject(ctx, o.ID)
		}
		return tx.ApplyServerVersion(ctx, o.ID, server.ETag, server.Data, Fields(server.Data))
	}
	switch winner {
	case PolicyLocalWins:
		etag, err := retry(server.ETag)
		if err != nil {
			// A third change in between (or the server away): try again
			// later; the next attempt meets the conflict anew.
			return nil, hsync.Errorf(hsync.Transient, "calendar conflict", fmt.Errorf("sending the local version again: %w", err))
		}
		rec.Resolution = "local"
		return func(tx *store.Tx) error {
			if _, err := tx.InsertConflict(ctx, rec); err != nil {
				return err
			}
			if row.Kind == outbox.KindCalDelete {
				return tx.DeleteCalObject(ctx, o.ID)
			}
			return tx.SetCalSynced(ctx, o.ID, etag, o.Data)
		}, nil
	case PolicyServerWins:
		rec.Resolution = "remote"
		return nil, &outbox.Settled{State: store.OutboxDone, Err: hsync.Errorf(hsync.Conflict, "calendar", errors.New("the server changed this event too; its version was kept ("+policy+")")),
			Apply: func(tx *store.Tx) error {
				if _, err := tx.InsertConflict(ctx, rec); err != nil {
					return err
				}
				return applyServer(tx)
			}}
	}
	return nil, &outbox.Settled{State: store.OutboxConflict, Err: hsync.Errorf(hsync.Conflict, "calendar", errors.New("the server changed this event too; both versions are kept (holdover conflicts)")),
		Apply: func(tx *store.Tx) error {
			if _, err := tx.InsertConflict(ctx, rec); err != nil {
				return err
			}
			return applyServer(tx)
		}}
}

// newer reports whether the local version is newer than the server's, by
// LAST-MODIFIED, then DTSTAMP, then SEQUENCE. A deletion (nil) has no
// date: it loses to a server edit.
func newer(local, server []byte) bool {
	l, lerr := ical.Parse(local)
	s, serr := ical.Parse(server)
	if lerr != nil || local == nil {
		return false
	}
	if serr != nil || server == nil {
		return true
	}
	for _, pair := range [][2]time.Time{{l.LastModified, s.LastModified}, {l.DTStamp, s.DTStamp}} {
		if !pair[0].Equal(pair[1]) && !pair[0].IsZero() && !pair[1].IsZero() {
			return pair[0].After(pair[1])
		}
	}
	return l.Sequence > s.Sequence
}

// ConflictMeta is the JSON summary of one side of a calendar conflict.
type ConflictMeta struct {
	Calendar int64     `json:"calendar"`
	Href     string    `json:"href"`
	ETag     string    `json:"etag,omitempty"`
	Deleted  bool      `json:"deleted,omitempty"`
	Summary  string    `json:"summary,omitempty"`
	Start    time.Time `json:"start,omitzero"`
	End      time.Time `json:"end,omitzero"`
}

func meta(calendar int64, href string, data []byte, etag string) string {
	m := ConflictMeta{Calendar: calendar, Href: href, ETag: etag, Deleted: data == nil}
	if data != nil {
		f := Fields(data)
		m.Summary, m.Start, m.End = f.Summary, f.Start, f.End
	}
	return string(encodeJSON(m))
}
