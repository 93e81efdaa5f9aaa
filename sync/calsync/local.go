package calsync

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/holdover/holdover/internal/ical"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/outbox"
)

// Local is the calendar's local-change API: each change to the store and
// its outbox row commit in one transaction, before the caller is told.
//
// Rules: one target key per object ("cal:<id>"), so its actions replay in
// order; an edit of an object whose newest action is a still-pending PUT
// adds nothing (the PUT sends the data current when it runs: three saves,
// one upload); deleting an object whose create never left the queue
// cancels the create and removes it, with nothing sent.
type Local struct {
	DB     *store.DB
	Notify func(account, service string) // tells the worker (or the daemon) to look
	Now    func() time.Time              // nil: time.Now
}

// ErrNoChange reports an edit that changes nothing.
var ErrNoChange = errors.New("nothing to change")

func (l *Local) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Local) notify(account string) {
	if l.Notify != nil {
		l.Notify(account, "caldav")
	}
}

func calKey(id int64) string { return fmt.Sprintf("cal:%d", id) }

// PutPayload is a cal.put action: send the object's current data.
type PutPayload struct {
	Object int64  `json:"object"`
	Href   string `json:"href"`
}

// DeletePayload is a cal.delete action.
type DeletePayload struct {
	Object int64  `json:"object"`
	Href   string `json:"href"`
}

// Add creates an event in a calendar and queues its creation; it returns
// the new object's id. The UID (new unless ev has one) and the href are
// fixed now.
func (l *Local) Add(ctx context.Context, calendarID int64, ev ical.Event) (int64, error) {
	if ev.UID == "" {
		ev.UID = newUID()
	}
	data, err := ical.NewEvent(ev, l.now())
	if err != nil {
		return 0, err
	}
	return l.create(ctx, calendarID, ev.UID, data)
}

// Import stores an iCalendar file (one event, with its overrides) as a new
// object in a calendar and queues its creation.
func (l *Local) Import(ctx context.Context, calendarID int64, data []byte) (int64, error) {
	o, err := ical.Parse(data)
	if err != nil {
		return 0, err
	}
	if o.UID == "" {
		return 0, errors.New("the event has no UID")
	}
	return l.create(ctx, calendarID, o.UID, data)
}

func (l *Local) create(ctx context.Context, calendarID int64, uid string, data []byte) (int64, error) {
	cal, err := l.DB.CalendarByID(ctx, calendarID)
	if err != nil {
		return 0, err
	}
	if same, err := l.DB.CalObjectsByUID(ctx, cal.Account, uid); err != nil {
		return 0, err
	} else if len(same) > 0 {
		return 0, fmt.Errorf("an event with UID %s exists already (id %d): edit it instead", uid, same[0].ID)
	}
	f := Fields(data)
	if f.Bad {
		return 0, fmt.Errorf("the event cannot be read: %s", strings.Join(f.Warnings, "; "))
	}
	href := cal.Href + hrefName(uid) + ".ics"
	var id int64
	err = l.DB.Write(ctx, func(tx *store.Tx) error {
		var err error
		if id, err = tx.InsertLocalObject(ctx, cal.ID, href, data, f); err != nil {
			return err
		}
		_, err = tx.EnqueueOutbox(ctx, store.OutboxAction{Account: cal.Account, Kind: outbox.KindCalPut, TargetKey: calKey(id),
			Payload: encodeJSON(PutPayload{Object: id, Href: href})})
		return err
	})
	if err != nil {
		return 0, err
	}
	l.notify(cal.Account)
	return id, nil
}

// Edit changes an event and queues the change, based on the ETag the
// stored version came with.
func (l *Local) Edit(ctx context.Context, id int64, ch ical.Change) error {
	o, err := l.DB.CalObjectByID(ctx, id)
	if err != nil {
		return err
	}
	if o.LocalState == store.CalDeleted {
		return fmt.Errorf("event %d is deleted", id)
	}
	if o.Bad {
		return fmt.Errorf("event %d cannot be read, so it cannot be edited here: %s", id, strings.Join(o.Warnings, "; "))
	}
	data, err := ical.Edit(o.Data, ch, l.now())
	if err != nil {
		return err
	}
	f := Fields(data)
	err = l.DB.Write(ctx, func(tx *store.Tx) error {
		if err := tx.SetLocalObject(ctx, id, data, f); err != nil {
			return err
		}
		last, pending, err := tx.LastOpenOutbox(ctx, o.Account, calKey(id))
		if err != nil {
			return err
		}
		if pending && last.Kind == outbox.KindCalPut {
			return nil // that PUT will send this data
		}
		_, err = tx.EnqueueOutbox(ctx, store.OutboxAction{Account: o.Account, Kind: outbox.KindCalPut, TargetKey: calKey(id),
			Payload: encodeJSON(PutPayload{Object: id, Href: o.Href}), BaseVersion: o.ETag})
		return err
	})
	if err != nil {
		return err
	}
	l.notify(o.Account)
	return nil
}

// Delete hides an event at once and queues its deletion.
func (l *Local) Delete(ctx context.Context, id int64) error {
	o, err := l.DB.CalObjectByID(ctx, id)
	if err != nil {
		return err
	}
	if o.LocalState == store.CalDeleted {
		return fmt.Errorf("event %d is already deleted: %w", id, ErrNoChange)
	}
	err = l.DB.Write(ctx, func(tx *store.Tx) error {
		return queueDelete(ctx, tx, o.Account, id, o.Href, o.ETag, o.LocalState)
	})
	if err != nil {
		return err
	}
	l.notify(o.Account)
	return nil
}

// queueDelete hides an object and queues its deletion, in tx.
func queueDelete(ctx context.Context, tx *store.Tx, account string, id int64, href, etag, state string) error {
	last, pending, err := tx.LastOpenOutbox(ctx, account, calKey(id))
	if err != nil {
		return err
	}
	if pending && last.Kind == outbox.KindCalPut {
		// Never sent: the PUT is dropped. A create that never left
		// the queue leaves nothing to delete on the server.
		if err := tx.FinishOutbox(ctx, last.ID, store.OutboxCancelled, "superseded by a local deletion", time.Time{}); err != nil {
			return err
		}
		if state == store.CalCreated {
			return tx.DeleteCalObject(ctx, id)
		}
	}
	if err := tx.MarkCalDeleted(ctx, id); err != nil {
		return err
	}
	_, err = tx.EnqueueOutbox(ctx, store.OutboxAction{Account: account, Kind: outbox.KindCalDelete, TargetKey: calKey(id),
		Payload: encodeJSON(DeletePayload{Object: id, Href: href}), BaseVersion: etag})
	return err
}

// newUID returns a UID that is unique without coordination.
func newUID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "@holdover"
}

// hrefName turns a UID into the last segment of an href: characters that
// are safe in a path segment stay, others are percent-encoded, and a UID
// that would be an odd name ("..", "", a slash, too long) is replaced by
// its SHA-256.
func hrefName(uid string) string {
	if uid == "" || uid == "." || uid == ".." || strings.ContainsAny(uid, "/\\") || len(uid) > 200 {
		sum := sha256.Sum256([]byte(uid))
		return hex.EncodeToString(sum[:])
	}
	return url.PathEscape(uid)
}
