package calsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/holdover/holdover/internal/ical"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/outbox"
)

// Writes of a whole iCalendar object at a name a client chose, as a
// CalDAV client makes them (the local CalDAV endpoint). The precondition
// is checked against the local version in the transaction that writes,
// so two clients can never both win; the ETag is the local one
// (LocalETag), which a replay to the provider leaves as it is.

// Precondition is what a client's If-Match / If-None-Match asked for.
type Precondition struct {
	// IfMatch is a local ETag the current version must have, or "*"
	// (any current version); "" asks nothing.
	IfMatch string
	// IfNoneMatch ("*") asks that there be no current version: create
	// only.
	IfNoneMatch bool
}

// Errors of PutAt and DeleteAt, for the caller's status codes.
var (
	ErrPrecondition = errors.New("the event is not in the version the precondition names")
	ErrBadData      = errors.New("the iCalendar data cannot be stored")
	ErrUIDConflict  = errors.New("another event has this UID")
	ErrBusy         = errors.New("the deletion of this event is being sent to the provider; try again in a moment")
)

// LocalETag is the local ETag of an object version: its local change
// count (see store migration 0014).
func LocalETag(seq int64) string { return strconv.FormatInt(seq, 10) }

func (p Precondition) holds(o store.LocalCalObject, exists bool) bool {
	switch {
	case p.IfNoneMatch && exists:
		return false
	case p.IfMatch == "*":
		return exists
	case p.IfMatch != "":
		return exists && p.IfMatch == LocalETag(o.LocalSeq)
	}
	return true
}

// PutAt stores data as the object at href of a calendar: a new object
// (queued as a create) or a new version of the one there (queued as an
// edit, based on the provider's ETag that version came with). It returns
// the new local ETag and whether the object is new. Data that cannot be
// read, or that is not one event with a UID, is refused (ErrBadData); so
// is a UID another object of the account has (ErrUIDConflict), and a
// version that changes the object's UID.
func (l *Local) PutAt(ctx context.Context, calendarID int64, href string, data []byte, cond Precondition) (etag string, created bool, err error) {
	cal, err := l.DB.CalendarByID(ctx, calendarID)
	if err != nil {
		return "", false, err
	}
	o, err := ical.Parse(data)
	if err != nil {
		return "", false, fmt.Errorf("%w: %v", ErrBadData, err)
	}
	if o.UID == "" {
		return "", false, fmt.Errorf("%w: the event has no UID", ErrBadData)
	}
	if len(cal.Components) > 0 && !slices.Contains(cal.Components, o.Kind) {
		return "", false, fmt.Errorf("%w: this calendar holds %s, not %s", ErrBadData, strings.Join(cal.Components, ", "), o.Kind)
	}
	f := Fields(data)
	if f.Bad {
		return "", false, fmt.Errorf("%w: %s", ErrBadData, strings.Join(f.Warnings, "; "))
	}
	same, err := l.DB.CalObjectsByUID(ctx, cal.Account, o.UID)
	if err != nil {
		return "", false, err
	}
	for _, s := range same {
		if s.Href != href && s.LocalState != store.CalDeleted {
			return "", false, fmt.Errorf("%w (%s, in calendar %q)", ErrUIDConflict, s.Href, s.Calendar)
		}
	}
	err = l.DB.Write(ctx, func(tx *store.Tx) error {
		cur, err := tx.LocalCalObjectAtTx(ctx, calendarID, href)
		found := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		exists := found && cur.LocalState != store.CalDeleted
		if !cond.holds(cur, exists) {
			return ErrPrecondition
		}
		if !found {
			created = true
			id, err := tx.InsertLocalObject(ctx, calendarID, href, data, f)
			if err != nil {
				return err
			}
			_, err = tx.EnqueueOutbox(ctx, store.OutboxAction{Account: cal.Account, Kind: outbox.KindCalPut, TargetKey: calKey(id),
				Payload: encodeJSON(PutPayload{Object: id, Href: href})})
			return err
		}
		if exists && cur.UID != "" && cur.UID != o.UID {
			return fmt.Errorf("%w: a new version may not change the UID (%s)", ErrUIDConflict, cur.UID)
		}
		if exists && bytes.Equal(cur.Data, data) {
			return nil // the same version again: nothing to send
		}
		created = !exists
		last, open, err := lastOpen(ctx, tx, cal.Account, cur.ID)
		if err != nil {
			return err
		}
		if !exists && open && last.Kind == outbox.KindCalDelete {
			// A hidden object comes back. Its queued DELETE finds it
			// visible and does nothing, unless it is being sent now.
			if last.State == store.OutboxInflight {
				return ErrBusy
			}
		}
		if err := tx.SetLocalObject(ctx, cur.ID, data, f); err != nil {
			return err
		}
		if open && last.State == store.OutboxPending && last.Kind == outbox.KindCalPut {
			return nil // that PUT will send this data
		}
		_, err = tx.EnqueueOutbox(ctx, store.OutboxAction{Account: cal.Account, Kind: outbox.KindCalPut, TargetKey: calKey(cur.ID),
			Payload: encodeJSON(PutPayload{Object: cur.ID, Href: href}), BaseVersion: cur.ETag})
		return err
	})
	if err != nil {
		return "", false, err
	}
	now, err := l.DB.LocalCalObjectAt(ctx, calendarID, href)
	if err != nil {
		return "", false, err
	}
	l.notify(cal.Account)
	return LocalETag(now.LocalSeq), created, nil
}

// lastOpen is the newest unfinished action on an object, if any.
func lastOpen(ctx context.Context, tx *store.Tx, account string, id int64) (store.OutboxRow, bool, error) {
	last, _, err := tx.LastOpenOutbox(ctx, account, calKey(id))
	if err != nil {
		return last, false, err
	}
	return last, last.ID != 0, nil
}

// DeleteAt hides the object at href of a calendar and queues its
// deletion, as Delete does, if cond holds for it. An object not there
// (or already hidden) is store.ErrNotFound.
func (l *Local) DeleteAt(ctx context.Context, calendarID int64, href string, cond Precondition) error {
	cal, err := l.DB.CalendarByID(ctx, calendarID)
	if err != nil {
		return err
	}
	err = l.DB.Write(ctx, func(tx *store.Tx) error {
		cur, err := tx.LocalCalObjectAtTx(ctx, calendarID, href)
		if err != nil {
			return err
		}
		if cur.LocalState == store.CalDeleted {
			return fmt.Errorf("calendar object %s: %w", href, store.ErrNotFound)
		}
		if !cond.holds(cur, true) {
			return ErrPrecondition
		}
		return queueDelete(ctx, tx, cal.Account, cur.ID, cur.Href, cur.ETag, cur.LocalState)
	})
	if err != nil {
		return err
	}
	l.notify(cal.Account)
	return nil
}
